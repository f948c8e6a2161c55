/** FINETUNE_GATE: how a newly trained version is judged before it may answer. */
export type GateMode = 'eval-loss' | 'always';

/** The activation gate: with eval-loss, a new version must not do worse on held-out lines than the active one. */
export function gateDecision(
  gate: GateMode,
  evalLoss: number | undefined,
  active: { metrics: Record<string, unknown> | null; version: number } | undefined,
): { activate: boolean; reason: string } {
  if (gate === 'always') return { activate: true, reason: 'activated (FINETUNE_GATE=always)' };
  if (!active) return { activate: true, reason: 'the first trained version' };
  const previous = active.metrics?.best_eval_loss;
  if (typeof previous !== 'number') return { activate: true, reason: `v${active.version} has no eval loss to compare with` };
  if (evalLoss === undefined) return { activate: false, reason: `no held-out eval loss to compare with v${active.version}'s ${previous.toFixed(3)}` };
  if (evalLoss <= previous) return { activate: true, reason: `eval loss ${evalLoss.toFixed(3)} ≤ v${active.version}'s ${previous.toFixed(3)}` };
  return { activate: false, reason: `eval loss ${evalLoss.toFixed(3)} is worse than active v${active.version}'s ${previous.toFixed(3)}` };
}

/** The eval loss a trained version is judged by: the best seen during training, else the final one. */
export function bestEvalLoss(view: Record<string, number>, file: Record<string, unknown>): number | undefined {
  const candidates = [view.best_eval_loss, file.best_eval_loss, view.final_eval_loss, file.final_eval_loss];
  return candidates.find((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

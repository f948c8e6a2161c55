/** FINETUNE_GATE: how a newly trained version is judged before it may answer. */
export type GateMode = 'eval' | 'eval-loss' | 'always';

/**
 * The activation gate without an evaluation: with eval-loss, a new version must not do worse on
 * held-out lines than the active one (eval mode is evalGateDecision).
 */
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

/** What the evaluation gate reads of a version's evaluation (StyleMetrics plus the trainer's perplexity). */
export interface GateMetrics {
  markers_all: number | null;
  ends_with: number | null;
  forbid_rate: number;
  breaks_rate: number;
  distinct2: number;
  near_duplicate_rate: number;
  /** Perplexity on the persona's frozen evaluation set (null: not measured). */
  perplexity?: number | null;
}

export interface GateMargins {
  /** How many points (of 100) a rate may be worse by. */
  ratePoints: number;
  /** How many percent higher perplexity may be. */
  perplexityPct: number;
}

export const DEFAULT_GATE_MARGINS: GateMargins = { ratePoints: 5, perplexityPct: 3 };

/** The metrics the evaluation gate checks, and which way is better. */
export const GATE_METRICS = [
  { key: 'markers_all', better: 'higher', label: 'all declared markers' },
  { key: 'ends_with', better: 'higher', label: 'the declared ending' },
  { key: 'forbid_rate', better: 'lower', label: 'card-forbid phrases' },
  { key: 'breaks_rate', better: 'lower', label: 'character breaks' },
  { key: 'distinct2', better: 'higher', label: 'distinct-2' },
  { key: 'near_duplicate_rate', better: 'lower', label: 'near-duplicate replies' },
  { key: 'perplexity', better: 'lower', label: 'frozen-set perplexity' },
] as const satisfies readonly { key: keyof GateMetrics; better: 'higher' | 'lower'; label: string }[];

export interface HeldBack {
  metric: (typeof GATE_METRICS)[number]['key'];
  candidate: number;
  reference: number;
  /** How far past the margin: points for rates, percent for perplexity. */
  by: number;
}

/**
 * The evaluation gate: a candidate may answer only if it is not worse than the reference (the
 * active version, or prompt-only when there is none) by more than the margin on any gate metric.
 * Metrics either side lacks (a card that declares no ending, an unmeasured perplexity) are skipped.
 */
export function evalGateDecision(
  candidate: GateMetrics,
  reference: { label: string; metrics: GateMetrics },
  margins: GateMargins = DEFAULT_GATE_MARGINS,
): { activate: boolean; reason: string; heldBack: HeldBack[] } {
  const heldBack: HeldBack[] = [];
  for (const m of GATE_METRICS) {
    const c = candidate[m.key];
    const r = reference.metrics[m.key];
    if (typeof c !== 'number' || typeof r !== 'number' || !Number.isFinite(c) || !Number.isFinite(r)) continue;
    const worse = m.better === 'higher' ? r - c : c - r;
    if (m.key === 'perplexity') {
      const pct = (worse / r) * 100;
      if (pct > margins.perplexityPct) heldBack.push({ metric: m.key, candidate: c, reference: r, by: pct - margins.perplexityPct });
    } else if (worse * 100 > margins.ratePoints) {
      heldBack.push({ metric: m.key, candidate: c, reference: r, by: worse * 100 - margins.ratePoints });
    }
  }
  if (heldBack.length === 0) return { activate: true, reason: `not worse than ${reference.label} on any gate metric`, heldBack };
  const what = heldBack.map((h) => describeHeldBack(h, margins)).join('; ');
  return { activate: false, reason: `held back against ${reference.label}: ${what}`, heldBack };
}

function describeHeldBack(h: HeldBack, margins: GateMargins): string {
  const label = GATE_METRICS.find((m) => m.key === h.metric)!.label;
  if (h.metric === 'perplexity') {
    return `${label} ${h.candidate.toFixed(2)} vs ${h.reference.toFixed(2)} (${(h.by + margins.perplexityPct).toFixed(1)}% higher, margin ${margins.perplexityPct}%)`;
  }
  const pts = (v: number) => `${(v * 100).toFixed(0)}%`;
  return `${label} ${pts(h.candidate)} vs ${pts(h.reference)} (${(h.by + margins.ratePoints).toFixed(1)} points worse, margin ${margins.ratePoints})`;
}

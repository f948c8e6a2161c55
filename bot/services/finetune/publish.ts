import type { Db } from '../../db/client.js';
import type { JobPhase } from '../../db/json-columns.js';
import type { AdapterHost } from '../../inference/ports.js';
import { personaModelName } from '../../inference/ports.js';
import type { PersonaRegistry } from '../../personas/registry.js';
import type { TrainerClient } from '../../trainer/client.js';
import type { PersonaVersion, PersonaVersions } from '../persona-versions.js';
import type { EvaluationMetrics } from '../../db/json-columns.js';
import type { PersonaCard } from '../../personas/card.js';
import type { EvaluationService } from '../evaluation.js';
import { describeMetrics, PROMPT_ONLY } from '../evaluation.js';
import type { GateMargins, GateMode } from './gate.js';
import { bestEvalLoss, evalGateDecision, gateDecision } from './gate.js';
import type { JobRow } from './jobs.js';

export type PublishOutcome =
  | { ok: true; version: PersonaVersion; activated: boolean; gate: string | undefined; phases: Partial<Record<JobPhase, number>> }
  | { ok: false; reason: string };

/**
 * A finished trainer job becomes a persona version: its adapter is published on the model server
 * as `persona-<slug>:v<N>`, the version is recorded, and the gate decides (in the same
 * transaction) whether it answers from now on. Safe to repeat: a version already recorded for
 * the job is kept; otherwise N is the next free number, and publishing a name again replaces it.
 */
export class VersionPublisher {
  constructor(
    private readonly deps: {
      db: Db;
      versions: PersonaVersions;
      personas: PersonaRegistry;
      adapters: AdapterHost;
      gate: GateMode;
      /** The evaluation gate's margins (FINETUNE_GATE=eval). */
      margins?: GateMargins;
      /** Evaluates versions (required by FINETUNE_GATE=eval). */
      evaluation?: Pick<EvaluationService, 'evaluate' | 'record' | 'latestOrEvaluate'>;
      /** The base model prompt-only answers with. */
      defaultBaseModel?: string;
      /** Drops the chat service's cached active model of a persona. */
      invalidateModel(slug: string): void;
    },
  ) {}

  async publish(job: JobRow, trainer: TrainerClient): Promise<PublishOutcome> {
    const progress = job.progress ?? {};
    const phases = { ...progress.phases };
    const recorded = await this.deps.versions.ofJob(job.id);
    if (recorded) return { ok: true, version: recorded, activated: progress.activated ?? false, gate: progress.gate, phases };

    let t = performance.now();
    const view = await trainer.job(job.trainerJobId!);
    const adapterNames = view ? this.deps.adapters.adapterFiles(view.artifacts) : null;
    if (!view || !adapterNames) return { ok: false, reason: 'the trainer no longer has this job’s adapter, so no model could be made from it' };
    const files: Record<string, Buffer> = {};
    for (const name of adapterNames) files[name] = await trainer.artifact(job.trainerJobId!, name);
    const metrics = JSON.parse((await trainer.artifact(job.trainerJobId!, 'metrics.json')).toString('utf8')) as Record<string, unknown>;
    const number = await this.deps.versions.nextNumber(job.personaSlug);
    const model = personaModelName(job.personaSlug, number);
    const card = this.deps.personas.find(job.personaSlug);
    await this.deps.adapters.publish({ name: model, base: job.baseModel, files, defaults: { temperature: card?.model.temperature } });
    phases.ollama_s = seconds(t);

    let evaluated: { candidate: EvaluationMetrics; reference: { label: string; version: number; metrics: EvaluationMetrics } } | undefined;
    if (this.deps.gate === 'eval' && card) {
      t = performance.now();
      evaluated = await this.evaluate(card, job, number, model, metrics);
      phases.evaluation_s = seconds(t);
    }

    t = performance.now();
    const evalLoss = bestEvalLoss(view.metrics, metrics);
    let outcome: { version: PersonaVersion; activated: boolean; gate: string };
    try {
      outcome = await this.deps.db.transaction(async (tx) => {
        const version = await this.deps.versions.insert(
          {
            personaSlug: job.personaSlug,
            version: number,
            servedModel: model,
            baseModel: job.baseModel,
            datasetVersionId: job.datasetVersionId,
            finetuneJobId: job.id,
            hyperparameters: job.hyperparameters,
            metrics: { ...metrics, ...(evalLoss !== undefined ? { best_eval_loss: evalLoss } : {}), ...(evaluated ? { evaluation: evaluated.candidate } : {}) },
          },
          tx,
        );
        const active = await this.deps.versions.active(job.personaSlug, tx);
        const decision =
          evaluated && (active?.version ?? PROMPT_ONLY) === evaluated.reference.version
            ? evalGateDecision(evaluated.candidate, evaluated.reference, this.deps.margins)
            : evaluated
              ? { activate: false, reason: `the active version changed to v${active?.version} while v${number} was evaluated; compare them with /persona eval` }
              : gateDecision(this.deps.gate, evalLoss, active);
        if (decision.activate) await this.deps.versions.setActive(job.personaSlug, version.id, tx);
        const shown = evaluated ? `${decision.reason}. v${number}: ${describeMetrics(evaluated.candidate)}; ${evaluated.reference.label}: ${describeMetrics(evaluated.reference.metrics)}` : decision.reason;
        return { version, activated: decision.activate, gate: shown };
      });
    } catch (err) {
      await this.deps.adapters.remove(model).catch(() => undefined); // no model without its version row
      throw err;
    }
    this.deps.invalidateModel(job.personaSlug);
    phases.activation_s = seconds(t);
    return { ok: true, ...outcome, phases };
  }

  /** Evaluates the candidate, and the reference it must not be worse than (stored evaluations are reused). */
  private async evaluate(card: PersonaCard, job: JobRow, number: number, model: string, trained: Record<string, unknown>) {
    const evaluation = this.deps.evaluation;
    if (!evaluation) throw new Error('FINETUNE_GATE=eval needs the evaluation service');
    const active = await this.deps.versions.active(job.personaSlug);
    const reference = active
      ? { label: `active v${active.version}`, version: active.version, model: active.servedModel }
      : { label: 'prompt-only', version: PROMPT_ONLY, model: card.model.base ?? this.deps.defaultBaseModel ?? job.baseModel };
    const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
    // Frozen-set perplexity (the trainer's): the candidate's, and the reference's on the same lines:
    // the base model's from this very job, or what the active version's job measured.
    const referencePerplexity = active ? num(active.metrics?.frozen_perplexity) : num(trained.frozen_perplexity_base);
    const referenceMetrics = { ...(await evaluation.latestOrEvaluate(card, reference)), perplexity: referencePerplexity };
    const measured = await evaluation.evaluate(card, { version: number, model });
    measured.metrics.perplexity = num(trained.frozen_perplexity);
    const candidate = (await evaluation.record(card, measured)).metrics;
    return { candidate, reference: { label: reference.label, version: reference.version, metrics: referenceMetrics } };
  }
}

export function seconds(since: number): number {
  return Math.round(performance.now() - since) / 1000;
}

import type { Db } from '../../db/client.js';
import type { JobPhase } from '../../db/json-columns.js';
import type { AdapterHost } from '../../inference/ports.js';
import { personaModelName } from '../../inference/ports.js';
import type { PersonaRegistry } from '../../personas/registry.js';
import type { TrainerClient } from '../../trainer/client.js';
import type { PersonaVersion, PersonaVersions } from '../persona-versions.js';
import type { GateMode } from './gate.js';
import { bestEvalLoss, gateDecision } from './gate.js';
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
            metrics: { ...metrics, ...(evalLoss !== undefined ? { best_eval_loss: evalLoss } : {}) },
          },
          tx,
        );
        const active = await this.deps.versions.active(job.personaSlug, tx);
        const decision = gateDecision(this.deps.gate, evalLoss, active);
        if (decision.activate) await this.deps.versions.setActive(job.personaSlug, version.id, tx);
        return { version, activated: decision.activate, gate: decision.reason };
      });
    } catch (err) {
      await this.deps.adapters.remove(model).catch(() => undefined); // no model without its version row
      throw err;
    }
    this.deps.invalidateModel(job.personaSlug);
    phases.activation_s = seconds(t);
    return { ok: true, ...outcome, phases };
  }
}

export function seconds(since: number): number {
  return Math.round(performance.now() - since) / 1000;
}

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import cron from 'node-cron';
import type { Logger } from 'pino';
import { UserFacingError } from '../../core/errors.js';
import type { DatasetStore } from '../../db/dataset-store.js';
import { isTransientDatabaseError } from '../../db/errors.js';
import { DatasetSourceError } from '../../dataset/errors.js';
import { InferenceUnavailableError } from '../../inference/ports.js';
import type { PersonaRegistry } from '../../personas/registry.js';
import type { TrainerClient, TrainerJob } from '../../trainer/client.js';
import { TrainerRejectedError, TrainerUnavailableError } from '../../trainer/client.js';
import type { DatasetService } from '../dataset.js';
import type { JobProgress, JobRepository, JobRow } from './jobs.js';
import { seconds, type VersionPublisher } from './publish.js';
import type { JobStatusMessages } from './status.js';

class AbortError extends Error {
  override name = 'AbortError';
}

/**
 * Drives fine-tuning jobs: one loop per job picks it up in whatever state it is in, so every step
 * is safe to repeat and a restarted bot, a restarted trainer or a lost answer resume where they
 * were (pending → queued/running → converting → an end state). The trainer job is submitted with
 * the bot job's id as Idempotency-Key. A node-cron reconciler picks up open jobs nobody is
 * driving and deletes the trainer's copy of ended jobs.
 */
export class JobDriver {
  private readonly driving = new Map<string, Promise<void>>();
  private readonly stopSignal = new AbortController();
  private reconciler: ReturnType<typeof cron.schedule> | undefined;

  constructor(
    private readonly deps: {
      jobs: JobRepository;
      trainer: TrainerClient;
      personas: PersonaRegistry;
      dataset: Pick<DatasetService, 'build' | 'frozenSet'>;
      datasetStore: DatasetStore;
      publisher: VersionPublisher;
      status: JobStatusMessages;
      pollMs: number;
      reconcileCron: string;
      log?: Logger;
    },
  ) {}

  /** Resumes open jobs now and then on the reconcile schedule. */
  startReconciler(): void {
    if (this.reconciler) return;
    this.reconciler = cron.schedule(this.deps.reconcileCron, () => this.reconcile(), { noOverlap: true, name: 'finetune-reconciler' });
    void this.reconcile();
  }

  async stop(): Promise<void> {
    await this.reconciler?.stop();
    this.reconciler = undefined;
    this.stopSignal.abort();
    await Promise.allSettled([...this.driving.values()]);
  }

  /** Picks up open jobs nobody drives (after a restart, or after the trainer was unreachable); cleans up ended ones. */
  async reconcile(): Promise<void> {
    if (this.stopSignal.signal.aborted) return;
    try {
      for (const id of await this.deps.jobs.openIds()) this.drive(id);
      for (const job of await this.deps.jobs.endedOnTrainer()) await this.cleanUpTrainer(job);
    } catch (err) {
      this.deps.log?.warn({ err }, 'finetune reconcile failed; trying again at the next run');
    }
  }

  /** Resolves when every job this process drives has stopped moving (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.driving.size > 0) await Promise.allSettled([...this.driving.values()]);
  }

  /** Starts driving a job unless this process already does. */
  drive(jobId: string): void {
    if (this.driving.has(jobId)) return;
    const run = this.loop(jobId)
      .catch((err) => this.deps.log?.error({ err, job: jobId }, 'finetune job loop failed; the reconciler retries it'))
      .finally(() => this.driving.delete(jobId));
    this.driving.set(jobId, run);
  }

  /** Ends a job as failed, saying why, and deletes the trainer's copy. */
  async fail(job: JobRow, reason: string): Promise<void> {
    const failed = await this.deps.jobs.update(job.id, { status: 'failed', error: reason, finishedAt: new Date(), progress: { ...job.progress, note: undefined } });
    this.deps.log?.warn({ job: job.id, reason }, 'finetune job failed');
    await this.deps.status.finish(failed);
    await this.cleanUpTrainer(failed);
  }

  /** Deletes the trainer's copy of an ended job (DESIGN, Data lifecycle); retried by the reconciler. */
  async cleanUpTrainer(job: JobRow): Promise<void> {
    if (!job.trainerJobId) return;
    try {
      await this.deps.trainer.delete(job.trainerJobId);
      await this.deps.jobs.markTrainerCleaned(job.id);
    } catch (err) {
      this.deps.log?.warn({ job: job.id, err: (err as Error).message }, 'could not delete the trainer’s copy of the job yet; the reconciler retries');
    }
  }

  private async loop(jobId: string): Promise<void> {
    for (;;) {
      if (this.stopSignal.signal.aborted) return;
      const job = await this.deps.jobs.load(jobId);
      try {
        if (job.status === 'pending') await this.submit(job);
        else if (job.status === 'queued' || job.status === 'running') await this.follow(job);
        else if (job.status === 'converting') await this.publish(job);
        else return;
      } catch (err) {
        if (err instanceof TrainerUnavailableError || err instanceof InferenceUnavailableError) {
          // Left as it is: the reconciler tries again on its next run.
          await this.note(job.id, `${err instanceof TrainerUnavailableError ? 'The trainer' : 'The model server'} is not answering; trying again every 30 s.`);
          this.deps.log?.warn({ job: jobId, err: err.message }, 'finetune job waits for a service');
          return;
        }
        if (isTransientDatabaseError(err)) {
          // A database hiccup: the trainer keeps training, and the reconciler drives the job again once the database answers.
          this.deps.log?.warn({ job: jobId, err }, 'finetune job waits for the database');
          return;
        }
        if (err instanceof AbortError || this.stopSignal.signal.aborted) return;
        // Anything else will not get better by retrying every 30 s: the job ends, saying why. The reason is shown in the
        // channel, so an unexpected error is named by a reference into the log, never by its text (SQL, stack…).
        const ref = randomUUID().slice(0, 8);
        this.deps.log?.error({ err, job: jobId, status: job.status, ref }, 'finetune job failed unexpectedly');
        const doing = job.status === 'converting' ? 'publishing the model' : job.status === 'pending' ? 'preparing the job' : 'following the job';
        const reason = err instanceof UserFacingError ? err.message : `an unexpected error while ${doing} (the bot's log has it as ref ${ref})`;
        await this.fail(await this.deps.jobs.load(jobId), reason);
        return;
      }
    }
  }

  /** Whether the trainer reports a GPU (then the bigger teacher dataset is built); false when it cannot be asked. */
  private async trainerHasGpu(): Promise<boolean> {
    try {
      const h = await this.deps.trainer.health();
      return h.device !== 'cpu' && h.device !== '';
    } catch {
      return false;
    }
  }

  /** pending → queued: snapshot the dataset (once), send it to the trainer. */
  private async submit(job: JobRow): Promise<void> {
    const card = this.deps.personas.find(job.personaSlug);
    if (!card) return void (await this.fail(job, `the persona card "${job.personaSlug}" is no longer loaded`));
    let datasetVersionId = job.datasetVersionId;
    const phases = { ...job.progress?.phases };
    let t = performance.now();
    if (datasetVersionId === null) {
      await this.note(job.id, 'Building the dataset…');
      try {
        const gpu = await this.trainerHasGpu();
        let lastNote = performance.now();
        let notes = Promise.resolve();
        // The chat logs of the server that started the job, and no other's.
        const build = await this.deps.dataset.build(card, { guildId: job.guildId }, {
          gpu,
          onProgress: (p) => {
            // Generating teacher dialogues takes minutes on a CPU: show how far it is, every few seconds.
            if (p.total === undefined || performance.now() - lastNote < 5000) return;
            lastNote = performance.now();
            const text = `Building the dataset: ${p.phase} ${p.done}/${p.total}…`;
            notes = notes.then(() => this.note(job.id, text)).catch(() => {}); // in order, and done before the next note
          },
        });
        await notes;
        datasetVersionId = build.versionId;
        build.close(); // the stored snapshot is what the job sends
      } catch (err) {
        if (err instanceof DatasetSourceError) return void (await this.fail(job, `the dataset could not be built: ${err.message}`));
        throw err;
      }
      if (datasetVersionId === null) throw new Error('the dataset build was not stored');
      phases.dataset_s = seconds(t);
      await this.deps.jobs.update(job.id, { datasetVersionId });
    }
    let frozen: unknown[];
    const tFrozen = performance.now();
    try {
      frozen = await this.deps.dataset.frozenSet(card); // made once, at the persona's first job
      phases.dataset_s = Math.round(((phases.dataset_s ?? 0) + seconds(tFrozen)) * 1000) / 1000;
    } catch (err) {
      if (err instanceof DatasetSourceError) return void (await this.fail(job, `the frozen evaluation set could not be made: ${err.message}`));
      throw err;
    }
    t = performance.now();
    const lines = await this.deps.datasetStore.readLines(datasetVersionId);
    const dataset = { train: [] as unknown[], eval: [] as unknown[], frozen, frozen_ending: card.markers.ends_with ?? null };
    for (const l of lines) dataset[l.split].push(JSON.parse(l.json));
    if (dataset.train.length === 0) {
      return void (await this.fail(job, `the dataset of ${card.name} has no training lines: give the card example dialogues or lore (or enable chat-log training)`));
    }
    await this.note(job.id, 'Sending the job to the trainer…', { datasetLines: { train: dataset.train.length, eval: dataset.eval.length }, phases });
    if ((await this.deps.jobs.load(job.id)).status !== 'pending') return; // cancelled while the dataset was built
    let created;
    try {
      const restarts = job.progress?.restarts ?? 0;
      created = await this.deps.trainer.submit(
        { persona: job.personaSlug, base_model: job.baseModel, hyperparameters: job.hyperparameters, dataset },
        // The idempotency key: a resubmission after a lost answer gets the same trainer job (a restart, a new one).
        restarts ? `${job.id}:${restarts}` : job.id,
      );
    } catch (err) {
      if (err instanceof TrainerRejectedError) return void (await this.fail(job, err.message));
      throw err;
    }
    const progress = (await this.deps.jobs.load(job.id)).progress;
    const queued = await this.deps.jobs.transition(job.id, 'pending', {
      status: 'queued',
      trainerJobId: created.id,
      progress: { ...progress, note: undefined, phases: { ...phases, submit_s: seconds(t) }, submittedAt: Date.now() },
    });
    if (!queued) {
      // Cancelled while the dataset was built or sent: stop the trainer's job too.
      await this.deps.jobs.update(job.id, { trainerJobId: created.id });
      await this.deps.trainer.cancel(created.id).catch(() => undefined);
      await this.cleanUpTrainer({ ...job, trainerJobId: created.id });
    }
  }

  /**
   * Whether a forget or a server purge removed lines of the job's snapshot after they were read
   * to be sent: the trainer's copy, or the adapter trained on it, may hold erased words.
   */
  private async redactedSinceSent(job: JobRow): Promise<boolean> {
    const sent = job.progress?.datasetLines;
    if (job.datasetVersionId === null || !sent) return false;
    return (await this.deps.datasetStore.lineCount(job.datasetVersionId)) < sent.train + sent.eval;
  }

  /**
   * Takes the job back from the trainer (its copy of the dataset and anything trained on it are
   * deleted there) and starts it again from the redacted snapshot. When the job moved meanwhile
   * (cancelled), nothing changes here and the loop follows its new state.
   */
  private async restartWithoutErased(job: JobRow): Promise<void> {
    if (job.trainerJobId) await this.deps.trainer.delete(job.trainerJobId); // unreachable: throws, and the next pass tries again
    const restarts = (job.progress?.restarts ?? 0) + 1;
    const note = 'A member’s data was erased while this job was on the trainer: the trainer’s copy was deleted, and the job starts again without it.';
    const restarted = await this.deps.jobs.transition(job.id, job.status, { status: 'pending', trainerJobId: null, progress: { ...job.progress, restarts, note, step: 0, submittedAt: undefined } });
    this.deps.log?.info({ job: job.id, restarts }, 'finetune job restarted without erased data');
    if (restarted) await this.deps.status.refresh(restarted);
  }

  /** queued/running: mirror the trainer's progress until the job ends there. */
  private async follow(job: JobRow): Promise<void> {
    const trainerJobId = job.trainerJobId!;
    let after = await this.deps.jobs.lastEventSeq(job.id);
    for (;;) {
      if (await this.redactedSinceSent(job)) return void (await this.restartWithoutErased(job));
      const view = await this.deps.trainer.job(trainerJobId);
      if (!view) return void (await this.fail(job, 'the trainer no longer has this job (its job store was lost or the job was deleted there)'));
      const events = await this.deps.trainer.events(trainerJobId, after);
      if (events.length > 0) {
        await this.deps.jobs.addEvents(job.id, events);
        after = events.at(-1)!.seq;
      }
      const progress: JobProgress = { ...job.progress, ...progressOf(view), note: undefined };
      if (view.status === 'queued' || view.status === 'running') {
        job = await this.deps.jobs.update(job.id, { status: view.status, progress });
        await this.deps.status.refresh(job);
        await sleep(this.deps.pollMs, undefined, { signal: this.stopSignal.signal }).catch(() => {
          throw new AbortError();
        });
        continue;
      }
      if (view.status === 'succeeded') {
        const phases = { ...progress.phases, ...(progress.submittedAt ? { trainer_s: (Date.now() - progress.submittedAt) / 1000 } : {}) };
        const converting = await this.deps.jobs.update(job.id, { status: 'converting', progress: { ...progress, phases, note: 'Training finished; publishing the model…' } });
        await this.deps.status.refresh(converting);
        return;
      }
      const ended = await this.deps.jobs.update(job.id, {
        status: view.status,
        progress,
        error: view.status === 'failed' ? (view.error ?? 'the trainer reported a failure without a reason') : null,
        finishedAt: new Date(),
      });
      await this.deps.status.finish(ended);
      await this.cleanUpTrainer(ended);
      return;
    }
  }

  /** converting → succeeded: the adapter becomes a persona version (VersionPublisher). */
  private async publish(job: JobRow): Promise<void> {
    // Trained on lines erased since: not published; trained again without them.
    if (await this.redactedSinceSent(job)) return void (await this.restartWithoutErased(job));
    const outcome = await this.deps.publisher.publish(job, this.deps.trainer);
    if (!outcome.ok) return void (await this.fail(job, outcome.reason));
    const { version, activated, gate, phases } = outcome;
    const done = await this.deps.jobs.update(job.id, {
      status: 'succeeded',
      personaVersionId: version.id,
      finishedAt: new Date(),
      progress: { ...job.progress, note: undefined, model: version.servedModel, version: version.version, activated, gate, phases },
    });
    await this.deps.status.finish(done);
    await this.cleanUpTrainer(done);
  }

  /** Shows a passing condition in the status message (and /finetune status). */
  private async note(id: string, note: string, extra: Partial<JobProgress> = {}): Promise<void> {
    const updated = await this.deps.jobs.mergeProgress(id, { ...extra, note });
    await this.deps.status.refresh(updated);
  }
}

function progressOf(view: TrainerJob): JobProgress {
  const m = view.metrics;
  return {
    step: view.progress.step,
    totalSteps: view.progress.total_steps ?? null,
    etaS: view.progress.eta_s ?? null,
    ...(m.loss !== undefined ? { loss: m.loss } : {}),
    ...(m.eval_loss !== undefined ? { evalLoss: m.eval_loss } : {}),
    ...(m.best_eval_loss !== undefined ? { bestEvalLoss: m.best_eval_loss } : {}),
    ...(m.initial_eval_loss !== undefined ? { initialEvalLoss: m.initial_eval_loss } : {}),
    ...(m.tokens_per_s !== undefined ? { tokensPerS: m.tokens_per_s } : {}),
  };
}

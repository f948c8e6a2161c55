import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { and, asc, desc, eq, inArray, isNotNull, isNull, max, sql } from 'drizzle-orm';
import cron from 'node-cron';
import type { Logger } from 'pino';
import type { PersonaCard } from '../personas/card.js';
import type { DatasetService } from '../dataset/build.js';
import { DatasetSourceError } from '../dataset/build.js';
import { ConfigError } from '../config.js';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { DatasetStore } from '../db/dataset-store.js';
import { finetuneJobEvents, finetuneJobs, personas, personaVersions } from '../db/schema.js';
import type { KeyRing } from '../crypto/keyring.js';
import type { OllamaClient } from '../inference/ollama.js';
import { InferenceUnavailableError } from '../inference/ollama.js';
import type { TrainerClient, TrainerEvent, TrainerJob } from '../trainer/client.js';
import { TrainerRejectedError, TrainerUnavailableError } from '../trainer/client.js';
import { trainerValidator } from '../trainer/contract.js';
import { UserFacingError, ValidationError } from '../core/errors.js';
import { renderLossCurvePng } from './loss-curve.js';
import type { PersonaRegistry } from '../personas/registry.js';

export type JobRow = typeof finetuneJobs.$inferSelect;
type JobStatus = JobRow['status'];

const OPEN: JobStatus[] = ['pending', 'queued', 'running', 'converting'];
const PRESETS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../trainer/presets');

/** What a job's status message shows; kept in finetune_jobs.progress. */
export interface JobProgress {
  step?: number;
  totalSteps?: number | null;
  loss?: number;
  evalLoss?: number;
  bestEvalLoss?: number;
  initialEvalLoss?: number;
  tokensPerS?: number;
  etaS?: number | null;
  datasetLines?: { train: number; eval: number };
  /** A passing condition worth showing (waiting for the trainer, model server down...). */
  note?: string;
  model?: string;
  version?: number;
  activated?: boolean;
  gate?: string;
  /** Seconds spent per phase, measured by the bot (where time goes: the finetune benchmark reads these). */
  phases?: Partial<Record<'dataset_s' | 'submit_s' | 'trainer_s' | 'ollama_s' | 'activation_s', number>>;
  /** When the trainer accepted the job (ms since the epoch). */
  submittedAt?: number;
}

/** Where a job's live status message goes: a channel message in Discord, lines in the console. */
export interface StatusBoard {
  /** Posts a new message; resolves with its id. */
  post(channelId: string, text: string): Promise<string>;
  edit(channelId: string, messageId: string, text: string, files?: { name: string; data: Buffer }[]): Promise<void>;
}

export interface FinetuneOptions {
  epochs?: number;
  learning_rate?: number;
  rank?: number;
  base_model?: string;
}

export interface FinetuneDeps {
  db: Db;
  keys: KeyRing;
  personas: PersonaRegistry;
  dataset: Pick<DatasetService, 'build'>;
  llm: Pick<OllamaClient, 'hasModel' | 'createAdapterModel' | 'deleteModel'>;
  /** Null when TRAINER_URL is not set: /finetune then says how to configure it. */
  trainer: TrainerClient | null;
  /** Drops the chat service's cached active model of a persona. */
  invalidateModel(slug: string): void;
  settings: Config['finetune'] & { defaultBaseModel: string };
  log?: Logger;
}

/**
 * /finetune end to end: a dataset snapshot becomes a trainer job, the job's progress is mirrored
 * into a live status message, and a finished adapter becomes the Ollama model
 * `persona-<slug>:v<N>`, recorded as a persona version and (gate permitting) made active.
 *
 * The bot's database is the source of truth. Each job is driven by one loop that can pick it up
 * in any state (pending → queued/running → converting → an end state), so a restarted bot, a
 * restarted trainer or a lost answer resume where they were: the trainer job is submitted with
 * the bot job's id as Idempotency-Key, and publishing a version is safe to repeat. A node-cron
 * reconciler picks up open jobs nobody is driving and deletes the trainer's copy of ended jobs.
 */
export class FinetuneService {
  private readonly driving = new Map<string, Promise<void>>();
  private readonly messages = new Map<string, ThrottledStatus>();
  private readonly stopSignal = new AbortController();
  private readonly hyperparameters: Record<string, unknown>;
  private readonly datasetStore: DatasetStore;
  private reconciler: ReturnType<typeof cron.schedule> | undefined;
  private board: StatusBoard | undefined;

  constructor(private readonly deps: FinetuneDeps) {
    this.hyperparameters = loadHyperparameterDefaults(deps.settings.preset, deps.settings.hyperparameters);
    this.datasetStore = new DatasetStore(deps.db, deps.keys);
  }

  get configured(): boolean {
    return this.deps.trainer !== null;
  }

  /** The transport's status board (Discord channel messages, console lines). */
  attachBoard(board: StatusBoard): void {
    this.board = board;
  }

  /** Resumes open jobs now and then on FINETUNE_RECONCILE_CRON. */
  startReconciler(): void {
    if (this.reconciler || !this.deps.trainer) return;
    if (!cron.validate(this.deps.settings.reconcileCron)) throw new ConfigError([`FINETUNE_RECONCILE_CRON: "${this.deps.settings.reconcileCron}" is not a valid cron expression`]);
    this.reconciler = cron.schedule(this.deps.settings.reconcileCron, () => this.reconcile(), { noOverlap: true, name: 'finetune-reconciler' });
    void this.reconcile();
  }

  async stop(): Promise<void> {
    await this.reconciler?.stop();
    this.reconciler = undefined;
    this.stopSignal.abort();
    await Promise.allSettled([...this.driving.values()]);
    await Promise.allSettled([...this.messages.values()].map((m) => m.flush()));
  }

  /**
   * Validates the options, records the job (one open job per persona: a second start is refused
   * with the open job's id) and starts driving it. Answers fast: the dataset build and the
   * submission happen in the background, shown in the status message.
   */
  async start(input: { card: PersonaCard; options: FinetuneOptions; guildId: string | null; channelId: string }): Promise<JobRow> {
    const trainer = this.requireTrainer();
    const { card, options } = input;
    const baseModel = (options.base_model ?? card.model.base ?? this.deps.settings.defaultBaseModel).trim();
    if (!/^[\w.\-/:]{1,100}$/.test(baseModel)) throw new ValidationError('base_model', 'expected a model name such as smollm2-135m');
    const hyperparameters = this.hyperparametersFor(options);
    const open = await this.openJob(card.slug);
    if (open) throw alreadyOpen(card.name, open);
    // Refuse now, not minutes later, when a part the job needs is missing.
    await trainer.health();
    if (!(await this.deps.llm.hasModel(baseModel))) {
      throw new ValidationError('base_model', `the model server has no model "${baseModel}" to put the adapter on (an admin can run \`npm run setup\`)`);
    }
    let job: JobRow;
    try {
      [job] = (await this.deps.db
        .insert(finetuneJobs)
        .values({ personaSlug: card.slug, baseModel, hyperparameters, guildId: input.guildId, channelId: input.channelId, progress: {} })
        .returning()) as [JobRow];
    } catch (err) {
      const raced = await this.openJob(card.slug);
      if (raced) throw alreadyOpen(card.name, raced); // a double click: the other one won the unique index
      throw err;
    }
    await this.postStatus(job);
    this.drive(job.id);
    return job;
  }

  /** Cancels a job: at once when not yet submitted, otherwise after the trainer's current step. */
  async cancel(ref: string): Promise<{ job: JobRow; message: string }> {
    const job = await this.find(ref);
    if (!OPEN.includes(job.status)) throw new UserFacingError(`Job ${shortId(job.id)} has already ${job.status === 'pending' ? 'started' : job.status}.`);
    if (job.status === 'converting') throw new UserFacingError(`Job ${shortId(job.id)} has finished training and its model is being published; it cannot be cancelled now.`);
    if (job.status === 'pending') {
      const [cancelled] = await this.deps.db
        .update(finetuneJobs)
        .set({ status: 'cancelled', error: 'cancelled before it reached the trainer', finishedAt: new Date(), updatedAt: new Date() })
        .where(and(eq(finetuneJobs.id, job.id), eq(finetuneJobs.status, 'pending')))
        .returning();
      if (cancelled) {
        await this.finishStatus(cancelled);
        return { job: cancelled, message: `Job ${shortId(job.id)} is cancelled.` };
      }
      return this.cancel(job.id); // it was submitted meanwhile: cancel it on the trainer
    }
    const answer = await this.requireTrainer().cancel(job.trainerJobId!);
    return {
      job,
      message: answer === 'ended' ? `Job ${shortId(job.id)} had already finished on the trainer; its status updates in a moment.` : `Cancelling job ${shortId(job.id)}: it stops after the current training step.`,
    };
  }

  /** The job with this id (or id prefix), or the most recent one. */
  async find(ref?: string): Promise<JobRow> {
    if (ref === undefined) {
      const [latest] = await this.deps.db.select().from(finetuneJobs).orderBy(desc(finetuneJobs.createdAt)).limit(1);
      if (!latest) throw new UserFacingError('No training jobs yet. Start one with `/finetune start persona:`.');
      return latest;
    }
    const prefix = ref.trim().toLowerCase();
    if (!/^[0-9a-f-]{4,36}$/.test(prefix)) throw new ValidationError('job', 'expected a job id (the 8 characters shown by /finetune list)');
    const rows = await this.deps.db
      .select()
      .from(finetuneJobs)
      .where(sql`${finetuneJobs.id}::text like ${`${prefix}%`}`)
      .limit(2);
    if (rows.length === 0) throw new UserFacingError(`There is no training job ${prefix}. \`/finetune list\` shows the recent ones.`);
    if (rows.length > 1) throw new ValidationError('job', `${prefix} matches more than one job: give more characters`);
    return rows[0]!;
  }

  async list(limit = 10): Promise<JobRow[]> {
    return this.deps.db.select().from(finetuneJobs).orderBy(desc(finetuneJobs.createdAt)).limit(limit);
  }

  /** A job's status text (the status message and /finetune status show the same). */
  describe(job: JobRow): string {
    return describeJob(job, this.deps.personas.find(job.personaSlug)?.name ?? job.personaSlug);
  }

  /** Makes a version of a persona the active one (a rollback, or a version the gate held back). */
  async activate(card: PersonaCard, version: number): Promise<typeof personaVersions.$inferSelect> {
    const [row] = await this.deps.db
      .select()
      .from(personaVersions)
      .where(and(eq(personaVersions.personaSlug, card.slug), eq(personaVersions.version, version)));
    if (!row) {
      const known = await this.deps.db.select({ v: personaVersions.version }).from(personaVersions).where(eq(personaVersions.personaSlug, card.slug)).orderBy(asc(personaVersions.version));
      throw new ValidationError('version', `${card.name} has no version ${version} (versions: ${known.map((k) => `v${k.v}`).join(', ') || 'none yet'})`);
    }
    if (!(await this.deps.llm.hasModel(row.ollamaModel))) {
      throw new UserFacingError(`The model ${row.ollamaModel} of ${card.name} v${version} is no longer in the model server, so it cannot be made active.`);
    }
    await this.deps.db.update(personas).set({ activeVersionId: row.id, updatedAt: new Date() }).where(eq(personas.slug, card.slug));
    this.deps.invalidateModel(card.slug);
    return row;
  }

  /** Picks up open jobs nobody drives (after a restart, or after the trainer was unreachable); cleans up ended ones. */
  async reconcile(): Promise<void> {
    if (!this.deps.trainer || this.stopSignal.signal.aborted) return;
    try {
      const open = await this.deps.db.select({ id: finetuneJobs.id }).from(finetuneJobs).where(inArray(finetuneJobs.status, OPEN));
      for (const { id } of open) this.drive(id);
      const ended = await this.deps.db
        .select()
        .from(finetuneJobs)
        .where(and(inArray(finetuneJobs.status, ['succeeded', 'failed', 'cancelled']), isNotNull(finetuneJobs.trainerJobId), isNull(finetuneJobs.trainerCleanedAt)));
      for (const job of ended) await this.cleanUpTrainer(job);
    } catch (err) {
      this.deps.log?.warn({ err }, 'finetune reconcile failed; trying again at the next run');
    }
  }

  /** Resolves when every job this process drives has stopped moving (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.driving.size > 0) await Promise.allSettled([...this.driving.values()]);
  }

  // --- the job loop -------------------------------------------------------------------------

  /** Starts driving a job unless this process already does. */
  private drive(jobId: string): void {
    if (this.driving.has(jobId)) return;
    const run = this.loop(jobId)
      .catch((err) => this.deps.log?.error({ err, job: jobId }, 'finetune job loop failed; the reconciler retries it'))
      .finally(() => this.driving.delete(jobId));
    this.driving.set(jobId, run);
  }

  private async loop(jobId: string): Promise<void> {
    for (;;) {
      if (this.stopSignal.signal.aborted) return;
      const job = await this.load(jobId);
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
        if (err instanceof AbortError || this.stopSignal.signal.aborted) return;
        // Anything else will not get better by retrying every 30 s: the job ends, saying why.
        this.deps.log?.error({ err, job: jobId, status: job.status }, 'finetune job failed unexpectedly');
        const reason = err instanceof UserFacingError ? err.message : `an unexpected error while ${job.status === 'converting' ? 'publishing the model' : job.status === 'pending' ? 'preparing the job' : 'following the job'} (${(err as Error).message})`;
        await this.fail(await this.load(jobId), reason);
        return;
      }
    }
  }

  /** pending → queued: snapshot the dataset (once), send it to the trainer. */
  private async submit(job: JobRow): Promise<void> {
    const trainer = this.requireTrainer();
    const card = this.deps.personas.find(job.personaSlug);
    if (!card) return void (await this.fail(job, `the persona card "${job.personaSlug}" is no longer loaded`));
    let datasetVersionId = job.datasetVersionId;
    const phases = { ...(job.progress as JobProgress).phases };
    let t = performance.now();
    if (datasetVersionId === null) {
      await this.note(job.id, 'Building the dataset…');
      try {
        const build = await this.deps.dataset.build(card);
        datasetVersionId = build.versionId;
        build.close(); // the stored snapshot is what the job sends
      } catch (err) {
        if (err instanceof DatasetSourceError) return void (await this.fail(job, `the dataset could not be built: ${err.message}`));
        throw err;
      }
      if (datasetVersionId === null) throw new Error('the dataset build was not stored');
      phases.dataset_s = seconds(t);
      await this.deps.db.update(finetuneJobs).set({ datasetVersionId, updatedAt: new Date() }).where(eq(finetuneJobs.id, job.id));
    }
    t = performance.now();
    const lines = await this.datasetStore.readLines(datasetVersionId);
    const dataset = { train: [] as unknown[], eval: [] as unknown[] };
    for (const l of lines) dataset[l.split].push(JSON.parse(l.json));
    if (dataset.train.length === 0) {
      return void (await this.fail(job, `the dataset of ${card.name} has no training lines: give the card example dialogues or lore (or enable chat-log training)`));
    }
    await this.note(job.id, 'Sending the job to the trainer…', { datasetLines: { train: dataset.train.length, eval: dataset.eval.length }, phases });
    if ((await this.load(job.id)).status !== 'pending') return; // cancelled while the dataset was built
    let created;
    try {
      created = await trainer.submit(
        { persona: job.personaSlug, base_model: job.baseModel, hyperparameters: job.hyperparameters, dataset },
        job.id, // the idempotency key: a resubmission after a lost answer gets the same trainer job
      );
    } catch (err) {
      if (err instanceof TrainerRejectedError) return void (await this.fail(job, err.message));
      throw err;
    }
    const progress = (await this.load(job.id)).progress as JobProgress;
    const [queued] = await this.deps.db
      .update(finetuneJobs)
      .set({ status: 'queued', trainerJobId: created.id, updatedAt: new Date(), progress: { ...progress, note: undefined, phases: { ...phases, submit_s: seconds(t) }, submittedAt: Date.now() } })
      .where(and(eq(finetuneJobs.id, job.id), eq(finetuneJobs.status, 'pending')))
      .returning();
    if (!queued) {
      // Cancelled while the dataset was built or sent: stop the trainer's job too.
      await this.deps.db.update(finetuneJobs).set({ trainerJobId: created.id }).where(eq(finetuneJobs.id, job.id));
      await trainer.cancel(created.id).catch(() => undefined);
      await this.cleanUpTrainer({ ...job, trainerJobId: created.id });
    }
  }

  /** queued/running: mirror the trainer's progress until the job ends there. */
  private async follow(job: JobRow): Promise<void> {
    const trainer = this.requireTrainer();
    const trainerJobId = job.trainerJobId!;
    let after = await this.lastEventSeq(job.id);
    for (;;) {
      const view = await trainer.job(trainerJobId);
      if (!view) return void (await this.fail(job, 'the trainer no longer has this job (its job store was lost or the job was deleted there)'));
      const events = await trainer.events(trainerJobId, after);
      if (events.length > 0) {
        await this.deps.db
          .insert(finetuneJobEvents)
          .values(events.map((e) => ({ jobId: job.id, seq: e.seq, event: e as unknown as Record<string, unknown> })))
          .onConflictDoNothing();
        after = events.at(-1)!.seq;
      }
      const progress = { ...(job.progress as JobProgress), ...progressOf(view), note: undefined };
      if (view.status === 'queued' || view.status === 'running') {
        job = await this.update(job.id, { status: view.status, progress });
        await this.refreshStatus(job);
        await sleep(this.deps.settings.pollMs, undefined, { signal: this.stopSignal.signal }).catch(() => {
          throw new AbortError();
        });
        continue;
      }
      if (view.status === 'succeeded') {
        const phases = { ...progress.phases, ...(progress.submittedAt ? { trainer_s: (Date.now() - progress.submittedAt) / 1000 } : {}) };
        await this.update(job.id, { status: 'converting', progress: { ...progress, phases, note: 'Training finished; publishing the model…' } });
        await this.refreshStatus(await this.load(job.id));
        return;
      }
      const ended = await this.update(job.id, {
        status: view.status,
        progress,
        error: view.status === 'failed' ? (view.error ?? 'the trainer reported a failure without a reason') : null,
        finishedAt: new Date(),
      });
      await this.finishStatus(ended);
      await this.cleanUpTrainer(ended);
      return;
    }
  }

  /**
   * converting → succeeded: the adapter becomes `persona-<slug>:v<N>` in Ollama, recorded as a
   * version and, gate permitting, made active. Safe to repeat: a version already recorded for the
   * job is kept; otherwise N is the next free number and creating the model again replaces it.
   */
  private async publish(job: JobRow): Promise<void> {
    const trainer = this.requireTrainer();
    let [version] = await this.deps.db.select().from(personaVersions).where(eq(personaVersions.finetuneJobId, job.id));
    let activated = (job.progress as JobProgress).activated ?? false;
    let gate = (job.progress as JobProgress).gate;
    const phases = { ...(job.progress as JobProgress).phases };
    if (!version) {
      let t = performance.now();
      const view = await trainer.job(job.trainerJobId!);
      const adapterNames = view ? adapterArtifacts(view.artifacts) : null;
      if (!view || !adapterNames) {
        return void (await this.fail(job, 'the trainer no longer has this job’s adapter, so no model could be made from it'));
      }
      const files: Record<string, Buffer> = {};
      for (const name of adapterNames) files[name] = await trainer.artifact(job.trainerJobId!, name);
      const metrics = JSON.parse((await trainer.artifact(job.trainerJobId!, 'metrics.json')).toString('utf8')) as Record<string, unknown>;
      const [{ latest } = { latest: 0 }] = await this.deps.db
        .select({ latest: max(personaVersions.version) })
        .from(personaVersions)
        .where(eq(personaVersions.personaSlug, job.personaSlug));
      const number = (latest ?? 0) + 1;
      const model = `persona-${job.personaSlug}:v${number}`;
      const card = this.deps.personas.find(job.personaSlug);
      await this.deps.llm.createAdapterModel({
        name: model,
        base: job.baseModel,
        files,
        parameters: card?.model.temperature !== undefined ? { temperature: card.model.temperature } : undefined,
      });
      phases.ollama_s = seconds(t);
      t = performance.now();
      const evalLoss = bestEvalLoss(view.metrics, metrics);
      try {
        ({ version, activated, gate } = await this.deps.db.transaction(async (tx) => {
          const [row] = await tx
            .insert(personaVersions)
            .values({
              personaSlug: job.personaSlug,
              version: number,
              ollamaModel: model,
              baseModel: job.baseModel,
              datasetVersionId: job.datasetVersionId,
              finetuneJobId: job.id,
              hyperparameters: job.hyperparameters,
              metrics: { ...metrics, ...(evalLoss !== undefined ? { best_eval_loss: evalLoss } : {}) },
            })
            .returning();
          const [active] = await tx
            .select({ metrics: personaVersions.metrics, version: personaVersions.version })
            .from(personas)
            .innerJoin(personaVersions, eq(personas.activeVersionId, personaVersions.id))
            .where(eq(personas.slug, job.personaSlug));
          const decision = gateDecision(this.deps.settings.gate, evalLoss, active);
          if (decision.activate) await tx.update(personas).set({ activeVersionId: row!.id, updatedAt: new Date() }).where(eq(personas.slug, job.personaSlug));
          return { version: row!, activated: decision.activate, gate: decision.reason };
        }));
      } catch (err) {
        await this.deps.llm.deleteModel(model).catch(() => undefined); // no model without its version row
        throw err;
      }
      this.deps.invalidateModel(job.personaSlug);
      phases.activation_s = seconds(t);
    }
    const done = await this.update(job.id, {
      status: 'succeeded',
      personaVersionId: version!.id,
      finishedAt: new Date(),
      progress: { ...(job.progress as JobProgress), note: undefined, model: version!.ollamaModel, version: version!.version, activated, gate, phases },
    });
    await this.finishStatus(done);
    await this.cleanUpTrainer(done);
  }

  // --- status messages ----------------------------------------------------------------------

  private async postStatus(job: JobRow): Promise<void> {
    if (!this.board || !job.channelId) return;
    try {
      const id = await this.board.post(job.channelId, this.describe(job));
      await this.update(job.id, { statusMessageId: id });
    } catch (err) {
      this.deps.log?.warn({ err, job: job.id }, 'could not post the training status message');
    }
  }

  /** Edits the status message, at most once per FINETUNE_EDIT_MS (Discord rate-limits edits). */
  private async refreshStatus(job: JobRow, final?: { files: { name: string; data: Buffer }[] }): Promise<void> {
    if (!this.board || !job.channelId) return;
    if (!job.statusMessageId) return this.postStatus(job);
    let message = this.messages.get(job.id);
    if (!message) {
      message = new ThrottledStatus(this.board, job.channelId, job.statusMessageId, this.deps.settings.editMs, this.deps.log);
      this.messages.set(job.id, message);
    }
    message.set(this.describe(job));
    if (final) {
      await message.flush(final.files);
      this.messages.delete(job.id);
    }
  }

  /** The last edit of a job's message: its end state and the loss curve. */
  private async finishStatus(job: JobRow): Promise<void> {
    const curve = await this.lossCurve(job).catch(() => null);
    await this.refreshStatus(job, { files: curve ? [{ name: `loss-${shortId(job.id)}.png`, data: curve }] : [] });
  }

  /** The loss curve PNG of a job, from its recorded events (null before any step). */
  async lossCurve(job: JobRow): Promise<Buffer | null> {
    const rows = await this.deps.db.select({ event: finetuneJobEvents.event }).from(finetuneJobEvents).where(eq(finetuneJobEvents.jobId, job.id)).orderBy(asc(finetuneJobEvents.seq));
    const events = rows.map((r) => r.event as unknown as TrainerEvent);
    const train = events.filter((e) => e.type === 'step' && e.loss !== undefined).map((e) => ({ step: e.step ?? 0, value: e.loss! }));
    const evals = events.filter((e) => e.type === 'eval' && e.eval_loss !== undefined).map((e) => ({ step: e.step ?? 0, value: e.eval_loss! }));
    if (train.length === 0 && evals.length === 0) return null;
    const name = this.deps.personas.find(job.personaSlug)?.name ?? job.personaSlug;
    return renderLossCurvePng(`${name}: loss by step (job ${shortId(job.id)})`, train, evals);
  }

  // --- helpers ------------------------------------------------------------------------------

  private requireTrainer(): TrainerClient {
    if (!this.deps.trainer) throw new UserFacingError('Fine-tuning is not set up on this bot: an admin sets TRAINER_URL and TRAINER_TOKEN (README, "Fine-tuning").');
    return this.deps.trainer;
  }

  private hyperparametersFor(options: FinetuneOptions): Record<string, unknown> {
    const chosen = Object.fromEntries(Object.entries({ epochs: options.epochs, learning_rate: options.learning_rate, rank: options.rank }).filter(([, v]) => v !== undefined));
    const merged = { ...this.hyperparameters, ...chosen };
    const checked = hyperparameterSchema().safeParse(merged);
    if (!checked.success) {
      const issue = checked.error.issues[0]!;
      throw new ValidationError(String(issue.path[0] ?? 'hyperparameters'), issue.message);
    }
    return merged;
  }

  private async openJob(slug: string): Promise<JobRow | undefined> {
    const [row] = await this.deps.db
      .select()
      .from(finetuneJobs)
      .where(and(eq(finetuneJobs.personaSlug, slug), inArray(finetuneJobs.status, OPEN)));
    return row;
  }

  private async load(id: string): Promise<JobRow> {
    const [row] = await this.deps.db.select().from(finetuneJobs).where(eq(finetuneJobs.id, id));
    if (!row) throw new Error(`finetune job ${id} disappeared`);
    return row;
  }

  private async update(id: string, changes: Partial<JobRow>): Promise<JobRow> {
    const [row] = await this.deps.db.update(finetuneJobs).set({ ...changes, updatedAt: new Date() }).where(eq(finetuneJobs.id, id)).returning();
    return row!;
  }

  /** Shows a passing condition in the status message (and /finetune status). */
  private async note(id: string, note: string, extra: Partial<JobProgress> = {}): Promise<void> {
    const job = await this.load(id);
    const updated = await this.update(id, { progress: { ...(job.progress as JobProgress), ...extra, note } });
    await this.refreshStatus(updated);
  }

  private async fail(job: JobRow, reason: string): Promise<void> {
    const failed = await this.update(job.id, { status: 'failed', error: reason, finishedAt: new Date(), progress: { ...(job.progress as JobProgress), note: undefined } });
    this.deps.log?.warn({ job: job.id, reason }, 'finetune job failed');
    await this.finishStatus(failed);
    await this.cleanUpTrainer(failed);
  }

  /** Deletes the trainer's copy of an ended job (DESIGN, Data lifecycle); retried by the reconciler. */
  private async cleanUpTrainer(job: JobRow): Promise<void> {
    if (!job.trainerJobId || !this.deps.trainer) return;
    try {
      await this.deps.trainer.delete(job.trainerJobId);
      await this.deps.db.update(finetuneJobs).set({ trainerCleanedAt: new Date() }).where(eq(finetuneJobs.id, job.id));
    } catch (err) {
      this.deps.log?.warn({ job: job.id, err: (err as Error).message }, 'could not delete the trainer’s copy of the job yet; the reconciler retries');
    }
  }

  private async lastEventSeq(jobId: string): Promise<number> {
    const [row] = await this.deps.db.select({ seq: max(finetuneJobEvents.seq) }).from(finetuneJobEvents).where(eq(finetuneJobEvents.jobId, jobId));
    return row?.seq ?? 0;
  }
}

class AbortError extends Error {
  override name = 'AbortError';
}

/** One status message, edited at most once per interval; the latest text always lands. */
class ThrottledStatus {
  private text = '';
  private shown = '';
  private lastEdit = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly board: StatusBoard,
    private readonly channelId: string,
    private readonly messageId: string,
    private readonly intervalMs: number,
    private readonly log?: Logger,
  ) {}

  set(text: string): void {
    this.text = text;
    if (this.timer || text === this.shown) return;
    const wait = Math.max(0, this.lastEdit + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.push();
    }, wait);
  }

  /** The last edit, now (after the interval), with any files attached to it. */
  async flush(files: { name: string; data: Buffer }[] = []): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    const wait = this.lastEdit + this.intervalMs - Date.now();
    if (wait > 0 && (this.text !== this.shown || files.length > 0)) await sleep(wait);
    await this.push(files);
  }

  private push(files: { name: string; data: Buffer }[] = []): Promise<void> {
    this.inFlight = this.inFlight.then(async () => {
      if (this.text === this.shown && files.length === 0) return;
      const text = this.text;
      this.lastEdit = Date.now();
      try {
        await this.board.edit(this.channelId, this.messageId, text, files.length > 0 ? files : undefined);
        this.shown = text;
      } catch (err) {
        this.log?.warn({ err }, 'could not edit the training status message');
      }
    });
    return this.inFlight;
  }
}

/**
 * The artifacts an Ollama model is made from: the GGUF adapter, which works for every base the
 * llama.cpp runner serves; else the PEFT files, which Ollama converts for llama and gemma2 bases.
 */
export function adapterArtifacts(artifacts: readonly string[]): string[] | null {
  if (artifacts.includes('adapter.gguf')) return ['adapter.gguf'];
  if (artifacts.includes('adapter_model.safetensors') && artifacts.includes('adapter_config.json')) return ['adapter_model.safetensors', 'adapter_config.json'];
  return null;
}

function seconds(since: number): number {
  return Math.round(performance.now() - since) / 1000;
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

function alreadyOpen(name: string, job: JobRow): UserFacingError {
  return new UserFacingError(
    `A training job for ${name} is already ${job.status} (job ${shortId(job.id)}). Follow it with \`/finetune status job:${shortId(job.id)}\` or stop it with \`/finetune cancel job:${shortId(job.id)}\`.`,
  );
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

function bestEvalLoss(view: Record<string, number>, file: Record<string, unknown>): number | undefined {
  const candidates = [view.best_eval_loss, file.best_eval_loss, view.final_eval_loss, file.final_eval_loss];
  return candidates.find((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

/** The activation gate: with eval-loss, a new version must not do worse on held-out lines than the active one. */
export function gateDecision(
  gate: 'eval-loss' | 'always',
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

const STATUS_ICON: Record<JobStatus, string> = { pending: '⏳', queued: '⏳', running: '🏋️', converting: '📦', succeeded: '✅', failed: '❌', cancelled: '🛑' };

/** The text of a status message: a progress bar, step/total, losses, speed and ETA. */
export function describeJob(job: JobRow, personaName: string): string {
  const p = (job.progress ?? {}) as JobProgress;
  const lines = [`${STATUS_ICON[job.status]} **Fine-tuning ${personaName}** · job \`${shortId(job.id)}\` · ${job.status}`];
  if (p.totalSteps) {
    const fraction = Math.min(1, (p.step ?? 0) / p.totalSteps);
    const filled = Math.round(fraction * 20);
    lines.push(`\`[${'█'.repeat(filled)}${'░'.repeat(20 - filled)}]\` ${Math.round(fraction * 100)}% · step ${p.step ?? 0}/${p.totalSteps}`);
  }
  const figures = [
    p.loss !== undefined ? `loss ${p.loss.toFixed(3)}` : null,
    p.evalLoss !== undefined ? `eval loss ${p.evalLoss.toFixed(3)}` : null,
    p.tokensPerS !== undefined ? `${Math.round(p.tokensPerS)} tok/s` : null,
    p.etaS && OPEN.includes(job.status) ? `ETA ${formatDuration(p.etaS)}` : null,
  ].filter(Boolean);
  if (figures.length) lines.push(figures.join(' · '));
  if (p.datasetLines) lines.push(`Dataset: ${p.datasetLines.train} train / ${p.datasetLines.eval} eval lines${job.datasetVersionId ? ` (version ${job.datasetVersionId})` : ''}`);
  if (p.note) lines.push(p.note);
  if (job.status === 'succeeded' && p.model) {
    lines.push(p.activated ? `${personaName} now answers through **${p.model}** (${p.gate}).` : `${p.model} was created but not made active: ${p.gate}. \`/persona rollback name:${personaName} version:${p.version}\` activates it.`);
  }
  if (job.status === 'failed' && job.error) lines.push(`Reason: ${job.error}`.slice(0, 900));
  if (job.status === 'cancelled') lines.push(job.error ?? 'Cancelled; the last checkpoint was discarded.');
  return lines.join('\n');
}

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

let hyperparameterValidator: ReturnType<typeof trainerValidator> | undefined;
function hyperparameterSchema() {
  hyperparameterValidator ??= trainerValidator('Hyperparameters');
  return hyperparameterValidator;
}

/** The preset in trainer/presets plus FINETUNE_HYPERPARAMETERS, checked against the trainer contract once, at start-up. */
export function loadHyperparameterDefaults(preset: string, overrides: Record<string, unknown>): Record<string, unknown> {
  let fromPreset: Record<string, unknown>;
  try {
    fromPreset = (JSON.parse(readFileSync(path.join(PRESETS_DIR, `${preset}.json`), 'utf8')) as { hyperparameters: Record<string, unknown> }).hyperparameters;
  } catch (err) {
    throw new ConfigError([`FINETUNE_PRESET: no readable preset "${preset}" in trainer/presets (${(err as Error).message.split('\n')[0]})`]);
  }
  const merged = { ...fromPreset, ...overrides };
  const checked = hyperparameterSchema().safeParse(merged);
  if (!checked.success) {
    throw new ConfigError(checked.error.issues.map((i) => `FINETUNE_HYPERPARAMETERS: ${i.path.join('.') || '(object)'}: ${i.message}`));
  }
  return merged;
}

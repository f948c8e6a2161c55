import type { Logger } from 'pino';
import { UserFacingError, ValidationError } from '../../core/errors.js';
import type { Db } from '../../db/client.js';
import { DatasetStore } from '../../db/dataset-store.js';
import type { KeyRing } from '../../crypto/keyring.js';
import type { AdapterHost } from '../../inference/ports.js';
import type { PersonaCard } from '../../personas/card.js';
import type { PersonaRegistry } from '../../personas/registry.js';
import type { TrainerClient } from '../../trainer/client.js';
import type { DatasetService } from '../dataset.js';
import type { PersonaVersion, PersonaVersions } from '../persona-versions.js';
import { JobDriver } from './driver.js';
import type { EvaluationService } from '../evaluation.js';
import type { GateMargins, GateMode } from './gate.js';
import type { JobRow } from './jobs.js';
import { JobRepository, OPEN_STATUSES, shortId } from './jobs.js';
import type { FinetuneOptions } from './presets.js';
import { hyperparametersFor } from './presets.js';
import { VersionPublisher } from './publish.js';
import type { StatusBoard } from './status.js';
import { JobStatusMessages } from './status.js';

export interface FinetuneSettings {
  /** The preset plus FINETUNE_HYPERPARAMETERS, checked by loadConfig (presets.ts). */
  defaults: Record<string, unknown>;
  gate: GateMode;
  /** FINETUNE_GATE=eval: how much worse than the reference a candidate may be. */
  margins: GateMargins;
  pollMs: number;
  /** Least time between two edits of a job's status message (Discord rate-limits edits). */
  editMs: number;
  reconcileCron: string;
  defaultBaseModel: string;
}

export interface FinetuneDeps {
  db: Db;
  keys: KeyRing;
  personas: PersonaRegistry;
  versions: PersonaVersions;
  dataset: Pick<DatasetService, 'build' | 'frozenSet'>;
  adapters: AdapterHost;
  /** Null when TRAINER_URL is not set: /finetune then says how to configure it. */
  trainer: TrainerClient | null;
  /** Evaluates candidates for FINETUNE_GATE=eval. */
  evaluation: EvaluationService;
  /** Drops the chat service's cached active model of a persona. */
  invalidateModel(slug: string): void;
  settings: FinetuneSettings;
  log?: Logger;
}

/**
 * /finetune end to end, as one facade over its parts: a dataset snapshot becomes a trainer job
 * (JobDriver), its progress shows in a live status message (JobStatusMessages), and the finished
 * adapter becomes a persona version, gate permitting the active one (VersionPublisher). The
 * database (JobRepository) is the source of truth, so every step resumes after a restart.
 */
export class FinetuneService {
  private readonly jobs: JobRepository;
  private readonly status: JobStatusMessages;
  private readonly driver: JobDriver | null;

  constructor(private readonly deps: FinetuneDeps) {
    this.jobs = new JobRepository(deps.db);
    this.status = new JobStatusMessages({ jobs: this.jobs, personas: deps.personas, editMs: deps.settings.editMs, log: deps.log });
    this.driver = deps.trainer
      ? new JobDriver({
          jobs: this.jobs,
          trainer: deps.trainer,
          personas: deps.personas,
          dataset: deps.dataset,
          datasetStore: new DatasetStore(deps.db, deps.keys),
          publisher: new VersionPublisher({
            db: deps.db,
            versions: deps.versions,
            personas: deps.personas,
            adapters: deps.adapters,
            gate: deps.settings.gate,
            margins: deps.settings.margins,
            evaluation: deps.evaluation,
            defaultBaseModel: deps.settings.defaultBaseModel,
            invalidateModel: deps.invalidateModel,
          }),
          status: this.status,
          pollMs: deps.settings.pollMs,
          reconcileCron: deps.settings.reconcileCron,
          log: deps.log,
        })
      : null;
  }

  get configured(): boolean {
    return this.driver !== null;
  }

  /** The transport's status board (Discord channel messages, console lines). */
  attachBoard(board: StatusBoard): void {
    this.status.attach(board);
  }

  /** Resumes open jobs now and then on FINETUNE_RECONCILE_CRON. */
  startReconciler(): void {
    this.driver?.startReconciler();
  }

  async stop(): Promise<void> {
    await this.driver?.stop();
    await this.status.flushAll();
  }

  /**
   * Validates the options, records the job (one open job per persona: a second start is refused
   * with the open job's id) and starts driving it. Answers fast: the dataset build and the
   * submission happen in the background, shown in the status message.
   */
  async start(input: { card: PersonaCard; options: FinetuneOptions; guildId: string | null; channelId: string }): Promise<JobRow> {
    const { driver, trainer } = this.requireTrainer();
    const { card, options } = input;
    const baseModel = (options.base_model ?? card.model.base ?? this.deps.settings.defaultBaseModel).trim();
    if (!/^[\w.\-/:]{1,100}$/.test(baseModel)) throw new ValidationError('base_model', 'expected a model name such as smollm2-135m');
    const hyperparameters = hyperparametersFor(this.deps.settings.defaults, options);
    const open = await this.jobs.openFor(card.slug);
    if (open) throw alreadyOpen(card.name, open, input.guildId);
    // Refuse now, not minutes later, when a part the job needs is missing.
    await trainer.health();
    if (!(await this.deps.adapters.has(baseModel))) {
      throw new ValidationError('base_model', `the model server has no model "${baseModel}" to put the adapter on (an admin can run \`npm run setup\`)`);
    }
    let job: JobRow;
    try {
      job = await this.jobs.insert({ personaSlug: card.slug, baseModel, hyperparameters, guildId: input.guildId, channelId: input.channelId });
    } catch (err) {
      const raced = await this.jobs.openFor(card.slug);
      if (raced) throw alreadyOpen(card.name, raced, input.guildId); // a double click: the other one won the unique index
      throw err;
    }
    await this.status.post(job);
    driver.drive(job.id);
    return job;
  }

  /** Cancels a job started from `guildId`: at once when not yet submitted, otherwise after the trainer's current step. */
  async cancel(guildId: string | null, ref: string): Promise<{ job: JobRow; message: string }> {
    const job = await this.find(guildId, ref);
    if (!OPEN_STATUSES.includes(job.status)) throw new UserFacingError(`Job ${shortId(job.id)} has already ${job.status}.`);
    if (job.status === 'converting') throw new UserFacingError(`Job ${shortId(job.id)} has finished training and its model is being published; it cannot be cancelled now.`);
    if (job.status === 'pending') {
      const cancelled = await this.jobs.transition(job.id, 'pending', { status: 'cancelled', error: 'cancelled before it reached the trainer', finishedAt: new Date() });
      if (cancelled) {
        await this.status.finish(cancelled);
        return { job: cancelled, message: `Job ${shortId(job.id)} is cancelled.` };
      }
      return this.cancel(guildId, job.id); // it was submitted meanwhile: cancel it on the trainer
    }
    const answer = await this.requireTrainer().trainer.cancel(job.trainerJobId!);
    return {
      job,
      message: answer === 'ended' ? `Job ${shortId(job.id)} had already finished on the trainer; its status updates in a moment.` : `Cancelling job ${shortId(job.id)}: it stops after the current training step.`,
    };
  }

  /**
   * The job started from `guildId` with this id (or id prefix), or its most recent one. Another
   * server's job is not found (stopgap until every server has its own scope).
   */
  async find(guildId: string | null, ref?: string): Promise<JobRow> {
    if (ref === undefined) {
      const latest = await this.jobs.latest(guildId);
      if (!latest) throw new UserFacingError('No training jobs yet. Start one with `/finetune start persona:`.');
      return latest;
    }
    const prefix = ref.trim().toLowerCase();
    if (!/^[0-9a-f-]{4,36}$/.test(prefix)) throw new ValidationError('job', 'expected a job id (the 8 characters shown by /finetune list)');
    const rows = await this.jobs.byIdPrefix(guildId, prefix, 2);
    if (rows.length === 0) throw new UserFacingError(`There is no training job ${prefix}. \`/finetune list\` shows the recent ones.`);
    if (rows.length > 1) throw new ValidationError('job', `${prefix} matches more than one job: give more characters`);
    return rows[0]!;
  }

  /** The recent jobs started from `guildId`. */
  async list(guildId: string | null, limit = 10): Promise<JobRow[]> {
    return this.jobs.recent(guildId, limit);
  }

  /** A job's status text (the status message and /finetune status show the same). */
  describe(job: JobRow): string {
    return this.status.describe(job);
  }

  /** The loss curve PNG of a job, from its recorded events (null before any step). */
  lossCurve(job: JobRow): Promise<Buffer | null> {
    return this.status.lossCurve(job);
  }

  /** Makes a version of a persona the active one (a rollback, or a version the gate held back). */
  /** Makes a version answer; version 0 returns the persona to prompt-only (undefined then). */
  async activate(card: PersonaCard, version: number): Promise<PersonaVersion | undefined> {
    if (version === 0) {
      await this.deps.versions.setActive(card.slug, null);
      this.deps.invalidateModel(card.slug);
      return undefined;
    }
    const row = await this.deps.versions.byNumber(card.slug, version);
    if (!row) {
      const known = await this.deps.versions.numbers(card.slug);
      throw new ValidationError('version', `${card.name} has no version ${version} (versions: ${known.map((v) => `v${v}`).join(', ') || 'none yet'})`);
    }
    if (!(await this.deps.adapters.has(row.servedModel))) {
      throw new UserFacingError(`The model ${row.servedModel} of ${card.name} v${version} is no longer in the model server, so it cannot be made active.`);
    }
    await this.deps.versions.setActive(card.slug, row.id);
    this.deps.invalidateModel(card.slug);
    return row;
  }

  /** Picks up open jobs nobody drives; cleans up ended ones on the trainer. */
  async reconcile(): Promise<void> {
    await this.driver?.reconcile();
  }

  /** Resolves when every job this process drives has stopped moving (tests, benchmarks). */
  async idle(): Promise<void> {
    await this.driver?.idle();
  }

  private requireTrainer(): { driver: JobDriver; trainer: TrainerClient } {
    if (!this.driver || !this.deps.trainer) throw new UserFacingError('Fine-tuning is not set up on this bot: an admin sets TRAINER_URL and TRAINER_TOKEN (README, "Fine-tuning").');
    return { driver: this.driver, trainer: this.deps.trainer };
  }
}

/** One open job per persona, whichever server started it; another server's job is not named. */
function alreadyOpen(name: string, job: JobRow, guildId: string | null): UserFacingError {
  if (job.guildId !== guildId) return new UserFacingError(`A training job for ${name} started from another server is already ${job.status}; try again when it has finished.`);
  return new UserFacingError(
    `A training job for ${name} is already ${job.status} (job ${shortId(job.id)}). Follow it with \`/finetune status job:${shortId(job.id)}\` or stop it with \`/finetune cancel job:${shortId(job.id)}\`.`,
  );
}

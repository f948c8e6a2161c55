import type { Logger } from 'pino';
import { ThrottledEdit } from '../../core/throttled-edit.js';
import type { PersonaRegistry } from '../../personas/registry.js';
import { renderLossCurvePng } from '../loss-curve.js';
import type { JobRepository, JobRow, JobStatus } from './jobs.js';
import { OPEN_STATUSES, shortId } from './jobs.js';

/** Where a job's live status message goes: a channel message in Discord, lines in the console. */
export interface StatusBoard {
  /** Posts a new message; resolves with its id. */
  post(channelId: string, text: string): Promise<string>;
  edit(channelId: string, messageId: string, text: string, files?: StatusFile[]): Promise<void>;
}

export interface StatusFile {
  name: string;
  data: Buffer;
}

const STATUS_ICON: Record<JobStatus, string> = { pending: '⏳', queued: '⏳', running: '🏋️', converting: '📦', succeeded: '✅', failed: '❌', cancelled: '🛑' };

/** The text of a status message: a progress bar, step/total, losses, speed and ETA. */
export function describeJob(job: JobRow, personaName: string): string {
  const p = job.progress ?? {};
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
    p.etaS && OPEN_STATUSES.includes(job.status) ? `ETA ${formatDuration(p.etaS)}` : null,
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

interface StatusText {
  text: string;
  files: StatusFile[];
}

/**
 * Each job's live status message: posted when the job starts, edited at most once per
 * FINETUNE_EDIT_MS (Discord rate-limits edits) while it runs, and a last edit with the loss
 * curve when it ends. A board that fails is logged, never fatal to the job.
 */
export class JobStatusMessages {
  private board: StatusBoard | undefined;
  private readonly messages = new Map<string, ThrottledEdit<StatusText>>();

  constructor(
    private readonly deps: { jobs: JobRepository; personas: PersonaRegistry; editMs: number; log?: Logger },
  ) {}

  /** The transport's board (Discord channel messages, console lines). */
  attach(board: StatusBoard): void {
    this.board = board;
  }

  describe(job: JobRow): string {
    return describeJob(job, this.personaName(job));
  }

  async post(job: JobRow): Promise<void> {
    if (!this.board || !job.channelId) return;
    try {
      const id = await this.board.post(job.channelId, this.describe(job));
      await this.deps.jobs.update(job.id, { statusMessageId: id });
    } catch (err) {
      this.deps.log?.warn({ err, job: job.id }, 'could not post the training status message');
    }
  }

  /** Shows the job's current state (throttled). */
  async refresh(job: JobRow): Promise<void> {
    const message = await this.message(job);
    message?.set({ text: this.describe(job), files: [] });
  }

  /** The last edit of a job's message: its end state and the loss curve. */
  async finish(job: JobRow): Promise<void> {
    const message = await this.message(job);
    if (!message) return;
    const curve = await this.lossCurve(job).catch(() => null);
    const files = curve ? [{ name: `loss-${shortId(job.id)}.png`, data: curve }] : [];
    await message.flush({ text: this.describe(job), files }, { throttled: true }).catch((err: unknown) => this.editFailed(err));
    this.messages.delete(job.id);
  }

  /** Lands every pending edit (shutdown). */
  async flushAll(): Promise<void> {
    await Promise.allSettled([...this.messages.values()].map((m) => m.flush(undefined, { throttled: true })));
  }

  /** The loss curve PNG of a job, from its recorded events (null before any step). */
  async lossCurve(job: JobRow): Promise<Buffer | null> {
    const events = await this.deps.jobs.events(job.id);
    const train = events.filter((e) => e.type === 'step' && e.loss !== undefined).map((e) => ({ step: e.step ?? 0, value: e.loss! }));
    const evals = events.filter((e) => e.type === 'eval' && e.eval_loss !== undefined).map((e) => ({ step: e.step ?? 0, value: e.eval_loss! }));
    if (train.length === 0 && evals.length === 0) return null;
    return renderLossCurvePng(`${this.personaName(job)}: loss by step (job ${shortId(job.id)})`, train, evals);
  }

  private async message(job: JobRow): Promise<ThrottledEdit<StatusText> | undefined> {
    const board = this.board;
    if (!board || !job.channelId) return undefined;
    if (!job.statusMessageId) {
      await this.post(job);
      return undefined;
    }
    let message = this.messages.get(job.id);
    if (!message) {
      const { channelId, statusMessageId } = job;
      message = new ThrottledEdit<StatusText>({
        intervalMs: this.deps.editMs,
        apply: ({ text, files }) => board.edit(channelId, statusMessageId, text, files.length > 0 ? files : undefined),
        unchanged: (next, shown) => next.files.length === 0 && next.text === shown?.text,
        onError: (err) => this.editFailed(err),
      });
      this.messages.set(job.id, message);
    }
    return message;
  }

  private editFailed(err: unknown): void {
    this.deps.log?.warn({ err }, 'could not edit the training status message');
  }

  private personaName(job: JobRow): string {
    return this.deps.personas.find(job.personaSlug)?.name ?? job.personaSlug;
  }
}

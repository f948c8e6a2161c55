import { and, asc, desc, eq, inArray, isNotNull, isNull, max, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import type { JobProgress } from '../../db/json-columns.js';
import { finetuneJobEvents, finetuneJobs } from '../../db/schema.js';
import type { TrainerEvent } from '../../trainer/client.js';

export type { JobProgress } from '../../db/json-columns.js';
export type JobRow = typeof finetuneJobs.$inferSelect;
export type JobStatus = JobRow['status'];
type NewJob = Pick<typeof finetuneJobs.$inferInsert, 'personaSlug' | 'baseModel' | 'hyperparameters' | 'guildId' | 'channelId'>;

/** A job that has not finished (the partial unique index allows one of these per persona). */
export const OPEN_STATUSES: readonly JobStatus[] = ['pending', 'queued', 'running', 'converting'];
export const ENDED_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

/** The 8 characters users see and type for a job. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/**
 * finetune_jobs and finetune_job_events: every query of the fine-tuning service, typed (progress
 * and events are typed jsonb), in one place. The database is the source of truth for a job's
 * state; conditional updates (`where status = ...`) make racing transitions lose cleanly.
 */
export class JobRepository {
  constructor(private readonly db: Db) {}

  /** Records a new job; throws when the persona already has an open job (the unique index). */
  async insert(job: NewJob): Promise<JobRow> {
    const [row] = await this.db.insert(finetuneJobs).values({ ...job, progress: {} }).returning();
    return row!;
  }

  async load(id: string): Promise<JobRow> {
    const [row] = await this.db.select().from(finetuneJobs).where(eq(finetuneJobs.id, id));
    if (!row) throw new Error(`finetune job ${id} disappeared`);
    return row;
  }

  async update(id: string, changes: Partial<JobRow>): Promise<JobRow> {
    const [row] = await this.db.update(finetuneJobs).set({ ...changes, updatedAt: new Date() }).where(eq(finetuneJobs.id, id)).returning();
    return row!;
  }

  /** Merges into the job's progress. */
  async mergeProgress(id: string, progress: Partial<JobProgress>): Promise<JobRow> {
    const job = await this.load(id);
    return this.update(id, { progress: { ...job.progress, ...progress } });
  }

  /** Moves a job from `from` only if it is still there; undefined when another transition won. */
  async transition(id: string, from: JobStatus, changes: Partial<JobRow>): Promise<JobRow | undefined> {
    const [row] = await this.db
      .update(finetuneJobs)
      .set({ ...changes, updatedAt: new Date() })
      .where(and(eq(finetuneJobs.id, id), eq(finetuneJobs.status, from)))
      .returning();
    return row;
  }

  /** The persona's open job, if any. */
  async openFor(personaSlug: string): Promise<JobRow | undefined> {
    const [row] = await this.db
      .select()
      .from(finetuneJobs)
      .where(and(eq(finetuneJobs.personaSlug, personaSlug), inArray(finetuneJobs.status, [...OPEN_STATUSES])));
    return row;
  }

  async openIds(): Promise<string[]> {
    const rows = await this.db.select({ id: finetuneJobs.id }).from(finetuneJobs).where(inArray(finetuneJobs.status, [...OPEN_STATUSES]));
    return rows.map((r) => r.id);
  }

  /** Ended jobs whose copy on the trainer has not been deleted yet. */
  async endedOnTrainer(): Promise<JobRow[]> {
    return this.db
      .select()
      .from(finetuneJobs)
      .where(and(inArray(finetuneJobs.status, [...ENDED_STATUSES]), isNotNull(finetuneJobs.trainerJobId), isNull(finetuneJobs.trainerCleanedAt)));
  }

  // A server's admins see and cancel only the jobs started from their server (`guildId`; null:
  // the jobs started outside any server).
  async latest(guildId: string | null): Promise<JobRow | undefined> {
    const [row] = await this.db.select().from(finetuneJobs).where(startedFrom(guildId)).orderBy(desc(finetuneJobs.createdAt)).limit(1);
    return row;
  }

  /** Up to `limit` jobs started from `guildId` whose id starts with `prefix` (lowercase hex and dashes only). */
  async byIdPrefix(guildId: string | null, prefix: string, limit: number): Promise<JobRow[]> {
    return this.db
      .select()
      .from(finetuneJobs)
      .where(and(startedFrom(guildId), sql`${finetuneJobs.id}::text like ${`${prefix}%`}`))
      .limit(limit);
  }

  async recent(guildId: string | null, limit: number): Promise<JobRow[]> {
    return this.db.select().from(finetuneJobs).where(startedFrom(guildId)).orderBy(desc(finetuneJobs.createdAt)).limit(limit);
  }

  async markTrainerCleaned(id: string): Promise<void> {
    await this.db.update(finetuneJobs).set({ trainerCleanedAt: new Date() }).where(eq(finetuneJobs.id, id));
  }

  /** Keeps the trainer's events (a repeated page adds nothing). */
  async addEvents(jobId: string, events: readonly TrainerEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.db
      .insert(finetuneJobEvents)
      .values(events.map((event) => ({ jobId, seq: event.seq, event })))
      .onConflictDoNothing();
  }

  async lastEventSeq(jobId: string): Promise<number> {
    const [row] = await this.db.select({ seq: max(finetuneJobEvents.seq) }).from(finetuneJobEvents).where(eq(finetuneJobEvents.jobId, jobId));
    return row?.seq ?? 0;
  }

  async events(jobId: string): Promise<TrainerEvent[]> {
    const rows = await this.db.select({ event: finetuneJobEvents.event }).from(finetuneJobEvents).where(eq(finetuneJobEvents.jobId, jobId)).orderBy(asc(finetuneJobEvents.seq));
    return rows.map((r) => r.event);
  }
}

const startedFrom = (guildId: string | null) => (guildId === null ? isNull(finetuneJobs.guildId) : eq(finetuneJobs.guildId, guildId));

import type { Logger } from 'pino';
import type { IntentJournal } from '../db/intent-journal.js';
import type { WriteOp } from '../db/write-ops.js';
import { durability, isSheddable } from '../db/write-ops.js';
import { loggableError } from '../core/logger.js';
import { isTransientDatabaseError } from '../db/errors.js';

export interface WriterQueueOptions {
  /** Flush when this many ops are waiting... */
  batchSize: number;
  /** ...or this many milliseconds after the first op of a batch arrived. */
  flushMs: number;
  /**
   * Most ops held in memory. Beyond it new inserts (messages, persona replies, reactions) are shed
   * (counted and warned about); edits, deletes and privacy ops are always accepted. Nothing waits.
   */
  capacity: number;
  /** Backoff bounds while the database is unreachable. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** How long close() tries to commit what is queued before it journals the rest (with a journal). */
  closeTimeoutMs?: number;
}

/** Where batches go; LoggedDataStore in production. Returns one result per op. */
export interface BatchApplier {
  apply(ops: readonly WriteOp[]): Promise<unknown[]>;
}

interface Entry {
  op: WriteOp;
  /** Its record in the intent journal, marked done once committed. */
  seq?: number;
  /** Called (in commit order, synchronously) once it is committed. */
  committed?: (op: WriteOp) => void;
  done?: { resolve: (v: unknown) => void; reject: (e: unknown) => void };
}

export class QueueClosedError extends Error {
  override name = 'QueueClosedError';
}

/** How often (at most) shedding is logged while it goes on. */
const SHED_WARN_EVERY_MS = 10_000;

/**
 * The one ordered, bounded writer for logged data. Ops are applied strictly in the order they
 * were accepted, in batches. An op leaves the queue only after its batch committed, so a lost
 * connection loses nothing: the same batch is retried with backoff until the database is back.
 * A batch that fails for another reason is retried op by op, so one bad op cannot wedge the rest;
 * only ops that may be lost are dropped that way: an opt-out, forget, purge or delete is retried
 * until it commits, and with a journal it is also on disk from the moment it is accepted, so an
 * outage followed by a restart cannot lose it either.
 *
 * Accepting never waits: a full queue sheds new inserts instead, so a database outage never
 * stops personas answering and memory stays bounded.
 */
export class WriterQueue {
  private readonly entries: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private consecutiveFailures = 0;
  private lastShedWarning = 0;
  private shedSinceWarning = 0;
  /** Counters for metrics and benchmarks. */
  readonly stats = { accepted: 0, committed: 0, batches: 0, retries: 0, dropped: 0, shed: 0, journaled: 0 };

  constructor(
    private readonly applier: BatchApplier,
    private readonly opts: WriterQueueOptions,
    private readonly log?: Logger,
    private readonly journal?: IntentJournal,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  /** Whether an op accepted earlier and matching the predicate is still waiting to commit. */
  isPending(predicate: (op: WriteOp) => boolean): boolean {
    return this.entries.some((e) => predicate(e.op));
  }

  /**
   * Queues the ops the journal still holds from before a restart, ahead of anything new, and
   * returns them (the caller re-applies them to what it keeps in memory); `committed` is called
   * for each as it commits.
   */
  recover(committed?: (op: WriteOp) => void): WriteOp[] {
    const pending = this.journal?.pending() ?? [];
    for (const { seq, op } of pending) this.push({ op, seq, committed });
    if (pending.length > 0) this.log?.warn({ ops: pending.length }, 'writes from before the last stop were not yet in the database; applying them first');
    for (const problem of this.journal?.unreadable ?? []) this.log?.error({ problem }, 'an intent journal line could not be read; skipped');
    return pending.map((e) => e.op);
  }

  /**
   * Accepts an op without waiting. Returns false when it was shed: the queue is full and the op
   * is a new insert (any other op is always accepted).
   */
  enqueue(op: WriteOp): boolean {
    if (this.closed) throw new QueueClosedError('writer queue is closed');
    if (isSheddable(op) && this.entries.length >= this.opts.capacity) {
      this.shed(op);
      return false;
    }
    this.push(this.entry(op));
    return true;
  }

  /** Accepts an op (never shed, never waiting) and resolves with its result once it is committed. */
  submit<T = unknown>(op: WriteOp): Promise<T> {
    if (this.closed) return Promise.reject(new QueueClosedError('writer queue is closed'));
    const entry = this.entry(op);
    return new Promise<T>((resolve, reject) => {
      entry.done = { resolve: resolve as (v: unknown) => void, reject };
      this.push(entry);
    });
  }

  /** Resolves when everything accepted before this call is committed. */
  drainPoint(): Promise<void> {
    return this.submit<void>({ kind: 'barrier' });
  }

  /**
   * Stops accepting, then flushes everything that was accepted. With a journal it gives up after
   * closeTimeoutMs (the database is unreachable): what is left is journaled and applied at the
   * next start.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const deadline = Date.now() + (this.opts.closeTimeoutMs ?? 10_000);
    while (this.entries.length > 0 || this.flushing) {
      const flushed = this.flushing ?? this.flush();
      if (!this.journal) {
        await flushed;
        continue;
      }
      if (!(await committedWithin(flushed, deadline - Date.now()))) {
        this.spillToJournal();
        return;
      }
    }
  }

  private entry(op: WriteOp): Entry {
    const d = durability(op);
    if (!this.journal || d === 'none') return { op };
    const [seq] = this.journal.record([op], { fsync: d === 'fsync' });
    this.stats.journaled++;
    return { op, seq };
  }

  /** At a close that could not finish: everything still queued goes to the journal. */
  private spillToJournal(): void {
    const rest = this.entries.splice(0);
    // Recorded again, all of it in queue order, and the earlier records retired: replayed by
    // sequence, a forget must not overtake the messages accepted before it.
    const ops = rest.filter((e) => e.op.kind !== 'barrier').map((e) => e.op);
    this.journal!.record(ops);
    this.journal!.done(rest.flatMap((e) => (e.seq === undefined ? [] : [e.seq])));
    this.stats.journaled += ops.length;
    this.log?.warn({ ops: rest.length }, 'database unreachable at shutdown: queued writes were saved to the intent journal and are applied at the next start');
    for (const e of rest) e.done?.reject(new QueueClosedError('the database was unreachable at shutdown; the write is journaled and applied at the next start'));
  }

  private shed(op: WriteOp): void {
    this.stats.shed++;
    this.shedSinceWarning++;
    const now = Date.now();
    if (now - this.lastShedWarning >= SHED_WARN_EVERY_MS) {
      this.log?.warn({ shed: this.shedSinceWarning, kind: op.kind, capacity: this.opts.capacity }, 'writer queue full (the database is behind or down): new inserts are not being stored');
      this.lastShedWarning = now;
      this.shedSinceWarning = 0;
    }
  }

  private push(entry: Entry): void {
    this.entries.push(entry);
    this.stats.accepted++;
    if (this.entries.length >= this.opts.batchSize) this.schedule(0);
    else this.schedule(this.opts.flushMs);
  }

  private schedule(delayMs: number): void {
    if (this.flushing) return; // the running flush reschedules itself when it ends
    if (this.timer && delayMs > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs);
  }

  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.flushOnce().finally(() => {
      this.flushing = undefined;
      if (this.entries.length > 0 && !this.closed) {
        this.schedule(this.entries.length >= this.opts.batchSize ? 0 : this.opts.flushMs);
      }
    });
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    const batch = this.entries.slice(0, this.opts.batchSize);
    if (batch.length === 0) return;
    try {
      const results = await this.applier.apply(batch.map((e) => e.op));
      this.settle(batch, results);
      this.consecutiveFailures = 0;
    } catch (err) {
      if (isTransientDatabaseError(err)) {
        // Keep the batch at the head of the queue and try again once the database answers.
        this.stats.retries++;
        const delay = this.backoff();
        this.log?.warn({ err: describeError(err), pending: this.entries.length, retryInMs: delay }, 'database unreachable; writer queue will retry');
        await sleep(delay);
        return;
      }
      this.log?.error({ err: describeError(err), batch: batch.length }, 'writer batch failed; retrying op by op');
      await this.isolate(batch);
    }
  }

  /**
   * Applies a failed batch one op at a time. An op that fails on its own is dropped (and reported)
   * if it may be lost; an op that must not be lost stays at the head and is retried with backoff.
   */
  private async isolate(batch: Entry[]): Promise<void> {
    for (const entry of batch) {
      if (this.entries[0] !== entry) return; // close() journaled the queue meanwhile
      try {
        const [result] = await this.applier.apply([entry.op]);
        this.settle([entry], [result]);
      } catch (err) {
        if (isTransientDatabaseError(err)) {
          this.stats.retries++;
          await sleep(this.backoff());
          return; // the rest stays queued, in order
        }
        if (durability(entry.op) !== 'none') {
          this.stats.retries++;
          const delay = this.backoff();
          this.log?.error({ err: describeError(err), op: entry.op.kind, retryInMs: delay }, 'a privacy or delete write failed; it is kept and retried (logging of new messages waits behind it)');
          await sleep(delay);
          return;
        }
        this.log?.error({ err: describeError(err), op: entry.op.kind }, 'write op rejected by the database; dropped');
        this.stats.dropped++;
        this.remove(1);
        entry.done?.reject(err);
      }
    }
  }

  private settle(batch: Entry[], results: unknown[]): void {
    if (this.entries[0] !== batch[0]) return; // close() journaled the queue meanwhile: replayed at the next start
    this.remove(batch.length);
    this.stats.batches++;
    this.stats.committed += batch.length;
    const seqs = batch.flatMap((e) => (e.seq === undefined ? [] : [e.seq]));
    if (seqs.length > 0) this.journal?.done(seqs);
    for (const e of batch) e.committed?.(e.op);
    batch.forEach((e, i) => e.done?.resolve(results[i]));
  }

  private remove(n: number): void {
    this.entries.splice(0, n);
  }

  private backoff(): number {
    this.consecutiveFailures++;
    const min = this.opts.retryMinMs ?? 100;
    const max = this.opts.retryMaxMs ?? 5000;
    return Math.min(max, min * 2 ** Math.min(this.consecutiveFailures - 1, 16));
  }
}

/** The innermost message and code (the driver's, under drizzle's wrapper), without query parameters. */
function describeError(err: unknown): { message: string; code?: string } {
  const e = loggableError(err) as { message?: string; code?: string; cause?: { message?: string; code?: string } } | string;
  if (typeof e !== 'object') return { message: String(e) };
  return { message: e.cause?.message ?? e.message ?? 'unknown error', code: e.cause?.code ?? e.code };
}

/**
 * Waits up to ms for a queued write to commit: true if it did, false if it failed or is still on
 * its way. A late outcome is kept (never an unhandled rejection); the timer never holds the process open.
 */
export async function committedWithin(committed: Promise<unknown>, ms: number): Promise<boolean> {
  const outcome = committed.then(
    () => true,
    () => false,
  );
  if (ms <= 0) return false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([outcome, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

import type { Logger } from 'pino';
import type { WriteOp } from '../db/write-ops.js';
import { loggableError } from '../core/logger.js';
import { isTransientDatabaseError } from '../db/errors.js';

export interface WriterQueueOptions {
  /** Flush when this many ops are waiting... */
  batchSize: number;
  /** ...or this many milliseconds after the first op of a batch arrived. */
  flushMs: number;
  /** Most ops held in memory; beyond it enqueue() waits (back-pressure), it never drops. */
  capacity: number;
  /** Backoff bounds while the database is unreachable. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** Where batches go; LoggedDataStore in production. Returns one result per op. */
export interface BatchApplier {
  apply(ops: readonly WriteOp[]): Promise<unknown[]>;
}

interface Entry {
  op: WriteOp;
  done?: { resolve: (v: unknown) => void; reject: (e: unknown) => void };
}

export class QueueClosedError extends Error {
  override name = 'QueueClosedError';
}

/**
 * The one ordered, bounded writer for logged data. Ops are applied strictly in the order they
 * were accepted, in batches. An op leaves the queue only after its batch committed, so a lost
 * connection loses nothing: the same batch is retried with backoff until the database is back.
 * A batch that fails for another reason is retried op by op, so one bad op cannot wedge the rest.
 */
export class WriterQueue {
  private readonly entries: Entry[] = [];
  private readonly spaceWaiters: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private consecutiveFailures = 0;
  /** Counters for metrics and benchmarks. */
  readonly stats = { accepted: 0, committed: 0, batches: 0, retries: 0, dropped: 0 };

  constructor(
    private readonly applier: BatchApplier,
    private readonly opts: WriterQueueOptions,
    private readonly log?: Logger,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  /** Accepts an op; resolves as soon as it is queued (waits only while the queue is full). */
  enqueue(op: WriteOp): Promise<void> | void {
    if (this.closed) throw new QueueClosedError('writer queue is closed');
    if (this.entries.length >= this.opts.capacity) {
      return this.waitForSpace().then(() => this.enqueue(op));
    }
    this.push({ op });
  }

  /** Accepts an op and resolves with its result once it is committed. */
  async submit<T = unknown>(op: WriteOp): Promise<T> {
    if (this.closed) throw new QueueClosedError('writer queue is closed');
    while (this.entries.length >= this.opts.capacity) await this.waitForSpace();
    return new Promise<T>((resolve, reject) => {
      this.push({ op, done: { resolve: resolve as (v: unknown) => void, reject } });
    });
  }

  /** Resolves when everything accepted before this call is committed. */
  drainPoint(): Promise<void> {
    return this.submit<void>({ kind: 'barrier' });
  }

  /** Stops accepting, then flushes everything that was accepted. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.entries.length > 0 || this.flushing) {
      await (this.flushing ?? this.flush());
    }
  }

  private push(entry: Entry): void {
    this.entries.push(entry);
    this.stats.accepted++;
    if (this.entries.length >= this.opts.batchSize) this.schedule(0);
    else this.schedule(this.opts.flushMs);
  }

  private waitForSpace(): Promise<void> {
    return new Promise((resolve) => this.spaceWaiters.push(resolve));
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

  /** Applies a failed batch one op at a time, dropping (and reporting) only the ops that fail on their own. */
  private async isolate(batch: Entry[]): Promise<void> {
    for (const entry of batch) {
      try {
        const [result] = await this.applier.apply([entry.op]);
        this.settle([entry], [result]);
      } catch (err) {
        if (isTransientDatabaseError(err)) {
          this.stats.retries++;
          await sleep(this.backoff());
          return; // the rest stays queued, in order
        }
        this.log?.error({ err: describeError(err), op: entry.op.kind }, 'write op rejected by the database; dropped');
        this.stats.dropped++;
        this.remove(1);
        entry.done?.reject(err);
      }
    }
  }

  private settle(batch: Entry[], results: unknown[]): void {
    this.remove(batch.length);
    this.stats.batches++;
    this.stats.committed += batch.length;
    batch.forEach((e, i) => e.done?.resolve(results[i]));
  }

  private remove(n: number): void {
    this.entries.splice(0, n);
    while (this.spaceWaiters.length > 0 && this.entries.length < this.opts.capacity) this.spaceWaiters.shift()!();
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

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

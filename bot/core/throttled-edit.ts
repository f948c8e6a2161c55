import { setTimeout as sleep } from 'node:timers/promises';

export interface ThrottledEditOptions<T> {
  /** Least time from the end of one apply to the start of the next. */
  intervalMs: number;
  /** Shows a value (edits a message...). Runs one at a time. */
  apply(value: T): Promise<void>;
  /** True when `next` needs no apply because `shown` (the last applied value) already shows it. Default: ===. */
  unchanged?(next: T, shown: T | undefined): boolean;
  /** An apply that failed between flushes (the next one, or the flush, tries again). */
  onError?(err: unknown): void;
}

/**
 * A value shown somewhere that is rate-limited to update, such as a Discord message edited while
 * a reply streams or a job trains: `set` it as often as it changes and it is applied at most once
 * per interval, one apply at a time, always ending on the latest value; `flush` applies the final
 * value when the caller is done.
 */
export class ThrottledEdit<T> {
  private latest: { value: T } | undefined;
  private shown: T | undefined;
  private lastApplied = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The rest of an interval a scheduled apply is waiting out; flush and cancel cut it short. */
  private waiting: AbortController | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ThrottledEditOptions<T>) {}

  set(value: T): void {
    this.latest = { value };
    if (this.timer || this.isUnchanged(value)) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // An apply may still be running when the timer fires: the interval counts from its end.
      this.chain = this.chain
        .then(async () => {
          if (await this.waitOut()) await this.applyLatest();
        })
        .catch((err: unknown) => this.opts.onError?.(err));
    }, this.waitMs());
  }

  /**
   * Applies `value` (or else the latest set) now, after any apply in progress; with `throttled`,
   * after the rest of the interval too. Its error reaches the caller.
   */
  async flush(value?: T, opts: { throttled?: boolean } = {}): Promise<void> {
    if (value !== undefined) this.latest = { value };
    this.stopPending();
    await this.chain;
    if (opts.throttled && this.latest && !this.isUnchanged(this.latest.value)) {
      const wait = this.waitMs();
      if (wait > 0) await sleep(wait);
    }
    await this.applyLatest();
  }

  /** Stops pending applies; resolves once the one in progress (if any) is done. */
  async cancel(): Promise<void> {
    this.stopPending();
    await this.chain;
  }

  private stopPending(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.waiting?.abort();
  }

  /** Waits out the rest of the interval; false when a flush or cancel cut the wait short (the scheduled apply is dropped). */
  private async waitOut(): Promise<boolean> {
    const wait = this.waitMs();
    if (wait <= 0) return true;
    const waiting = (this.waiting = new AbortController());
    try {
      await sleep(wait, undefined, { signal: waiting.signal });
      return true;
    } catch {
      return false;
    } finally {
      this.waiting = undefined;
    }
  }

  private async applyLatest(): Promise<void> {
    if (!this.latest || this.isUnchanged(this.latest.value)) return;
    const { value } = this.latest;
    try {
      await this.opts.apply(value);
      this.shown = value;
    } finally {
      this.lastApplied = Date.now();
    }
  }

  private isUnchanged(value: T): boolean {
    return this.opts.unchanged ? this.opts.unchanged(value, this.shown) : this.shown !== undefined && value === this.shown;
  }

  private waitMs(): number {
    return Math.max(0, this.lastApplied + this.opts.intervalMs - Date.now());
  }
}

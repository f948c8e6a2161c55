import type { ChatPriority, ChatRequest, ChatResult, ModelBackend, PublishRequest } from './ports.js';

/**
 * At most `limit` chat requests at the model server at once; the rest wait in two queues, and a
 * freed slot goes to the oldest `interactive` request before any `batch` one. So a dataset build
 * that generates many dialogues at once never sits between a member and a persona's reply.
 * A request aborted while it waits leaves the queue at once.
 */
export class ChatSlots {
  private busy = 0;
  private readonly waiting: Record<ChatPriority, (() => void)[]> = { interactive: [], batch: [] };

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a slot limit is a whole number of 1 or more, got ${limit}`);
  }

  /** Requests running now, and waiting. */
  get stats(): { running: number; waiting: number } {
    return { running: this.busy, waiting: this.waiting.interactive.length + this.waiting.batch.length };
  }

  /** Runs `fn` in a slot; resolves with its result and the milliseconds spent waiting for the slot. */
  async run<T>(priority: ChatPriority, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<{ value: T; queuedMs: number }> {
    const queued = performance.now();
    await this.acquire(priority, signal);
    const queuedMs = performance.now() - queued;
    try {
      return { value: await fn(), queuedMs };
    } finally {
      this.release();
    }
  }

  private acquire(priority: ChatPriority, signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    if (this.busy < this.limit) {
      this.busy++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const queue = this.waiting[priority];
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(); // the slot was handed over by release(): busy already counts it
      };
      const onAbort = () => {
        const i = queue.indexOf(grant);
        if (i >= 0) queue.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(grant);
    });
  }

  private release(): void {
    const next = this.waiting.interactive.shift() ?? this.waiting.batch.shift();
    if (next) next();
    else this.busy--;
  }
}

/** A backend whose chat requests go through `ChatSlots`; everything else passes straight through. */
export class BoundedBackend implements ModelBackend {
  constructor(
    private readonly inner: ModelBackend,
    readonly slots: ChatSlots,
  ) {}

  get kind(): string {
    return this.inner.kind;
  }

  async chat(req: ChatRequest): Promise<ChatResult> {
    const { value, queuedMs } = await this.slots.run(req.priority ?? 'interactive', req.signal, () => this.inner.chat(req));
    return { text: value.text, stats: { ...value.stats, queuedMs: value.stats.queuedMs + queuedMs } };
  }

  hasModel(model: string): Promise<boolean> {
    return this.inner.hasModel(model);
  }

  adapterFiles(artifacts: readonly string[]): string[] | null {
    return this.inner.adapterFiles(artifacts);
  }

  has(name: string): Promise<boolean> {
    return this.inner.has(name);
  }

  publish(req: PublishRequest): Promise<void> {
    return this.inner.publish(req);
  }

  remove(name: string): Promise<void> {
    return this.inner.remove(name);
  }
}

import { Counter, Histogram, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { TurnSpans } from './services/chat.js';

/** Seconds, from a millisecond through a minute: a turn's own cost is milliseconds, the model's seconds. */
const TURN_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * What an operator scrapes from GET /metrics (HEALTH_PORT): Node's own process metrics (RSS, heap,
 * event-loop lag, GC) plus the bot's per-turn cost and the writer queue's depth. One registry per
 * app, so tests that build several apps do not share counters.
 */
export class BotMetrics {
  readonly registry = new Registry();
  private readonly overhead = new Histogram({
    name: 'persona_turn_overhead_seconds',
    help: "The bot's own time per persona turn: everything except waiting on the model (retrieval, prompt assembly, Discord sends and edits, recording).",
    buckets: TURN_BUCKETS,
    registers: [this.registry],
  });
  private readonly model = new Histogram({
    name: 'persona_turn_model_seconds',
    help: 'Time per persona turn spent waiting on the model server, queueing behind other requests included.',
    buckets: TURN_BUCKETS,
    registers: [this.registry],
  });

  constructor(sources: { writerQueueDepth: () => number; writerShed: () => number }) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'persona_writer_queue_depth',
      help: 'Log writes accepted but not yet in the database (a growing queue means the database is falling behind).',
      registers: [this.registry],
      collect() {
        this.set(sources.writerQueueDepth());
      },
    });
    new Counter({
      name: 'persona_writer_shed_total',
      help: 'Messages, persona replies and reactions not stored because the writer queue was full (WRITER_CAPACITY; the database was down or far behind).',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(sources.writerShed());
      },
    });
  }

  observeTurn(spans: TurnSpans): void {
    this.overhead.observe(spans.overheadMs / 1000);
    this.model.observe(spans.modelMs / 1000);
  }

  /** The Prometheus text exposition and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

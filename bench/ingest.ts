import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { createApp } from '../bot/app.js';
import { loggedMessages } from '../bot/db/schema.js';
import type { IncomingMessage } from '../bot/services/message-log.js';
import { snowflake, testConfig, testKeys } from '../test/support/db.js';
import { benchDatabase } from './database.js';
import type { Benchmark } from './harness.js';
import { percentile } from './harness.js';

/**
 * Ingest into real Postgres: the batched writer queue vs one INSERT per message. Both sides go
 * through the same app: the same connection pool, the same encryption, the same consent and
 * channel checks (MessageLogService.decide). Only the write path differs.
 */
export const ingestBenchmark: Benchmark = {
  name: 'ingest',
  description: 'batched writer vs one INSERT per message (real Postgres)',
  metrics: ['batched_msgs_per_s', 'per_row_msgs_per_s', 'ratio', 'accept_p99_ms'],
  async run({ smoke, log }) {
    const batchedN = smoke ? 2_000 : 100_000;
    const perRowN = smoke ? 300 : 10_000;
    const bench = await benchDatabase('ingest');
    const database = bench.database;
    const keys = testKeys();
    const app = await createApp(testConfig(), { database, keys });
    try {
      const guild = snowflake(1);
      const channel = snowflake(2);
      const users = Array.from({ length: 200 }, (_, i) => snowflake(1000 + i));
      await app.channels.set(guild, channel, true);
      for (const u of users.slice(0, 150)) await app.consent.optIn(guild, u); // a quarter never consent
      let next = 10_000_000;
      const makeMessage = (i: number): IncomingMessage => ({
        id: snowflake(next++),
        guildId: guild,
        channelId: channel,
        authorId: users[i % 150]!,
        content: `benchmark message ${i}: a typical chat line of about eighty characters, give or take a few.`,
        createdAt: new Date(),
      });

      // Batched: accept every message through the public entry point, yielding to the event loop
      // every 100 messages as a gateway would; time until the last one is committed.
      log(`batched writer: ${batchedN} messages`);
      const accept = new Float64Array(batchedN);
      const t0 = performance.now();
      for (let i = 0; i < batchedN; i++) {
        const s = performance.now();
        const pending = app.messages.onCreate(makeMessage(i));
        accept[i] = performance.now() - s;
        await pending;
        if (i % 100 === 99) await new Promise((r) => setImmediate(r));
      }
      await app.writer.drainPoint();
      const batchedSeconds = (performance.now() - t0) / 1000;
      accept.sort();

      // Per row: the same decision and encryption, then one awaited INSERT per message. Awaiting
      // each one is what keeps a per-row logger ordered (a delete must not overtake its create),
      // the guarantee the writer queue gives. For context, the same with 10 INSERTs in flight
      // (unordered) is measured too.
      const insertOne = async (msg: IncomingMessage) => {
        if (app.messages.decide(msg) !== 'stored') return;
        await database.db.insert(loggedMessages).values({
          id: msg.id, guildId: guild, channelId: channel, parentChannelId: null, authorId: msg.authorId, source: 'discord',
          replyToId: null, contentEnc: keys.encrypt(msg.content, `message:${msg.id}`), createdAt: msg.createdAt,
        });
      };
      log(`one INSERT per message, ordered: ${perRowN} messages`);
      let offset = batchedN;
      const t1 = performance.now();
      for (let i = 0; i < perRowN; i++) await insertOne(makeMessage(offset++));
      const perRowSeconds = (performance.now() - t1) / 1000;

      log(`one INSERT per message, 10 in flight (unordered): ${perRowN} messages`);
      let k = 0;
      const t2 = performance.now();
      await Promise.all(Array.from({ length: 10 }, async () => {
        while (k < perRowN) {
          k++;
          await insertOne(makeMessage(offset++));
        }
      }));
      const concurrentSeconds = (performance.now() - t2) / 1000;

      const counter = postgres(bench.url, { max: 1, onnotice: () => {} });
      const [count] = await counter`select count(*)::int as n from logged_messages`;
      await counter.end();
      if (Number(count!.n) !== batchedN + 2 * perRowN) throw new Error(`expected ${batchedN + 2 * perRowN} stored rows, found ${count!.n}`);

      const batched = batchedN / batchedSeconds;
      const perRow = perRowN / perRowSeconds;
      const concurrent = perRowN / concurrentSeconds;
      return {
        samples: batchedN,
        metrics: {
          batched_msgs_per_s: Math.round(batched),
          per_row_msgs_per_s: Math.round(perRow),
          ratio: Number((batched / perRow).toFixed(2)),
          per_row_concurrent_msgs_per_s: Math.round(concurrent),
          ratio_vs_concurrent: Number((batched / concurrent).toFixed(2)),
          accept_p50_ms: Number(percentile(accept, 50).toFixed(4)),
          accept_p99_ms: Number(percentile(accept, 99).toFixed(4)),
          accept_max_ms: Number(percentile(accept, 100).toFixed(3)),
        },
        notes: `batched: ${batchedN} msgs, batch ${app.config.writer.batchSize}/${app.config.writer.flushMs} ms, ${app.writer.stats.batches} batches; per-row baseline: ${perRowN} msgs, one awaited INSERT each (ordered, like the queue); per_row_concurrent: ${perRowN} msgs, 10 INSERTs in flight over the same 10-connection pool (unordered). Both: AES-256-GCM, consent + channel checks. Postgres: ${bench.describe}.`,
      };
    } finally {
      await app.close();
      await bench.dispose();
    }
  },
};

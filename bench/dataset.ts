import { performance } from 'node:perf_hooks';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import postgres from 'postgres';
import { CONSENT_POLICY } from '../bot/services/consent-policy.js';
import { parseCard } from '../bot/personas/card.js';
import { conversationQuery, speakerQuery } from '../bot/dataset/sources/chat-log-reader.js';
import { KeyRing } from '../bot/crypto/keyring.js';
import { snowflake } from '../test/support/db.js';
import { benchDatabase } from './database.js';
import { runBuildWorker } from './dataset-worker.js';
import type { Benchmark } from './harness.js';
import { seededRandom } from '../test/support/random.js';

/**
 * The dataset build over 1,000,000 generated logged messages in real Postgres: many users and
 * channels, ~3% of messages from the card's two speakers, ~5% in persona conversations (each
 * with a stored persona reply, many rated), 80% of users consented. Measured: the whole build
 * (stream both chat-log sources, decrypt, clean, dedupe, cap, split, store the encrypted
 * snapshot), its peak RSS, and the floor: `COPY (<the build's own two queries>) TO STDOUT`,
 * read out and discarded by the same client library.
 */

const WORDS = 'the a garden tomato glow night star moon jelly radish rain sun leaf seed grow water friend hello curious little big green blue soft warm quiet happy today tomorrow why how what maybe really very planet ship bubble snack crunchy library roof greenhouse snail pickle kale fern rose bean'.split(' ');

const CARD = `---
name: Glim
greeting: "Hello hello!"
speakers: ["${snowflake(500_001)}", "${snowflake(500_002)}"]
---
## Personality
Glim is a curious little gardener from a bubble planet.

## Example dialogue
{{user}}: Who are you?
{{char}}: I'm Glim, the gardener from the bubble planet! What brings you to my greenhouse?
`;

export const datasetBenchmark: Benchmark = {
  name: 'dataset',
  description: 'dataset build from 1M logged messages (real Postgres) vs COPY of the rows it needs',
  metrics: ['seconds_1m', 'peak_rss_mb', 'copy_floor_ratio'],
  async run({ smoke, log }) {
    const N = smoke ? 5_000 : 1_000_000;
    // Bulk-loaded test data, so the cluster runs without fsync (the build only reads, then stores one snapshot).
    const bench = await benchDatabase('dataset', { durable: false, poolMax: 4 });
    const { url } = bench;
    const raw = postgres(url, { max: 2, onnotice: () => {} });
    const keyText = { messageKey: KeyRing.generateKey(), hmacKey: KeyRing.generateKey() };
    const keys = new KeyRing(keyText);
    const card = parseCard('bench/glim.md', 'glim', CARD);
    try {
      // ---- generate ----
      const t0 = performance.now();
      const rand = seededRandom(42);
      const guild = snowflake(1);
      const users = Array.from({ length: Math.max(50, Math.round(N / 250)) }, (_, i) => snowflake(100_000 + i));
      const channels = Array.from({ length: Math.max(10, Math.round(N / 5000)) }, (_, i) => snowflake(200_000 + i));
      const threads = Array.from({ length: Math.max(10, Math.round(N / 2000)) }, (_, i) => snowflake(300_000 + i));
      const conversationOf = threads.map(() => crypto.randomUUID());
      const consented = users.filter(() => rand() < 0.8);
      const speakers = card.speakers;
      const text = (n: number) => Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
      const lastInChannel = new Map<string, string>();
      const replies: { id: string; conv: string; channel: string; inReplyTo: string; at: number; content: string; up: number; down: number }[] = [];
      let nextId = 1_000_000;
      const base = Date.UTC(2026, 0, 1);
      const esc = (buf: Buffer) => `\\\\x${buf.toString('hex')}`;
      function* messageRows(): Generator<string> {
        for (let i = 0; i < N; i++) {
          const id = snowflake(nextId++);
          const at = base + i * 200;
          const r = rand();
          let channel: string;
          let author: string;
          let parent: string | null = null;
          if (r < 0.05) {
            // a user's turn in a persona conversation (the persona reply is written below)
            const t = Math.floor(rand() * threads.length);
            channel = threads[t]!;
            parent = channels[t % channels.length]!;
            author = consented[Math.floor(rand() * consented.length)]!;
            replies.push({ id: snowflake(nextId++), conv: conversationOf[t]!, channel, inReplyTo: id, at: at + 50, content: `Oh! ${text(8 + Math.floor(rand() * 20))}. Hello hello!`, up: rand() < 0.6 ? 1 + Math.floor(rand() * 3) : 0, down: rand() < 0.1 ? 3 : 0 });
          } else {
            channel = channels[Math.floor(rand() * channels.length)]!;
            author = r < 0.08 ? speakers[Math.floor(rand() * speakers.length)]! : users[Math.floor(rand() ** 2 * users.length)]!;
          }
          const replyTo = rand() < 0.1 ? (lastInChannel.get(channel) ?? null) : null;
          lastInChannel.set(channel, id);
          const content = `${text(4 + Math.floor(rand() * 18))}${rand() < 0.5 ? '?' : '.'}`;
          yield `${id}\t${guild}\t${channel}\t${parent ?? '\\N'}\t${author}\tdiscord\t${replyTo ?? '\\N'}\t${esc(keys.encrypt(content, `message:${id}`))}\t${new Date(at).toISOString()}\n`;
        }
      }
      const batched = function* (rows: Generator<string>) {
        let buf = '';
        for (const r of rows) {
          buf += r;
          if (buf.length > 1 << 16) {
            yield buf;
            buf = '';
          }
        }
        if (buf) yield buf;
      };
      log(`generating ${N} logged messages (COPY FROM STDIN)`);
      await pipeline(Readable.from(batched(messageRows())), await raw`copy logged_messages (id, guild_id, channel_id, parent_channel_id, author_id, source, reply_to_id, content_enc, created_at) from stdin`.writable());
      await pipeline(
        Readable.from(batched((function* () {
          for (const p of replies) {
            yield `${p.id}\t${p.conv}\t${guild}\t${p.channel}\tglim\tbench\t${keys.userHmac('x')}\t${p.inReplyTo}\t${esc(keys.encrypt(p.content, `reply:${p.id}`))}\t${new Date(p.at).toISOString()}\n`;
          }
        })())),
        await raw`copy persona_replies (message_id, conversation_id, guild_id, channel_id, persona_slug, model, user_hmac, in_reply_to_id, content_enc, created_at) from stdin`.writable(),
      );
      await pipeline(
        Readable.from(batched((function* () {
          for (const p of replies) {
            for (let k = 0; k < p.up; k++) yield `${p.id}\tup${k}\t👍\t${guild}\n`;
            for (let k = 0; k < p.down; k++) yield `${p.id}\tdown${k}\t👎\t${guild}\n`;
          }
        })())),
        await raw`copy reactions (message_id, user_hmac, emoji, guild_id) from stdin`.writable(),
      );
      const consentRows = [...consented, ...speakers].map((u) => ({ guild_id: guild, user_id: u, status: 'in', policy_version: CONSENT_POLICY.version }));
      for (let i = 0; i < consentRows.length; i += 5000) await raw`insert into consents ${raw(consentRows.slice(i, i + 5000))} on conflict do nothing`;
      await raw`analyze`;
      const genSeconds = (performance.now() - t0) / 1000;
      const replyCount = replies.length;
      replies.length = 0; // the generator's bookkeeping is not the build's memory
      log(`generated in ${genSeconds.toFixed(1)} s (${replyCount} persona replies)`);

      // ---- floor: COPY the rows the build reads ----
      const settings = { slug: card.slug, speakers, policyVersion: CONSENT_POLICY.version, allowDiscord: true, maxContextTurns: 8, logScope: 'every-server' as const };
      const copyOut = async (q: string) => {
        let bytes = 0;
        await pipeline(await raw.unsafe(`copy (${q}) to stdout`).readable(), new Writable({ write(chunk: Buffer, _e, cb) { bytes += chunk.length; cb(); } }));
        return bytes;
      };
      const floorRuns: number[] = [];
      let floorBytes = 0;
      for (let i = 0; i < 2; i++) {
        const f0 = performance.now();
        floorBytes = (await copyOut(conversationQuery(settings))) + (await copyOut(speakerQuery(settings)!));
        floorRuns.push((performance.now() - f0) / 1000);
      }
      const floorSeconds = Math.min(...floorRuns);
      log(`COPY floor: ${floorSeconds.toFixed(2)} s, ${(floorBytes / 2 ** 20).toFixed(0)} MiB`);

      // ---- the build, in a process of its own (its peak RSS is the build's, not the generator's) ----
      const out = await runBuildWorker({ url, keys: keyText, cardText: CARD }, log);
      const buildSeconds = out.seconds;
      const readSeconds = out.readSeconds;
      const peak = out.maxRssBytes;
      const rssBefore = out.rssBeforeBytes;
      const build = { stats: out.stats };
      const st = build.stats;
      log(`build: ${buildSeconds.toFixed(2)} s (reading ${readSeconds.toFixed(2)} s), ${st.lines} lines, peak RSS ${(peak / 2 ** 20).toFixed(0)} MB`);
      return {
        samples: N,
        metrics: {
          seconds_1m: Number(((buildSeconds * 1_000_000) / N).toFixed(2)),
          peak_rss_mb: Math.round(peak / 2 ** 20),
          copy_floor_ratio: Number((buildSeconds / floorSeconds).toFixed(2)),
          build_seconds: Number(buildSeconds.toFixed(2)),
          read_phase_seconds: Number(readSeconds.toFixed(2)),
          store_seconds: Number(out.storeSeconds.toFixed(2)),
          copy_floor_seconds: Number(floorSeconds.toFixed(3)),
          rss_before_mb: Math.round(rssBefore / 2 ** 20),
          rss_growth_mb: Math.round((peak - rssBefore) / 2 ** 20),
          lines: st.lines,
          chat_log_lines: st.bySource.chat_log,
          // What a job with this dataset sends the trainer (its TRAINER_MAX_BODY_MB must be well above it).
          trainer_request_mb: Number((out.jsonBytes / 2 ** 20).toFixed(1)),
        },
        notes:
          `${N} logged messages (${users.length} users, 80% consented; ${channels.length} channels; ${threads.length} persona threads with ${replyCount} stored replies; ~3% of messages from 2 speakers), generated in ${genSeconds.toFixed(0)} s by COPY FROM STDIN. ` +
          `Build = stream both chat-log sources (cursor, 1000-row batches), decrypt, clean, spill finished lines to an encrypted temp file, dedupe (MinHash), per-user cap, split, read the lines back in order and store the encrypted snapshot (${st.lines} lines; removed ${JSON.stringify(st.removed)}). No synthetic dialogues (no model server in the benchmark). ` +
          `Floor = COPY (<the build's two SELECTs>) TO STDOUT through postgres.js, best of 2 (${(floorBytes / 2 ** 20).toFixed(0)} MiB). seconds_1m scales the build time to 1M messages linearly. The build runs in a child process (bench/dataset-worker.ts: node --import tsx, loading the database client and the builder as \`npm run dataset\` does, not the data generator or the test helpers; NODE_OPTIONS=${process.env.NODE_OPTIONS || '(none: default V8 heap sizing)'}) that opens the database, builds and stores; peak_rss_mb is that process's maxRSS (getrusage), including the ${Math.round(rssBefore / 2 ** 20)} MB it has at start (rss_growth_mb is the rest).`,
      };
    } finally {
      await raw.end();
      await bench.dispose();
    }
  },
};

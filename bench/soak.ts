import { sql } from 'drizzle-orm';
import { lifecycleViolations } from '../test/support/scan.js';
import type { RecordedRequest } from '../test/support/local-discord/index.js';
import { botOnLocalDiscord, rssKb, scrapeBot } from './discord.js';
import type { Benchmark } from './harness.js';

const EXECUTE = 'POST /webhooks/:webhookId/:token';

/** Least-squares slope of y over x. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const num = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/**
 * The soak: 100 persona conversations at once (each opens a new thread every few turns, so
 * thousands are created over the run and the bounded in-memory state is exercised), plus a
 * steady stream of logged messages, through the local Discord against the real bot process on
 * real Postgres and the real model, for 10 minutes. Counts errors (a failed turn, an apology or
 * "busy" reply, a /persona chat that did not open a thread), messages accepted but not stored,
 * RSS growth after warm-up, the slope of the heap's low points (what survives GC), and ends with a
 * decrypting scan for rows that break the data lifecycle (non-consented users, logging-off channels).
 */
export const soakBenchmark: Benchmark = {
  name: 'soak',
  description: '100 concurrent conversations (≥2,000 created) + 50 logged messages/s for 10 min through the local Discord: errors, lost messages, RSS growth, heap slope, lifecycle scan',
  metrics: ['errors', 'lost_messages', 'rss_growth_pct', 'heap_low_slope_mb_per_min', 'scan_violations', 'conversations_created'],
  async run({ smoke, log }) {
    const concurrent = smoke ? 4 : Number(process.env.BENCH_SOAK_CONVERSATIONS ?? 100);
    const durationMs = (smoke ? 40 : Number(process.env.BENCH_SOAK_MINUTES ?? 10) * 60) * 1000;
    const loggedPerS = smoke ? 10 : 50;
    const turnsPerThread = 3;
    const started: Array<() => unknown> = [];
    try {
      const { discord, bot, healthPort } = await botOnLocalDiscord(started, {
        CHAT_MAX_REPLY_TOKENS: '8',
        CHAT_CONTEXT_TOKENS: '256',
        CHAT_RATE_PER_MINUTE: '600',
        CHAT_LORE_K: '0',
        // Below the number of conversations the run creates, so eviction happens inside the run.
        CHAT_HISTORY_CONVERSATIONS: smoke ? '8' : '500',
        BENCH_OLLAMA_PARALLEL: '4',
        LOG_LEVEL: 'info',
      });
      const { guildId, textChannelId, adminUserId } = discord.defaults;
      const quiet = discord.createChannel(guildId, { name: 'quiet', type: 0 }).id; // logging stays off here
      const ask = async (o: Parameters<typeof discord.userRunsCommand>[0]) => discord.userRunsCommand(o).response(30_000);
      await ask({ name: 'logging', subcommand: 'on', userId: adminUserId, channelId: textChannelId });
      const chatters = Array.from({ length: concurrent }, (_, i) => discord.addMember(guildId, { username: `chatter${i}` }).id);
      const loggers = Array.from({ length: 20 }, (_, i) => discord.addMember(guildId, { username: `logger${i}` }).id);
      const strangers = Array.from({ length: 5 }, (_, i) => discord.addMember(guildId, { username: `stranger${i}` }).id); // never opt in
      for (const u of loggers) await ask({ name: 'consent', subcommand: 'opt-in', userId: u, channelId: textChannelId });

      const errors: string[] = [];
      let created = 0;
      let turns = 0;
      const deadline = Date.now() + durationMs;
      const warmupEnd = Date.now() + durationMs * 0.2;

      /** One conversation slot: a thread, a few turns, then a new thread, until the run ends. */
      const slot = async (i: number) => {
        const userId = chatters[i]!;
        while (Date.now() < deadline) {
          const seq = discord.requests.length;
          discord.userRunsCommand({ name: 'persona', subcommand: 'chat', options: { name: 'Pip' }, userId, channelId: textChannelId });
          const thread = await discord.waitForRequest((r) => r.route === 'POST /channels/:channelId/threads' && r.seq > seq, 120_000, seq).catch(() => null);
          if (!thread || thread.status !== 201 && thread.status !== 200) {
            errors.push(`conversation ${i}: no thread opened`);
            continue;
          }
          created++;
          const threadId = (thread.response as { id: string }).id;
          for (let k = 0; k < turnsPerThread && Date.now() < deadline; k++) {
            const before = discord.requests.length;
            discord.userSendsMessage({ channelId: threadId, authorId: userId, content: `Hi Pip, turn ${k} from chatter ${i}` });
            const got = await discord
              .waitForRequest(
                (r: RecordedRequest) => (r.route === EXECUTE && r.query.thread_id === threadId) || (r.route === 'POST /channels/:channelId/messages' && r.params.channelId === threadId),
                300_000,
                before,
              )
              .catch(() => null);
            if (!got || got.route !== EXECUTE || got.status !== 200) errors.push(`conversation ${i} turn ${k}: ${got ? JSON.stringify(got.body).slice(0, 200) : 'no reply'}`);
            else turns++;
          }
        }
      };

      /** The logged stream: consented members in a logging channel (stored), plus strangers and a logging-off channel (never stored). */
      const expected = new Set<string>();
      const forbidden = new Set<string>();
      let sent = 0;
      const logStream = async () => {
        const t0 = Date.now();
        while (Date.now() < deadline) {
          const due = Math.floor(((Date.now() - t0) / 1000) * loggedPerS);
          for (; sent < due; sent++) {
            const kind = sent % 10;
            if (kind === 8) forbidden.add(discord.userSendsMessage({ channelId: textChannelId, authorId: strangers[sent % strangers.length]!, content: `stranger words ${sent}` }).id);
            else if (kind === 9) forbidden.add(discord.userSendsMessage({ channelId: quiet, authorId: loggers[sent % loggers.length]!, content: `quiet words ${sent}` }).id);
            else expected.add(discord.userSendsMessage({ channelId: textChannelId, authorId: loggers[sent % loggers.length]!, content: `logged words ${sent}` }).id);
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      };

      const pid = bot.child.pid!;
      const rss: { t: number; kb: number }[] = [];
      const heap: { t: number; mb: number }[] = [];
      const sampler = setInterval(() => {
        rss.push({ t: Date.now(), kb: rssKb(pid) });
        void scrapeBot(healthPort).then((m) => heap.push({ t: Date.now(), mb: m.heapUsedMb }), () => {});
      }, smoke ? 1000 : 5000);
      log(`soak: ${concurrent} conversations + ${loggedPerS} logged messages/s for ${durationMs / 1000} s`);
      await Promise.all([...chatters.map((_, i) => slot(i)), logStream()]);
      clearInterval(sampler);

      // Drain: everything accepted must be stored.
      const drainUntil = Date.now() + 60_000;
      const storedIds = async () => new Set((await bot.database.rows<{ id: string }>(sql`select id from logged_messages`)).map((r) => r.id));
      let stored = await storedIds();
      while ([...expected].some((id) => !stored.has(id)) && Date.now() < drainUntil) {
        await new Promise((r) => setTimeout(r, 500));
        stored = await storedIds();
      }
      const lost = [...expected].filter((id) => !stored.has(id)).length;
      const leaked = [...forbidden].filter((id) => stored.has(id)).length;
      const violations = (await lifecycleViolations(bot.database, bot.keys)).length + leaked;

      const afterWarmup = rss.find((s) => s.t >= warmupEnd) ?? rss[0]!;
      const last = rss.at(-1)!;
      // The heap's low points (one per window of 6 samples) are what survived collection: their slope is the leak signal.
      const lows: { x: number; y: number }[] = [];
      const measured = heap.filter((h) => h.t >= warmupEnd);
      for (let i = 0; i + 6 <= measured.length; i += 6) {
        const w = measured.slice(i, i + 6);
        const low = w.reduce((a, b) => (b.mb < a.mb ? b : a));
        lows.push({ x: low.t / 60_000, y: low.mb });
      }
      if (errors.length > 0) log(`errors (first 5): ${errors.slice(0, 5).join(' | ')}`);
      return {
        samples: turns,
        metrics: {
          errors: errors.length,
          lost_messages: lost,
          rss_growth_pct: Number((((last.kb - afterWarmup.kb) / afterWarmup.kb) * 100).toFixed(2)),
          heap_low_slope_mb_per_min: Number(slope(lows).toFixed(3)),
          scan_violations: violations,
          conversations_created: created,
          turns,
          logged_messages_sent: sent,
          rss_after_warmup_mb: Math.round(afterWarmup.kb / 1024),
          rss_end_mb: Math.round(last.kb / 1024),
          heap_max_mb: Number(Math.max(0, ...heap.map((h) => h.mb)).toFixed(1)),
          writer_shed: Number(/^persona_writer_shed_total (\d+)/m.exec(await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text())?.[1] ?? NaN),
        },
        notes: `${concurrent} conversation slots at once, each opening a thread with /persona chat, taking ${turnsPerThread} turns, then opening the next (CHAT_HISTORY_CONVERSATIONS ${smoke ? 8 : 500}, so eviction runs inside the run); ${loggedPerS} messages/s in a logging channel (8 in 10 from consented members, 1 from a member who never opted in, 1 in a channel with logging off) for ${durationMs / 1000} s. Real bot process, real Postgres, Pip on the real model (8 reply tokens, Ollama NUM_PARALLEL 4 at low priority). errors = failed or apologising turns + /persona chat without a thread; lost = consented messages sent but not stored after a 60 s drain; RSS growth from the end of the first 20% to the end; heap_low_slope = slope of the lowest heap-in-use sample of each 6-sample window after warm-up (what survives GC); scan_violations = lifecycle scan findings + stored messages of non-consented users or logging-off channels.`,
      };
    } finally {
      for (const stop of started.reverse()) await stop();
    }
  },
};

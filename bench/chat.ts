import { sql } from 'drizzle-orm';
import { createApp } from '../bot/app.js';
import { snowflake, testConfig, testKeys } from '../test/support/db.js';
import { benchOllama } from '../test/support/ollama.js';
import { recordingVoice } from '../test/support/voice.js';
import { benchDatabase } from './database.js';
import type { Benchmark } from './harness.js';
import { percentile } from './harness.js';

/** Persona-ish words the turns ask about (they also appear in the lore). */
export const WORDS = 'moon jelly starlight radish garden shed observatory ship seed pod cabbage rose scarf village cat agent planet bubble house lantern river mill orchard'.split(' ');

/**
 * Synthetic lore of a given size, shaped like real text: each chunk 20-40 words drawn from a
 * Zipf-distributed vocabulary of 5,000 words (plus the persona words above, now and then), so a
 * query matches a realistic share of the chunks rather than nearly all of them.
 */
export function syntheticLore(n: number, seed: number): { section: string; content: string }[] {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const vocab = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}x`);
  // Zipf(1.1) by inverse transform over precomputed cumulative weights.
  const weights = vocab.map((_, i) => 1 / (i + 1) ** 1.1);
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  weights.reduce((acc, w, i) => (cumulative[i] = acc + w / total), 0);
  const zipfWord = () => {
    const x = rnd();
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return vocab[lo]!;
  };
  return Array.from({ length: n }, (_, i) => ({
    section: `Lore ${i % 50}`,
    content: Array.from({ length: 20 + Math.floor(rnd() * 20) }, () => (rnd() < 0.05 ? WORDS[Math.floor(rnd() * WORDS.length)]! : zipfWord())).join(' ') + ` (fact ${i}).`,
  }));
}

/**
 * Bot-side overhead per chat turn (retrieval, prompt assembly, recording: the bot's own spans,
 * everything but waiting on the model), with 1k and 10k lore chunks on real Postgres and the
 * real model; retrieval latency alone at 10k; and Ollama's persona-switch cost.
 */
export const chatBenchmark: Benchmark = {
  name: 'chat',
  description: 'bot overhead per turn with 1k/10k lore chunks, retrieval at 10k, persona-switch TTFT',
  metrics: ['overhead_p50_ms', 'overhead_p99_ms', 'retrieval_p99_ms_10k', 'switch_ttft_ratio'],
  async run({ smoke, log }) {
    const turns = smoke ? 8 : 200;
    const searches = smoke ? 50 : 2000;
    const ollama = benchOllama();
    const bench = await benchDatabase('chat');
    const database = bench.database;
    const app = await createApp(
      testConfig({ OLLAMA_HOST: ollama.host, OLLAMA_BASE_MODEL: ollama.baseModel, CHAT_MAX_REPLY_TOKENS: '8', CHAT_RATE_PER_MINUTE: '600', CHAT_LORE_K: '3' }),
      { database, keys: testKeys() },
    );
    const metrics: Record<string, number> = {};
    try {
      const card = app.personas.get('glordon');
      const guild = snowflake(1);
      await app.channels.set(guild, snowflake(2), true);
      for (const size of [1000, 10_000]) {
        const label = size === 1000 ? '1k' : '10k';
        await app.lore.replace(card.slug, `bench-${size}`, syntheticLore(size, size));
        await app.database.rows(sql`analyze lore_chunks`);
        log(`${label} lore chunks: ${turns} turns against the real model (replies capped at 8 tokens)`);
        const overhead: number[] = [];
        const model: number[] = [];
        let conv = await app.chat.open({ guildId: guild, channelId: snowflake(3), persona: card, channelIsNsfw: false });
        for (let i = 0; i < turns; i++) {
          if (i % 20 === 19) conv = await app.chat.open({ guildId: guild, channelId: snowflake(3), persona: card, channelIsNsfw: false });
          const user = { id: snowflake(1000 + (i % 50)), name: 'Bench' };
          if (i % 2 === 0) await app.consent.optIn(guild, user.id); // half the users consented: both recording paths
          const text = `Tell me about the ${WORDS[i % WORDS.length]} and the ${WORDS[(i * 7) % WORDS.length]}.`;
          const r = await app.chat.respond({ conversation: conv, user, text, voice: recordingVoice(), parentChannelId: null });
          if (i >= 2) {
            overhead.push(r.spans.overheadMs); // the first turns warm caches and the runner
            model.push(r.spans.modelMs);
          }
        }
        overhead.sort((a, b) => a - b);
        model.sort((a, b) => a - b);
        metrics[`overhead_p50_ms_${label}`] = round(percentile(overhead, 50));
        metrics[`overhead_p99_ms_${label}`] = round(percentile(overhead, 99));
        metrics[`model_p50_ms_${label}`] = round(percentile(model, 50));

        const retrieval: number[] = [];
        for (let i = 0; i < searches; i++) {
          const q = `what about ${WORDS[i % WORDS.length]} ${WORDS[(i * 3 + 1) % WORDS.length]} ${WORDS[(i * 5 + 2) % WORDS.length]}?`;
          const s = performance.now();
          await app.lore.search(card.slug, q, 3);
          retrieval.push(performance.now() - s);
        }
        retrieval.sort((a, b) => a - b);
        metrics[`retrieval_p50_ms_${label}`] = round(percentile(retrieval, 50));
        metrics[`retrieval_p99_ms_${label}`] = round(percentile(retrieval, 99));
      }
      // The headline figures: the worse of the two lore sizes.
      metrics.overhead_p50_ms = Math.max(metrics.overhead_p50_ms_1k!, metrics.overhead_p50_ms_10k!);
      metrics.overhead_p99_ms = Math.max(metrics.overhead_p99_ms_1k!, metrics.overhead_p99_ms_10k!);

      log('persona switch: two adapter models on one base, alternating vs staying');
      const { measureSwitchCost } = await import('./chat-switch.js');
      const sw = await measureSwitchCost({ host: ollama.host, baseModel: ollama.baseModel, rounds: smoke ? 4 : 20, log });
      Object.assign(metrics, sw.metrics);
      return {
        samples: turns * 2,
        metrics,
        notes: `Real Postgres (${bench.describe}), real Ollama (${ollama.baseModel}). Overhead = a turn's wall time minus the time waiting on the model (retrieval + assembly + recording through the writer queue); ${turns} turns per lore size, the first 2 excluded as warm-up; half the users consented (reply text encrypted and queued), half not (metadata only). Lore: 20-40 words per chunk from a Zipf-distributed 5,000-word vocabulary plus persona words. Retrieval: ${searches} full-text queries of 3 persona words, k=3. ${sw.notes}`,
      };
    } finally {
      await app.close();
      await bench.dispose();
    }
  },
};

function round(x: number): number {
  return Number(x.toFixed(3));
}

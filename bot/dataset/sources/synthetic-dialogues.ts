import type { ChatModel } from '../../inference/ports.js';
import { chunkSection } from '../../personas/lore-chunks.js';
import { loreNote, systemPrompt } from '../../personas/prompt.js';
import type { PersonaCard } from '../../personas/card.js';
import { breaksCharacter } from '../../personas/fit.js';
import { DatasetSourceError } from '../errors.js';
import { GenerationCache } from './generation-cache.js';

/**
 * Synthetic in-character dialogues, one or more per lore chunk, written by the base model:
 * first a visitor's question about the chunk, then the persona's answer with the chunk in its
 * system prompt. Each dialogue is cached on disk under a sha256 of (card hash, chunk, model,
 * settings, index), rejections included, so a rebuild reads the same dialogues back: they are
 * build inputs, and the build stays deterministic and cheap.
 */

export interface SyntheticSettings {
  model: string;
  /** Dialogues per lore chunk (0 turns synthetic dialogues off). */
  perChunk: number;
  temperature: number;
  /** Most tokens for each generated question and answer. */
  numPredict: number;
  cacheDir: string;
}

export type SyntheticEntry =
  | { ok: true; question: string; answer: string; section: string; chunk: number; index: number }
  | { ok: false; reason: string; section: string; chunk: number; index: number };

export interface SyntheticResult {
  entries: SyntheticEntry[];
  generated: number;
  cached: number;
}

const CACHE_VERSION = 1;

export function syntheticKey(card: PersonaCard, section: string, chunk: string, index: number, s: SyntheticSettings): string {
  return GenerationCache.key({ v: CACHE_VERSION, card: card.hash, section, chunk, index, model: s.model, temperature: s.temperature, numPredict: s.numPredict });
}

export async function syntheticDialogues(
  card: PersonaCard,
  llm: ChatModel | undefined,
  s: SyntheticSettings,
  onProgress?: (done: number, total: number) => void,
): Promise<SyntheticResult> {
  const jobs = card.lore.flatMap((sec) => chunkSection(sec).map((chunk, n) => ({ section: sec.title, chunk, n })));
  const total = jobs.length * s.perChunk;
  const cache = new GenerationCache(s.cacheDir, 'dialogue', isStored);
  const entries: SyntheticEntry[] = [];
  let generated = 0;
  let cached = 0;
  for (const job of jobs) {
    for (let index = 0; index < s.perChunk; index++) {
      const key = syntheticKey(card, job.section, job.chunk, index, s);
      let stored = await cache.read(key);
      if (stored) cached++;
      else {
        if (!llm) throw new DatasetSourceError('synthetic dialogues', `no model server configured and no cached dialogue at ${cache.file(key)}`);
        stored = await generate(card, llm, s, job.section, job.chunk, Number.parseInt(key.slice(0, 8), 16) & 0x7fffffff);
        await cache.write(key, stored);
        generated++;
      }
      entries.push({ ...stored, section: job.section, chunk: job.n, index });
      onProgress?.(entries.length, total);
    }
  }
  return { entries, generated, cached };
}

type Stored = { ok: true; question: string; answer: string } | { ok: false; reason: string };

function isStored(v: unknown): v is Stored {
  const o = v as Partial<{ ok: unknown; question: unknown; answer: unknown; reason: unknown }> | null;
  if (typeof o !== 'object' || o === null) return false;
  return (o.ok === true && typeof o.question === 'string' && typeof o.answer === 'string') || (o.ok === false && typeof o.reason === 'string');
}

async function generate(card: PersonaCard, llm: ChatModel, s: SyntheticSettings, section: string, chunk: string, seed: number): Promise<Stored> {
  const q = await llm.chat({
    model: s.model,
    messages: [
      { role: 'system', content: 'You write one short question. Reply with only the question.' },
      { role: 'user', content: `${card.name}'s ${section.toLowerCase()}:\n${chunk}\n\nWrite one short question a curious visitor could ask ${card.name} about this.` },
    ],
    sampling: { temperature: s.temperature, maxTokens: s.numPredict, seed },
    priority: 'batch',
  });
  const question = cleanQuestion(q.text);
  if (!question) return { ok: false, reason: 'empty' };
  const a = await llm.chat({
    model: s.model,
    messages: [
      { role: 'system', content: `${systemPrompt(card, 'friend')}\n\n${loreNote(card, [{ section, content: chunk, rank: 1 }], 'friend')}` },
      { role: 'user', content: question },
    ],
    sampling: { temperature: s.temperature, maxTokens: s.numPredict, seed: seed + 1 },
    priority: 'batch',
  });
  const answer = a.text.trim();
  const broken = breaksCharacter(card, answer);
  if (broken) return { ok: false, reason: broken };
  return { ok: true, question, answer };
}

function cleanQuestion(text: string): string {
  const line = text
    .split('\n')
    .map((l) => l.trim().replace(/^(?:question|q|visitor|user)\s*[:-]\s*/i, '').replace(/^["'“]+|["'”]+$/g, '').trim())
    .find((l) => l.length > 0);
  return line ?? '';
}

import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ChatModel } from '../../inference/ports.js';
import { chunkSection } from '../../personas/lore-chunks.js';
import { loreNote, systemPrompt } from '../../personas/prompt.js';
import type { PersonaCard } from '../../personas/card.js';
import { DatasetSourceError } from '../errors.js';

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
  return createHash('sha256')
    .update(JSON.stringify({ v: CACHE_VERSION, card: card.hash, section, chunk, index, model: s.model, temperature: s.temperature, numPredict: s.numPredict }))
    .digest('hex');
}

export async function syntheticDialogues(
  card: PersonaCard,
  llm: ChatModel | undefined,
  s: SyntheticSettings,
  onProgress?: (done: number, total: number) => void,
): Promise<SyntheticResult> {
  const jobs = card.lore.flatMap((sec) => chunkSection(sec).map((chunk, n) => ({ section: sec.title, chunk, n })));
  const total = jobs.length * s.perChunk;
  const entries: SyntheticEntry[] = [];
  let generated = 0;
  let cached = 0;
  if (total > 0) await mkdir(s.cacheDir, { recursive: true });
  for (const job of jobs) {
    for (let index = 0; index < s.perChunk; index++) {
      const key = syntheticKey(card, job.section, job.chunk, index, s);
      const file = path.join(s.cacheDir, `${key}.json`);
      let stored = await readCache(file);
      if (stored) cached++;
      else {
        if (!llm) throw new DatasetSourceError('synthetic dialogues', `no model server configured and no cached dialogue at ${file}`);
        stored = await generate(card, llm, s, job.section, job.chunk, Number.parseInt(key.slice(0, 8), 16) & 0x7fffffff);
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, `${JSON.stringify(stored)}\n`);
        await rename(tmp, file);
        generated++;
      }
      entries.push(stored.ok ? { ...stored, section: job.section, chunk: job.n, index } : { ...stored, section: job.section, chunk: job.n, index });
      onProgress?.(entries.length, total);
    }
  }
  return { entries, generated, cached };
}

type Stored = { ok: true; question: string; answer: string } | { ok: false; reason: string };

async function readCache(file: string): Promise<Stored | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DatasetSourceError(`synthetic cache ${file}`, (err as Error).message);
  }
  try {
    const v = JSON.parse(text) as Stored;
    if (v.ok === true && typeof v.question === 'string' && typeof v.answer === 'string') return v;
    if (v.ok === false && typeof v.reason === 'string') return v;
  } catch {
    /* reported below */
  }
  throw new DatasetSourceError(`synthetic cache ${file}`, 'is not a cached dialogue (malformed JSON); delete the file to regenerate it');
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

/** Why a generated answer breaks character, or null: empty, "as an AI", a wrong name, a forbidden marker. */
export function breaksCharacter(card: PersonaCard, answer: string): string | null {
  const text = answer.trim();
  if (!text) return 'empty';
  if (/\bas an? (?:ai|artificial intelligence)\b|\blanguage model\b|\bi(?:'m| am) an? (?:ai|assistant|chatbot|bot)\b/i.test(text)) return 'as_an_ai';
  const lower = text.toLowerCase();
  if (card.markers.forbid.some((f) => lower.includes(f.toLowerCase()))) return 'forbidden_marker';
  const own = new Set(card.name.toLowerCase().split(/\s+/));
  const claimed = text.match(/\b(?:my name is|call me|i am|i'm)\s+([A-Z][\p{L}'-]+)/u)?.[1];
  if (claimed && !own.has(claimed.toLowerCase()) && !/^(?:so|not|here|glad|happy|sorry|sure|very|just|from|a|an|the|your|in|on|at|always|really|also|still|only|curious|excited)$/i.test(claimed)) {
    return 'wrong_name';
  }
  const speaker = text.match(/^([A-Z][\p{L}'-]+):/u)?.[1];
  if (speaker && !own.has(speaker.toLowerCase())) return 'wrong_name';
  return null;
}

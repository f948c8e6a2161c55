import type { ChatMessage, ChatModel } from '../../inference/ports.js';
import type { PersonaCard, Turn } from '../../personas/card.js';
import { bestOf, withDeclaredEnding } from '../../personas/fit.js';
import { buildPrompt } from '../../personas/prompt.js';
import { DatasetSourceError } from '../errors.js';
import type { ProbeGuard } from '../leakage.js';
import type { DatasetSettings } from '../settings.js';
import { EVERYDAY_QUESTIONS, FOLLOW_UPS, loreQuestions } from '../question-bank.js';
import { GenerationCache } from './generation-cache.js';

/**
 * Teacher dialogues: the bulk of a persona's dataset when it has no chat logs. User turns come
 * from the question bank (everyday questions, questions about each lore section, follow-ups);
 * each assistant turn is sampled `bestOf` times from the teacher model, given the prompt the
 * persona is served with (system prompt, example dialogues, the lore the question is about), and
 * the candidate that best fits the card (personas/fit.ts, the score evaluation uses too) is kept.
 * A candidate that breaks character or says a card-forbidden phrase is never kept; the declared
 * ending is added to a kept training reply that lacks it. Every dialogue is cached (GenerationCache).
 */

export interface TeacherSettings {
  /** The model on the configured backend that writes the replies (DATASET_TEACHER_MODEL). */
  model: string;
  /** How many dialogues to plan (0: none). Each is one training line if it is kept. */
  dialogues: number;
  /** Candidates sampled per assistant turn. */
  bestOf: number;
  /** Most tokens per reply. */
  maxTokens: number;
  /** Share of dialogues with a follow-up exchange (0-1). */
  multiTurnShare: number;
  /** Sampling temperature (the card's, by default). */
  temperature: number;
  /** Replies generated at once (the model server queues the rest behind live chat). */
  concurrency: number;
  /** The context window the serving prompt is budgeted to (CHAT_CONTEXT_TOKENS). */
  contextTokens: number;
  cacheDir: string;
}

/** The teacher settings of a build: the dataset settings', the card's temperature. */
export function teacherSettingsFor(
  card: PersonaCard,
  s: Pick<DatasetSettings, 'teacherDialogues' | 'teacherBestOf' | 'teacherMaxTokens' | 'teacherMultiTurnShare' | 'teacherConcurrency' | 'syntheticTemperature'>,
  where: { model: string; contextTokens: number; cacheDir: string },
): TeacherSettings {
  return {
    model: where.model,
    dialogues: s.teacherDialogues,
    bestOf: s.teacherBestOf,
    maxTokens: s.teacherMaxTokens,
    multiTurnShare: s.teacherMultiTurnShare,
    temperature: card.model.temperature ?? s.syntheticTemperature,
    concurrency: s.teacherConcurrency,
    contextTokens: where.contextTokens,
    cacheDir: where.cacheDir,
  };
}

/** One planned dialogue: its user turns, and the lore it is about. */
export interface TeacherPlan {
  question: string;
  followUp?: string;
  section?: string;
  chunk?: string;
  /** Distinguishes two plans with the same question (a second pass over the bank). */
  pass: number;
}

export type TeacherEntry =
  | { ok: true; turns: Turn[]; score: number; candidates: number; truncated: number; completionTokens: number }
  | { ok: false; reason: string; candidates: number; truncated: number; completionTokens: number };

export interface TeacherResult {
  entries: TeacherEntry[];
  generated: number;
  cached: number;
  /** Questions of the bank left out because they are too close to an evaluation probe. */
  leaked: number;
  /** Wall time of the generation and the tokens it produced (cached dialogues not counted). */
  generationMs: number;
  generatedTokens: number;
}

const CACHE_VERSION = 1;
/** The listener's name in generated prompts (the served prompt fills {{user}} with the member's). */
const USER_NAME = 'friend';

/**
 * The dialogues to generate, in a fixed order: every bank and lore question once (those too
 * close to an evaluation probe left out), then again with a follow-up while more are wanted.
 * Which first-pass dialogues get a follow-up is decided by position, so the plan is the same
 * on every build.
 */
export function planDialogues(card: Pick<PersonaCard, 'lore'>, s: Pick<TeacherSettings, 'dialogues' | 'multiTurnShare'>, guard: ProbeGuard): { plans: TeacherPlan[]; leaked: number } {
  let leaked = 0;
  const seen = new Set<string>();
  const pool: Omit<TeacherPlan, 'pass'>[] = [];
  for (const q of [...loreQuestions(card), ...EVERYDAY_QUESTIONS.map((question) => ({ question }))]) {
    const k = q.question.toLowerCase();
    if (seen.has(k)) continue;
    seen.add(k);
    if (guard.leakOf(q.question)) leaked++;
    else pool.push(q);
  }
  const followUps = FOLLOW_UPS.filter((f) => !guard.leakOf(f));
  const plans: TeacherPlan[] = [];
  if (pool.length === 0) return { plans, leaked };
  const every = s.multiTurnShare > 0 ? 1 / s.multiTurnShare : Infinity;
  for (let i = 0; plans.length < s.dialogues; i++) {
    const pass = Math.floor(i / pool.length);
    const base = pool[i % pool.length]!;
    // First pass: every `every`-th dialogue has a follow-up; later passes always do (so they differ from the first).
    const multi = pass > 0 || Math.floor((i + 1) / every) > Math.floor(i / every);
    const followUp = multi && followUps.length > 0 ? followUps[(i * 7 + pass) % followUps.length] : undefined;
    if (pass > 0 && !followUp) break;
    plans.push({ ...base, followUp, pass });
  }
  return { plans, leaked };
}

export function teacherKey(card: PersonaCard, plan: TeacherPlan, s: TeacherSettings): string {
  return GenerationCache.key({
    v: CACHE_VERSION,
    card: card.hash,
    plan,
    model: s.model,
    bestOf: s.bestOf,
    maxTokens: s.maxTokens,
    temperature: s.temperature,
    contextTokens: s.contextTokens,
  });
}

export async function teacherDialogues(
  card: PersonaCard,
  llm: ChatModel | undefined,
  s: TeacherSettings,
  guard: ProbeGuard,
  onProgress?: (done: number, total: number) => void,
): Promise<TeacherResult> {
  const { plans, leaked } = planDialogues(card, s, guard);
  return { ...(await generateDialogues(card, llm, s, plans, onProgress)), leaked };
}

/** Generates (or reads back from the cache) the dialogues of the given plans, in their order. */
export async function generateDialogues(
  card: PersonaCard,
  llm: ChatModel | undefined,
  s: TeacherSettings,
  plans: readonly TeacherPlan[],
  onProgress?: (done: number, total: number) => void,
): Promise<Omit<TeacherResult, 'leaked'>> {
  const cache = new GenerationCache(s.cacheDir, 'teacher dialogue', isEntry);
  const entries: TeacherEntry[] = new Array(plans.length);
  let generated = 0;
  let cached = 0;
  let done = 0;
  let generatedTokens = 0;
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < plans.length) {
      const i = next++;
      const plan = plans[i]!;
      const key = teacherKey(card, plan, s);
      let entry = await cache.read(key);
      if (entry) cached++;
      else {
        if (!llm) throw new DatasetSourceError('teacher dialogues', `no model server configured and no cached dialogue at ${cache.file(key)}`);
        entry = await generate(card, llm, s, plan, Number.parseInt(key.slice(0, 8), 16) & 0x3fffffff);
        await cache.write(key, entry);
        generated++;
        generatedTokens += entry.completionTokens;
      }
      entries[i] = entry;
      onProgress?.(++done, plans.length);
    }
  };
  // Each worker holds one dialogue; its candidates are sampled one after the other.
  await Promise.all(Array.from({ length: Math.max(1, Math.min(s.concurrency, plans.length)) }, worker));
  return { entries, generated, cached, generationMs: performance.now() - started, generatedTokens };
}

async function generate(card: PersonaCard, llm: ChatModel, s: TeacherSettings, plan: TeacherPlan, seed: number): Promise<TeacherEntry> {
  const lore = plan.chunk ? [{ section: plan.section ?? '', content: plan.chunk, rank: 1 }] : [];
  const turns: Turn[] = [];
  let candidates = 0;
  let truncated = 0;
  let completionTokens = 0;
  let score = 0;
  const userTurns = plan.followUp ? [plan.question, plan.followUp] : [plan.question];
  for (const [exchange, userMessage] of userTurns.entries()) {
    const prompt = buildPrompt({ card, lore, history: turns, userName: USER_NAME, userMessage, budget: { contextTokens: s.contextTokens, replyTokens: s.maxTokens } });
    const replies: string[] = [];
    for (let k = 0; k < s.bestOf; k++) {
      const r = await sample(llm, s, prompt.messages, seed + exchange * 101 + k);
      candidates++;
      completionTokens += r.tokens;
      if (r.truncated) truncated++;
      replies.push(r.text);
    }
    const pick = bestOf(card, replies);
    if (pick.index < 0) {
      // The follow-up failed: the first exchange still makes a line of its own.
      if (exchange > 0) break;
      const reason = pick.fits.map((f) => f.breaks ?? 'unfit').sort()[0] ?? 'unfit';
      return { ok: false, reason, candidates, truncated, completionTokens };
    }
    score += pick.fits[pick.index]!.score;
    turns.push({ role: 'user', content: userMessage }, { role: 'assistant', content: withDeclaredEnding(card, replies[pick.index]!) });
  }
  return { ok: true, turns, score: score / (turns.length / 2), candidates, truncated, completionTokens };
}

async function sample(llm: ChatModel, s: TeacherSettings, messages: ChatMessage[], seed: number): Promise<{ text: string; tokens: number; truncated: boolean }> {
  const r = await llm.chat({
    model: s.model,
    messages,
    sampling: { temperature: s.temperature, maxTokens: s.maxTokens, seed },
    priority: 'batch',
  });
  const truncated = r.stats.completionTokens >= s.maxTokens;
  return { text: truncated ? toLastSentence(r.text) : r.text.trim(), tokens: r.stats.completionTokens, truncated };
}

/** A reply cut at the token cap, back to its last full sentence (all of it if it has none). */
export function toLastSentence(text: string): string {
  const t = text.trim();
  const m = t.match(/^[\s\S]*[.!?…]["'”’)]?(?=\s|$)/u);
  // A stub like "Hi." is not worth more than the cut-off rest.
  return m && m[0].length >= 10 ? m[0].trim() : t;
}

function isEntry(v: unknown): v is TeacherEntry {
  const o = v as Partial<Record<string, unknown>> | null;
  if (typeof o !== 'object' || o === null || typeof o.candidates !== 'number') return false;
  if (o.ok === true) return Array.isArray(o.turns) && o.turns.every((t) => typeof (t as Turn).content === 'string' && ((t as Turn).role === 'user' || (t as Turn).role === 'assistant'));
  return o.ok === false && typeof o.reason === 'string';
}

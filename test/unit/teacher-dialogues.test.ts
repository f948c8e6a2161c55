import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProbeGuard } from '../../bot/dataset/leakage.js';
import { EVERYDAY_QUESTIONS, FOLLOW_UPS, loreQuestions } from '../../bot/dataset/question-bank.js';
import { planDialogues, teacherDialogues, toLastSentence, type TeacherSettings } from '../../bot/dataset/sources/teacher-dialogues.js';
import type { ChatModel, ChatRequest } from '../../bot/inference/ports.js';
import { parseCard } from '../../bot/personas/card.js';

const glordon = parseCard('persona-data/glordon.md', 'glordon', readFileSync('persona-data/glordon.md', 'utf8'));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * The model-server port, scripted: the n-th sample of every turn is `replies[n % replies.length]`
 * (the seed tells the samples of a turn apart). Unit tests of the selection logic only; the
 * integration tests and the quality benchmark generate with the real model.
 */
function scripted(replies: string[]): ChatModel & { requests: ChatRequest[] } {
  const requests: ChatRequest[] = [];
  return {
    requests,
    hasModel: async () => true,
    async chat(req) {
      requests.push(req);
      const n = requests.filter((r) => r.messages.at(-1)!.content === req.messages.at(-1)!.content && r.messages.length === req.messages.length).length - 1;
      const text = replies[n % replies.length]!;
      return { text, stats: { model: req.model, promptTokens: 100, completionTokens: text.split(' ').length, loadMs: 0, queuedMs: 0, ttftMs: 1, totalMs: 2 } };
    },
  };
}

function settings(over: Partial<TeacherSettings> = {}): TeacherSettings {
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'teacher-'));
  dirs.push(cacheDir);
  return { model: 'm', dialogues: 6, bestOf: 3, maxTokens: 80, multiTurnShare: 0.5, temperature: 0.8, concurrency: 2, contextTokens: 2048, cacheDir, ...over };
}

describe('the question bank', () => {
  it('ships enough distinct everyday questions and follow-ups, and asks about every lore section', () => {
    expect(EVERYDAY_QUESTIONS.length).toBeGreaterThanOrEqual(200);
    expect(new Set(EVERYDAY_QUESTIONS.map((q) => q.toLowerCase())).size).toBe(EVERYDAY_QUESTIONS.length);
    expect(FOLLOW_UPS.length).toBeGreaterThanOrEqual(20);
    const sections = new Set(loreQuestions(glordon).map((q) => q.section));
    expect([...sections].sort()).toEqual(glordon.lore.map((s) => s.title).sort());
  });
});

describe('planning teacher dialogues', () => {
  it('leaves out every question too close to an eval prompt, and is the same on every build', () => {
    const guard = new ProbeGuard(glordon.evalPrompts);
    const a = planDialogues(glordon, { dialogues: 240, multiTurnShare: 0.35 }, guard);
    expect(a.leaked).toBeGreaterThan(0);
    for (const p of a.plans) {
      expect(guard.leakOf(p.question)).toBeUndefined();
      if (p.followUp) expect(guard.leakOf(p.followUp)).toBeUndefined();
    }
    expect(a.plans).toHaveLength(240);
    expect(planDialogues(glordon, { dialogues: 240, multiTurnShare: 0.35 }, guard)).toEqual(a);
    const multi = a.plans.filter((p) => p.followUp).length / a.plans.length;
    expect(multi).toBeGreaterThanOrEqual(0.3);
    // A second pass over the pool always adds a follow-up, so no two plans are the same dialogue.
    expect(new Set(a.plans.map((p) => `${p.question}|${p.followUp}`)).size).toBe(a.plans.length);
  });
});

describe('teacher dialogues', () => {
  it('keeps the best-fitting of N candidates, never a forbidden or broken one, and adds the declared ending', async () => {
    const llm = scripted([
      'As an AI language model, I like radishes.',
      'Hello, hello, tiny friend! I collect starlight in jars for my moon-jelly. Do you like radishes?',
      'I like it.',
    ]);
    const s = settings({ dialogues: 4, multiTurnShare: 0 });
    const r = await teacherDialogues(glordon, llm, s, new ProbeGuard(glordon.evalPrompts));
    expect(r.entries).toHaveLength(4);
    expect(r.generated).toBe(4);
    for (const e of r.entries) {
      expect(e.ok).toBe(true);
      if (!e.ok) continue;
      expect(e.candidates).toBe(3);
      expect(e.turns.at(-1)!.content).toBe('Hello, hello, tiny friend! I collect starlight in jars for my moon-jelly. Do you like radishes? Bloop!');
    }
    expect(llm.requests).toHaveLength(12);
    expect(llm.requests.every((q) => q.priority === 'batch' && q.sampling?.maxTokens === 80)).toBe(true);
    // Served as the persona is: its system prompt and example dialogues come first.
    expect(llm.requests[0]!.messages[0]!.content).toContain('You are Glordon');
    expect(llm.requests[0]!.messages.map((m) => m.content)).toContain(glordon.examples[0]![0]!.content);
    expect(new Set(llm.requests.map((q) => q.sampling?.seed)).size).toBe(12);

    // Read back from the cache: nothing generated, the same entries.
    const again = await teacherDialogues(glordon, undefined, s, new ProbeGuard(glordon.evalPrompts));
    expect(again).toMatchObject({ generated: 0, cached: 4, entries: r.entries });
    expect(readdirSync(s.cacheDir)).toHaveLength(4);
  });

  it('rejects a dialogue whose every candidate must not be kept, and says why', async () => {
    const r = await teacherDialogues(glordon, scripted(['As an AI, I cannot.', 'I am just a language model.']), settings({ dialogues: 2, multiTurnShare: 0 }), new ProbeGuard([]));
    expect(r.entries.map((e) => (e.ok ? 'ok' : e.reason))).toEqual(['as_an_ai', 'as_an_ai']);
  });

  it('writes a second exchange for a follow-up, with the first in its history', async () => {
    const llm = scripted(['Hello, tiny friend! Wibble is napping. Bloop!']);
    const r = await teacherDialogues(glordon, llm, settings({ dialogues: 2, bestOf: 1, multiTurnShare: 1, concurrency: 1 }), new ProbeGuard([]));
    const e = r.entries[0]!;
    expect(e.ok && e.turns.map((t) => t.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    const [first, second] = llm.requests.map((q) => q.messages);
    expect(second!.length).toBeGreaterThan(first!.length);
    expect(second!.slice(0, -1).filter((m) => m.role !== 'system').slice(-2)).toEqual([first!.at(-1), { role: 'assistant', content: 'Hello, tiny friend! Wibble is napping. Bloop!' }]);
    expect(FOLLOW_UPS).toContain(second!.at(-1)!.content);
  });

  it('cuts a reply stopped at the cap back to its last sentence', () => {
    expect(toLastSentence('Hello, tiny friend! I collect starlight in jars and then I')).toBe('Hello, tiny friend!');
    expect(toLastSentence('no sentence end at all')).toBe('no sentence end at all');
    expect(toLastSentence('Hi. and then a long unfinished tail goes on')).toBe('Hi. and then a long unfinished tail goes on');
  });
});

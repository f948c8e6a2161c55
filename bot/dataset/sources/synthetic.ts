import type { DatasetSource } from './source.js';
import { syntheticDialogues } from './synthetic-dialogues.js';
import { teacherDialogues, teacherSettingsFor } from './teacher-dialogues.js';

export interface SyntheticStats {
  model: string;
  perChunk: number;
  generated: number;
  cached: number;
  accepted: number;
  rejected: Record<string, number>;
}

/** The teacher dialogues' part: how many were planned, kept, and how well the kept ones fit the card. */
export interface TeacherStats {
  model: string;
  bestOf: number;
  planned: number;
  generated: number;
  cached: number;
  accepted: number;
  /** accepted / planned. */
  acceptanceRate: number;
  rejected: Record<string, number>;
  /** Mean fit score (personas/fit.ts) of the kept replies, 0-1. */
  meanScore: number;
  /** Kept dialogues with two exchanges. */
  multiTurn: number;
  candidates: number;
  /** Candidates that stopped at the reply cap (cut back to their last sentence). */
  truncated: number;
  /** Bank questions left out as too close to an evaluation probe. */
  leakedQuestions: number;
  /** Completion tokens per second over the generation's wall time (0 when everything was cached). */
  tokensPerS: number;
}

declare module './source.js' {
  interface SourceStats {
    synthetic: SyntheticStats;
    teacher: TeacherStats;
  }
}

/**
 * Generated dialogues: per lore chunk (a question and its answer, written by the base model),
 * then teacher dialogues from the question bank (best-of-N against the card). Both are cached:
 * generated once, then read back.
 */
export const syntheticSource: DatasetSource = {
  name: 'synthetic',
  phase: 'synthetic',
  async read({ card, llm, settings: s, baseModel, teacherModel, contextTokens, guard, cacheDir, emit, remove, progress }) {
    const syn = await syntheticDialogues(
      card,
      llm,
      { model: baseModel, perChunk: s.syntheticPerChunk, temperature: s.syntheticTemperature, numPredict: s.syntheticNumPredict, cacheDir },
      (done, total) => progress(done, total),
    );
    const rejected: Record<string, number> = {};
    let accepted = 0;
    for (const e of syn.entries) {
      if (!e.ok) {
        rejected[e.reason] = (rejected[e.reason] ?? 0) + 1;
        remove(`synthetic_${e.reason}`);
        continue;
      }
      accepted++;
      emit({ source: 'synthetic', turns: [{ role: 'user', content: e.question }, { role: 'assistant', content: e.answer }], contributors: [], guildIds: [] });
    }

    const model = teacherModel ?? baseModel;
    const teacher = await teacherDialogues(
      card,
      llm,
      teacherSettingsFor(card, s, { model, contextTokens, cacheDir }),
      guard,
      (done, total) => progress(syn.entries.length + done, syn.entries.length + total),
    );
    const t = { rejected: {} as Record<string, number>, accepted: 0, score: 0, multiTurn: 0, candidates: 0, truncated: 0 };
    for (const e of teacher.entries) {
      t.candidates += e.candidates;
      t.truncated += e.truncated;
      if (!e.ok) {
        t.rejected[e.reason] = (t.rejected[e.reason] ?? 0) + 1;
        remove(`teacher_${e.reason}`);
        continue;
      }
      t.accepted++;
      t.score += e.score;
      if (e.turns.length > 2) t.multiTurn++;
      emit({ source: 'synthetic', turns: e.turns, contributors: [], guildIds: [] });
    }
    const teacherStats: TeacherStats = {
      model,
      bestOf: s.teacherBestOf,
      planned: teacher.entries.length,
      generated: teacher.generated,
      cached: teacher.cached,
      accepted: t.accepted,
      acceptanceRate: teacher.entries.length ? round(t.accepted / teacher.entries.length) : 0,
      rejected: t.rejected,
      meanScore: t.accepted ? round(t.score / t.accepted) : 0,
      multiTurn: t.multiTurn,
      candidates: t.candidates,
      truncated: t.truncated,
      leakedQuestions: teacher.leaked,
      tokensPerS: teacher.generated && teacher.generationMs > 0 ? round(teacher.generatedTokens / (teacher.generationMs / 1000)) : 0,
    };
    return {
      stats: { synthetic: { model: baseModel, perChunk: s.syntheticPerChunk, generated: syn.generated, cached: syn.cached, accepted, rejected }, teacher: teacherStats },
      summary: `synthetic: ${accepted} accepted of ${syn.entries.length}; teacher: ${t.accepted} accepted of ${teacher.entries.length}`,
    };
  },
};

function round(x: number): number {
  return Number(x.toFixed(4));
}

import type { DatasetSource } from './source.js';
import { syntheticDialogues } from './synthetic-dialogues.js';

export interface SyntheticStats {
  model: string;
  perChunk: number;
  generated: number;
  cached: number;
  accepted: number;
  rejected: Record<string, number>;
}

declare module './source.js' {
  interface SourceStats {
    synthetic: SyntheticStats;
  }
}

/** Dialogues the base model writes from each lore chunk (cached: generated once, then read back). */
export const syntheticSource: DatasetSource = {
  name: 'synthetic',
  phase: 'synthetic',
  async read({ card, llm, settings: s, baseModel, cacheDir, emit, remove, progress }) {
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
    return {
      stats: { synthetic: { model: baseModel, perChunk: s.syntheticPerChunk, generated: syn.generated, cached: syn.cached, accepted, rejected } },
      summary: `synthetic: ${accepted} accepted of ${syn.entries.length}`,
    };
  },
};

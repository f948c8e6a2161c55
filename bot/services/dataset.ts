import path from 'node:path';
import type { BuildDatasetInput, DatasetBuild, DatasetDeps } from '../dataset/build.js';
import type { DatasetSettings } from '../dataset/settings.js';
import { buildDataset } from '../dataset/build.js';
import type { PersonaCard } from '../personas/card.js';

/** The dataset builder as the bot composes it (App.dataset): over the app's database, keys, model server and consent state. */
export class DatasetService {
  constructor(
    private readonly deps: DatasetDeps & {
      policyVersion: number;
      allowChatLogTraining: boolean;
      baseModel: string;
      dataDir: string;
      consent?: (guildId: string, userId: string) => boolean;
      /** Called first, e.g. the writer queue's drainPoint: logs, opt-outs and forgets already accepted are in the database. */
      drain?: () => Promise<unknown>;
      settings?: Partial<DatasetSettings>;
    },
  ) {}

  async build(card: PersonaCard, opts: { store?: boolean; onProgress?: BuildDatasetInput['onProgress']; settings?: Partial<DatasetSettings> } = {}): Promise<DatasetBuild> {
    const d = this.deps;
    await d.drain?.();
    return buildDataset(
      { db: d.db, keys: d.keys, llm: d.llm },
      {
        card,
        policyVersion: d.policyVersion,
        allowChatLogTraining: d.allowChatLogTraining,
        baseModel: card.model.base ?? d.baseModel,
        cacheDir: path.join(d.dataDir, 'dataset-cache'),
        consent: d.consent,
        settings: { ...d.settings, ...opts.settings },
        store: opts.store,
        onProgress: opts.onProgress,
      },
    );
  }
}

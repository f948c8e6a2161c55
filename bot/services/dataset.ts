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
      /** The model that writes teacher replies (DATASET_TEACHER_MODEL; default each card's base model). */
      teacherModel?: string;
      /** Teacher dialogues when the trainer has a GPU (settings.teacherDialogues is the CPU count). */
      teacherDialoguesGpu?: number;
      /** CHAT_CONTEXT_TOKENS: teacher prompts are budgeted like served ones. */
      contextTokens?: number;
    },
  ) {}

  /** `gpu`: the trainer reports a GPU, so the bigger teacher dataset is built. */
  async build(card: PersonaCard, opts: { store?: boolean; onProgress?: BuildDatasetInput['onProgress']; settings?: Partial<DatasetSettings>; gpu?: boolean } = {}): Promise<DatasetBuild> {
    const d = this.deps;
    await d.drain?.();
    const baseModel = card.model.base ?? d.baseModel;
    const sized = opts.gpu && d.teacherDialoguesGpu !== undefined ? { teacherDialogues: d.teacherDialoguesGpu } : {};
    return buildDataset(
      { db: d.db, keys: d.keys, llm: d.llm },
      {
        card,
        policyVersion: d.policyVersion,
        allowChatLogTraining: d.allowChatLogTraining,
        baseModel,
        teacherModel: d.teacherModel ?? baseModel,
        contextTokens: d.contextTokens,
        cacheDir: path.join(d.dataDir, 'dataset-cache'),
        consent: d.consent,
        settings: { ...d.settings, ...sized, ...opts.settings },
        store: opts.store,
        onProgress: opts.onProgress,
      },
    );
  }
}

import path from 'node:path';
import type { BuildDatasetInput, DatasetBuild, DatasetDeps } from '../dataset/build.js';
import type { DatasetSettings } from '../dataset/settings.js';
import type { LogScope } from '../dataset/sources/source.js';
import { buildDataset } from '../dataset/build.js';
import { desc, eq } from 'drizzle-orm';
import { DatasetStore } from '../db/dataset-store.js';
import type { FrozenLine } from '../db/json-columns.js';
import { datasetVersions, personaFrozenSets } from '../db/schema.js';
import { makeFrozenSet } from '../dataset/frozen-set.js';
import { DEFAULT_SETTINGS } from '../dataset/settings.js';
import { teacherSettingsFor } from '../dataset/sources/teacher-dialogues.js';
import type { PersonaCard } from '../personas/card.js';
import type { StyleReference } from '../personas/separability.js';

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

  /**
   * The persona's frozen evaluation set: the stored one, or (at its first fine-tune) a new one
   * written by the teacher and stored. A card edit keeps it, so every version is measured alike.
   * Empty while teacher dialogues are off (DATASET_TEACHER_DIALOGUES=0) and none is stored.
   */
  async frozenSet(card: PersonaCard): Promise<FrozenLine[]> {
    const db = this.deps.db;
    const [stored] = await db.select().from(personaFrozenSets).where(eq(personaFrozenSets.personaSlug, card.slug));
    if (stored) return stored.lines;
    const s = { ...DEFAULT_SETTINGS, ...this.deps.settings };
    if (s.teacherDialogues === 0) return []; // no teacher configured: no reference replies to measure on
    const baseModel = card.model.base ?? this.deps.baseModel;
    const lines = await makeFrozenSet(card, this.deps.llm, teacherSettingsFor(card, s, { model: this.deps.teacherModel ?? baseModel, contextTokens: this.deps.contextTokens ?? 2048, cacheDir: this.cacheDir() }));
    // Two builds at once keep the first set stored.
    await db.insert(personaFrozenSets).values({ personaSlug: card.slug, cardHash: card.hash, lines }).onConflictDoNothing();
    const [row] = await db.select().from(personaFrozenSets).where(eq(personaFrozenSets.personaSlug, card.slug));
    return row!.lines;
  }

  /**
   * Each card's reference style for separability: the assistant replies of the training split of
   * its latest stored dataset (cards with none are left out). Read fresh every time, so a forget's
   * redaction is never served from a copy.
   */
  async styleReferences(cards: readonly PersonaCard[]): Promise<StyleReference[]> {
    const store = new DatasetStore(this.deps.db, this.deps.keys);
    const out: StyleReference[] = [];
    for (const card of cards) {
      const [latest] = await this.deps.db
        .select({ id: datasetVersions.id })
        .from(datasetVersions)
        .where(eq(datasetVersions.personaSlug, card.slug))
        .orderBy(desc(datasetVersions.createdAt), desc(datasetVersions.id))
        .limit(1);
      if (!latest) continue;
      const replies = (await store.readLines(latest.id))
        .filter((l) => l.split === 'train')
        .flatMap((l) => (JSON.parse(l.json) as { messages: { role: string; content: string }[] }).messages.filter((m) => m.role === 'assistant').map((m) => m.content));
      out.push({ persona: card.slug, card, replies });
    }
    return out;
  }

  private cacheDir(): string {
    return path.join(this.deps.dataDir, 'dataset-cache');
  }

  /**
   * `logScope`: whose chat logs it reads (the server the build is for). `gpu`: the trainer reports
   * a GPU, so the bigger teacher dataset is built.
   */
  async build(
    card: PersonaCard,
    logScope: LogScope,
    opts: { store?: boolean; onProgress?: BuildDatasetInput['onProgress']; settings?: Partial<DatasetSettings>; gpu?: boolean } = {},
  ): Promise<DatasetBuild> {
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
        cacheDir: this.cacheDir(),
        consent: d.consent,
        logScope,
        settings: { ...d.settings, ...sized, ...opts.settings },
        store: opts.store,
        onProgress: opts.onProgress,
      },
    );
  }
}

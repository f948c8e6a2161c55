import type { KeyRing } from '../../crypto/keyring.js';
import type { Db } from '../../db/client.js';
import type { ChatModel } from '../../inference/ports.js';
import type { PersonaCard } from '../../personas/card.js';
import type { ProbeGuard } from '../leakage.js';
import type { LineSource } from '../line.js';
import type { DatasetSettings } from '../settings.js';

/** What a source proposes as a line, before the finishing rules (finish.ts) clean and check it. */
export interface Candidate {
  source: LineSource;
  /** Turn texts already went through cleanText (chat logs clean each message once). */
  cleaned?: boolean;
  turns: { role: 'user' | 'assistant'; content: string }[];
  /** Users whose words are in it (forget and guild purges find their lines by these). */
  contributors: string[];
  guildIds: string[];
  /** The logged messages and persona replies its text came from (deletes find their lines by these). */
  messageIds?: string[];
  /** The user the per-user cap counts this line against, if any. */
  capUser?: string;
  /** When its oldest logged message was written (ms since the epoch; chat logs only). */
  oldestAt?: number;
}

/** What every source reads from: the build's inputs, and where its candidates and removals go. */
export interface SourceContext {
  card: PersonaCard;
  settings: DatasetSettings;
  db: Db;
  keys: KeyRing;
  /** The model server for generated dialogues; without it only cached dialogues are used. */
  llm?: ChatModel;
  /** The consent policy version in force (only current consent counts). */
  policyVersion: number;
  /** ALLOW_CHAT_LOG_TRAINING: Discord chat logs are used only when true. Console logs always are. */
  allowChatLogTraining: boolean;
  /** The model that writes generated dialogues. */
  baseModel: string;
  /** The model that writes teacher replies (default: baseModel). */
  teacherModel?: string;
  /** The context window served prompts are budgeted to (teacher prompts are built the same way). */
  contextTokens: number;
  /** What the persona is evaluated on; no training user turn may come close to one. */
  guard: ProbeGuard;
  /** Folder of the generated-dialogue cache. */
  cacheDir: string;
  /** The in-memory consent check (PrivacyState.hasConsent), on top of the database's consents. */
  consent?: (guildId: string, userId: string) => boolean;
  /** Whose chat logs may be read (a build for one server reads that server's only). */
  logScope: LogScope;
  /** Proposes a line. */
  emit(candidate: Candidate): void;
  /** Counts something left out, by reason (the statistics' `removed`). */
  remove(reason: string, n?: number): void;
  progress(done: number, total?: number): void;
}

/**
 * Whose chat logs a build may read: one server's (every build a server's admin starts, from
 * `/persona dataset` or `/finetune start`; `guildId: null`, a job started outside any server, reads
 * none), or every server's (the operator's `npm run dataset` without --server).
 */
export type LogScope = { guildId: string | null } | 'every-server';

/**
 * The statistics sources add to DatasetStats, by key. Empty here: a source that reports some adds
 * its key from its own file (`declare module './source.js' { interface SourceStats { ... } }`),
 * so a new source stays one file.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface SourceStats {}

/** A source's part of the statistics, and a few words for the "dataset is empty" message. */
export interface SourceReport {
  stats?: Partial<SourceStats>;
  /** e.g. "synthetic: 3 accepted of 4". */
  summary: string;
}

/**
 * One kind of input to a persona's dataset. The builder runs every source of sources/index.ts in
 * order; a source only proposes candidates, so cleaning, dedupe, the per-user cap, the split and
 * the statistics are the same for all of them.
 */
export interface DatasetSource {
  /** The contract's name for the lines it proposes (DATASET_SOURCES). */
  readonly name: LineSource;
  /** The progress phase shown while it reads (the dataset CLI's bar). */
  readonly phase: string;
  read(ctx: SourceContext): Promise<SourceReport>;
}

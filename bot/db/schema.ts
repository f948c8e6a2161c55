/**
 * The database schema: the single source of truth. `npm run db:generate` turns changes into SQL
 * migrations in migrations/ (never edited by hand); the bot applies them at start-up, on Postgres
 * and on embedded PGlite alike.
 *
 * Privacy rules the shape encodes (see README, "Data and consent"):
 * - message and dataset content is stored only as AES-256-GCM ciphertext (bytea columns `*_enc`);
 * - reactions and dataset contributors are HMACs of user ids, never raw ids;
 * - consent_events is append-only, except that forget erases a user's rows (an erasure request
 *   outranks the audit trail; erasure_log keeps an anonymous record that an erasure happened).
 */
import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  serial,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { TrainerEvent } from '../trainer/client.js';
import type { EvaluationMetrics, FrozenLine, JobProgress } from './json-columns.js';

/** Postgres full-text search vector (lore retrieval). */
export const tsvector = customType<{ data: string }>({
  dataType() {
    return 'tsvector';
  },
});

/** Ciphertext from KeyRing.encrypt. */
export const ciphertext = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType() {
    return 'bytea';
  },
});

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow();

export const channelSettings = pgTable('channel_settings', {
  channelId: text('channel_id').primaryKey(),
  guildId: text('guild_id').notNull(),
  loggingEnabled: boolean('logging_enabled').notNull().default(false),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
}, (t) => [index('channel_settings_guild_idx').on(t.guildId)]);

export const consents = pgTable('consents', {
  guildId: text('guild_id').notNull(),
  userId: text('user_id').notNull(),
  /** 'in' or 'out'. Logging needs 'in' AND policy_version equal to the current policy. */
  status: text('status', { enum: ['in', 'out'] }).notNull(),
  policyVersion: integer('policy_version').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.guildId, t.userId] }), index('consents_user_idx').on(t.userId)]);

/**
 * Every consent policy text that was ever in force, by version: the text the bot shows depends on
 * RETENTION_DAYS and ALLOW_CHAT_LOG_TRAINING, so a change there is a new version (consent-policy.ts).
 */
export const consentPolicyVersions = pgTable('consent_policy_versions', {
  version: integer('version').primaryKey(),
  /** sha256 of the text as shown. */
  textHash: text('text_hash').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

export const consentEvents = pgTable('consent_events', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  guildId: text('guild_id').notNull(),
  userId: text('user_id').notNull(),
  action: text('action', { enum: ['opt_in', 'opt_out'] }).notNull(),
  policyVersion: integer('policy_version').notNull(),
  at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
}, (t) => [index('consent_events_user_idx').on(t.userId), index('consent_events_guild_idx').on(t.guildId)]);

/** Anonymous record that an erasure happened (no user id, no HMAC). */
export const erasureLog = pgTable('erasure_log', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  kind: text('kind', { enum: ['user_forget', 'guild_purge', 'channel_delete', 'retention'] }).notNull(),
  counts: jsonb('counts').$type<Record<string, number>>().notNull(),
  at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

export const loggedMessages = pgTable('logged_messages', {
  id: text('id').primaryKey(),
  guildId: text('guild_id').notNull(),
  channelId: text('channel_id').notNull(),
  /** A thread's parent channel (logging follows the parent's switch). */
  parentChannelId: text('parent_channel_id'),
  authorId: text('author_id').notNull(),
  /** Where the message came from: Discord, or the local console (always allowed for training). */
  source: text('source', { enum: ['discord', 'console'] }).notNull().default('discord'),
  replyToId: text('reply_to_id'),
  contentEnc: ciphertext('content_enc').notNull(),
  createdAt: createdAt(),
  editedAt: timestamp('edited_at', { withTimezone: true, mode: 'date' }),
}, (t) => [
  index('logged_messages_author_idx').on(t.authorId),
  index('logged_messages_guild_idx').on(t.guildId),
  index('logged_messages_channel_idx').on(t.channelId, t.createdAt),
  index('logged_messages_created_idx').on(t.createdAt),
]);

export const personas = pgTable('personas', {
  slug: text('slug').primaryKey(),
  name: text('name').notNull(),
  cardHash: text('card_hash').notNull(),
  activeVersionId: integer('active_version_id'),
  createdAt: createdAt(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

export const personaVersions = pgTable('persona_versions', {
  id: serial('id').primaryKey(),
  personaSlug: text('persona_slug').notNull().references(() => personas.slug, { onDelete: 'cascade' }),
  version: integer('version').notNull(),
  /** The version's name on the model server (`persona-<slug>:v<N>`, whichever backend serves it). */
  servedModel: text('served_model').notNull(),
  baseModel: text('base_model').notNull(),
  datasetVersionId: integer('dataset_version_id'),
  finetuneJobId: uuid('finetune_job_id'),
  hyperparameters: jsonb('hyperparameters').$type<Record<string, unknown>>(),
  metrics: jsonb('metrics').$type<Record<string, unknown>>(),
  createdAt: createdAt(),
}, (t) => [uniqueIndex('persona_versions_slug_version_idx').on(t.personaSlug, t.version)]);

/**
 * Automatic evaluations of persona versions: each answered the same probes (the card's eval
 * prompts plus a fixed generic set) with the same seeds and sampling, so rows of one persona
 * compare. version 0 is prompt-only (the base model with the card's prompt). Replies are model
 * output, not member content; only the metrics are kept.
 */
export const personaEvaluations = pgTable('persona_evaluations', {
  id: serial('id').primaryKey(),
  personaSlug: text('persona_slug').notNull().references(() => personas.slug, { onDelete: 'cascade' }),
  version: integer('version').notNull(),
  servedModel: text('served_model').notNull(),
  cardHash: text('card_hash').notNull(),
  /** sha256 of the probes, seeds and sampling: rows with the same hash were measured alike. */
  probeSetHash: text('probe_set_hash').notNull(),
  metrics: jsonb('metrics').$type<EvaluationMetrics>().notNull(),
  createdAt: createdAt(),
}, (t) => [index('persona_evaluations_slug_version_idx').on(t.personaSlug, t.version, t.createdAt)]);

/**
 * Each persona's frozen evaluation set (dataset/frozen-set.ts): made at its first fine-tune, then
 * the same for every version. Model-written reference replies to the evaluation probes, no
 * member content.
 */
export const personaFrozenSets = pgTable('persona_frozen_sets', {
  personaSlug: text('persona_slug').primaryKey().references(() => personas.slug, { onDelete: 'cascade' }),
  /** The card the set was made from (a later card edit keeps the set, so versions still compare). */
  cardHash: text('card_hash').notNull(),
  lines: jsonb('lines').$type<FrozenLine[]>().notNull(),
  createdAt: createdAt(),
});

/**
 * Chunks of a persona card's lore sections, indexed for full-text retrieval. Rebuilt whenever the
 * card's hash changes. Card text is operator-written, not user content: stored in plain text.
 */
export const loreChunks = pgTable('lore_chunks', {
  id: serial('id').primaryKey(),
  personaSlug: text('persona_slug').notNull(),
  cardHash: text('card_hash').notNull(),
  section: text('section').notNull(),
  chunkNo: integer('chunk_no').notNull(),
  content: text('content').notNull(),
  tsv: tsvector('tsv').notNull().generatedAlwaysAs(sql`to_tsvector('english', section || ' ' || content)`),
}, (t) => [
  index('lore_chunks_persona_idx').on(t.personaSlug),
  index('lore_chunks_tsv_idx').using('gin', t.tsv),
]);

/** A persona bound to a channel or thread. Bindings survive restarts. */
export const conversations = pgTable('conversations', {
  id: uuid('id').primaryKey().defaultRandom(),
  guildId: text('guild_id'),
  channelId: text('channel_id').notNull(),
  personaSlug: text('persona_slug').notNull(),
  status: text('status', { enum: ['active', 'ended'] }).notNull().default('active'),
  createdAt: createdAt(),
  endedAt: timestamp('ended_at', { withTimezone: true, mode: 'date' }),
}, (t) => [
  uniqueIndex('conversations_one_active_per_channel_idx').on(t.channelId).where(sql`${t.status} = 'active'`),
  index('conversations_guild_idx').on(t.guildId),
]);

/**
 * A persona's reply. Text is kept (encrypted) only when the user it answered had consent;
 * otherwise only metadata (version, timings, tokens, message id).
 */
export const personaReplies = pgTable('persona_replies', {
  messageId: text('message_id').primaryKey(),
  conversationId: uuid('conversation_id'),
  guildId: text('guild_id'),
  channelId: text('channel_id').notNull(),
  personaSlug: text('persona_slug').notNull(),
  personaVersionId: integer('persona_version_id'),
  model: text('model').notNull(),
  /** HMAC of the user this reply answered; erased by forget. */
  userHmac: text('user_hmac'),
  /** The user message it answered (a logged message id), when that message was stored. */
  inReplyToId: text('in_reply_to_id'),
  contentEnc: ciphertext('content_enc'),
  promptTokens: integer('prompt_tokens'),
  completionTokens: integer('completion_tokens'),
  ttftMs: real('ttft_ms'),
  totalMs: real('total_ms'),
  createdAt: createdAt(),
}, (t) => [
  index('persona_replies_user_idx').on(t.userHmac),
  index('persona_replies_persona_idx').on(t.personaSlug, t.personaVersionId),
  index('persona_replies_guild_idx').on(t.guildId),
]);

export const reactions = pgTable('reactions', {
  messageId: text('message_id').notNull(),
  userHmac: text('user_hmac').notNull(),
  emoji: text('emoji').notNull(),
  guildId: text('guild_id'),
  createdAt: createdAt(),
}, (t) => [
  primaryKey({ columns: [t.messageId, t.userHmac, t.emoji] }),
  index('reactions_user_idx').on(t.userHmac),
  index('reactions_guild_idx').on(t.guildId),
]);

export const datasetVersions = pgTable('dataset_versions', {
  id: serial('id').primaryKey(),
  personaSlug: text('persona_slug').notNull(),
  contentHash: text('content_hash').notNull(),
  lineCount: integer('line_count').notNull(),
  stats: jsonb('stats').$type<Record<string, unknown>>().notNull(),
  /** Set when forget or a guild purge removed lines after the build: the hash no longer matches. */
  redactedAt: timestamp('redacted_at', { withTimezone: true, mode: 'date' }),
  /** When its oldest logged message was written (null: no chat logs in it). Retention deletes the version when that passes RETENTION_DAYS. */
  contentFrom: timestamp('content_from', { withTimezone: true, mode: 'date' }),
  createdAt: createdAt(),
}, (t) => [index('dataset_versions_persona_idx').on(t.personaSlug, t.createdAt)]);

export const datasetLines = pgTable('dataset_lines', {
  datasetVersionId: integer('dataset_version_id').notNull().references(() => datasetVersions.id, { onDelete: 'cascade' }),
  lineNo: integer('line_no').notNull(),
  split: text('split', { enum: ['train', 'eval'] }).notNull(),
  lineEnc: ciphertext('line_enc').notNull(),
  /** HMACs of the users whose messages are in this line. */
  contributors: text('contributors').array().notNull().default(sql`'{}'::text[]`),
  /** Guilds the line's chat-log content came from (for guild purges). */
  guildIds: text('guild_ids').array().notNull().default(sql`'{}'::text[]`),
  /** The logged messages and persona replies its chat-log text came from (message, bulk and channel deletes). */
  messageIds: text('message_ids').array().notNull().default(sql`'{}'::text[]`),
}, (t) => [
  primaryKey({ columns: [t.datasetVersionId, t.lineNo] }),
  index('dataset_lines_contributors_idx').using('gin', t.contributors),
  index('dataset_lines_guilds_idx').using('gin', t.guildIds),
  index('dataset_lines_messages_idx').using('gin', t.messageIds),
]);

export const finetuneJobs = pgTable('finetune_jobs', {
  id: uuid('id').primaryKey().defaultRandom(),
  personaSlug: text('persona_slug').notNull(),
  trainerJobId: text('trainer_job_id'),
  datasetVersionId: integer('dataset_version_id'),
  baseModel: text('base_model').notNull(),
  hyperparameters: jsonb('hyperparameters').$type<Record<string, unknown>>().notNull(),
  status: text('status', { enum: ['pending', 'queued', 'running', 'converting', 'succeeded', 'failed', 'cancelled'] }).notNull().default('pending'),
  progress: jsonb('progress').$type<JobProgress>(),
  error: text('error'),
  guildId: text('guild_id'),
  channelId: text('channel_id'),
  statusMessageId: text('status_message_id'),
  /** The version this job produced, once published to Ollama. */
  personaVersionId: integer('persona_version_id'),
  /** When the trainer's copy of the job (dataset, checkpoints, artifacts) was deleted. */
  trainerCleanedAt: timestamp('trainer_cleaned_at', { withTimezone: true, mode: 'date' }),
  createdAt: createdAt(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
}, (t) => [
  // At most one job per persona that has not finished: a double click starts one job.
  uniqueIndex('finetune_jobs_one_open_per_persona_idx')
    .on(t.personaSlug)
    .where(sql`${t.status} in ('pending', 'queued', 'running', 'converting')`),
]);

export const finetuneJobEvents = pgTable('finetune_job_events', {
  jobId: uuid('job_id').notNull().references(() => finetuneJobs.id, { onDelete: 'cascade' }),
  seq: integer('seq').notNull(),
  /** The trainer's event as it sent it (the loss curve is drawn from these). */
  event: jsonb('event').$type<TrainerEvent>().notNull(),
  at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.jobId, t.seq] })]);

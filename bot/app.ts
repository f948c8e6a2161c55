import path from 'node:path';
import type { Config } from './config.js';
import type { KeyRing } from './crypto/keyring.js';
import { resolveKeyRing } from './crypto/secrets.js';
import type { Database } from './db/client.js';
import { openDatabase } from './db/client.js';
import { IntentJournal } from './db/intent-journal.js';
import { LoggedDataStore } from './db/logged-data-store.js';
import type { Logger } from './core/logger.js';
import type { BoundedBackend } from './inference/bounded.js';
import { createModelBackend } from './inference/backends.js';
import { BotMetrics } from './metrics.js';
import { ChannelLoggingService } from './services/channel-logging.js';
import { ChatService } from './services/chat.js';
import { ConsentService } from './services/consent.js';
import type { ConsentPolicy } from './services/consent-policy.js';
import { CONSENT_POLICY, policyInForce } from './services/consent-policy.js';
import { EvaluationService } from './services/evaluation.js';
import { LoreIndex } from './services/lore.js';
import { MessageLogService } from './services/message-log.js';
import { PersonaRegistry } from './personas/registry.js';
import { overrides, PrivacyState } from './services/privacy-state.js';
import { RetentionService } from './services/retention.js';
import { ScorecardService } from './services/scorecard.js';
import { UserMessageService } from './services/user-message.js';
import type { DatasetSettings } from './dataset/settings.js';
import { DatasetService } from './services/dataset.js';
import { FinetuneService } from './services/finetune/service.js';
import { PersonaVersions } from './services/persona-versions.js';
import { TrainerClient } from './trainer/client.js';
import { WriterQueue } from './services/writer-queue.js';

/** Everything the transports (Discord, console) call into. Dependencies point one way: services → db. */
export interface App {
  config: Config;
  database: Database;
  keys: KeyRing;
  writer: WriterQueue;
  privacy: PrivacyState;
  consent: ConsentService;
  channels: ChannelLoggingService;
  messages: MessageLogService;
  retention: RetentionService;
  personas: PersonaRegistry;
  lore: LoreIndex;
  evaluation: EvaluationService;
  /** The model server (MODEL_BACKEND) behind the port: chat and persona versions. */
  models: BoundedBackend;
  versions: PersonaVersions;
  chat: ChatService;
  scorecards: ScorecardService;
  /** What a person's message in any transport goes through: logging, then the bound persona's reply. */
  userMessages: UserMessageService;
  dataset: DatasetService;
  finetune: FinetuneService;
  /** Prometheus metrics (GET /metrics on HEALTH_PORT). */
  metrics: BotMetrics;
  /** Drains the writer queue, stops cron jobs, closes the database. */
  close(): Promise<void>;
}

export interface CreateAppOptions {
  logger?: Logger;
  policy?: ConsentPolicy;
  /** An already-open database (tests); otherwise opened (and migrated) from the config. */
  database?: Database;
  keys?: KeyRing;
  /** Watch persona-data/ for changes (the running bot does; tests usually don't). */
  watchPersonas?: boolean;
}

export async function createApp(config: Config, opts: CreateAppOptions = {}): Promise<App> {
  const keys = opts.keys ?? resolveKeyRing(config);
  const database =
    opts.database ??
    (await openDatabase({ url: config.database.url, pgliteDir: path.join(config.dataDir, 'pglite'), poolMax: config.database.poolMax }));
  const policyContext = { retentionDays: config.retention.days, chatLogTraining: config.allowChatLogTraining };
  const policy = await policyInForce(database.db, opts.policy ?? CONSENT_POLICY, policyContext);
  const privacy = new PrivacyState(policy.version);
  await privacy.load(database.db);
  const journal = new IntentJournal(path.join(config.dataDir, 'intents.journal'), keys);
  const writer = new WriterQueue(new LoggedDataStore(database.db, keys), config.writer, opts.logger?.child({ part: 'writer' }), journal);
  // Writes accepted before the last stop but not yet committed: opt-outs, forgets and purges keep
  // logging stopped from now; opt-ins and logging-on apply once committed, unless a later one stops them.
  const recovered = writer.recover((op) => {
    if (!writer.isPending((later) => overrides(later, op))) privacy.applyCommitted(op);
  });
  for (const op of recovered) privacy.applyPending(op);
  const metrics = new BotMetrics({ writerQueueDepth: () => writer.size, writerShed: () => writer.stats.shed });
  const consent = new ConsentService(database.db, writer, privacy, keys, policy, policyContext, config.writer.ackMs);
  const channels = new ChannelLoggingService(writer, privacy, config.writer.ackMs);
  const messages = new MessageLogService(writer, privacy, keys, config.limits);
  const retention = new RetentionService(writer, config.retention, opts.logger?.child({ part: 'retention' }));
  const personas = new PersonaRegistry(config.personaDir, opts.logger?.child({ part: 'personas' }));
  const lore = new LoreIndex(database);
  personas.onChange(async (cards) => {
    await lore.sync(cards);
  });
  await personas.load();
  if (opts.watchPersonas) personas.watch();
  const models = createModelBackend(config.inference);
  const versions = new PersonaVersions(database.db);
  const chat = new ChatService({
    db: database.db,
    personas,
    lore,
    llm: models,
    versions,
    messages,
    privacy,
    settings: { baseModel: config.inference.baseModel, ...config.chat },
    log: opts.logger?.child({ part: 'chat' }),
    onTurn: (spans) => metrics.observeTurn(spans),
  });
  const scorecards = new ScorecardService(database, messages);
  const dataset = new DatasetService({
    db: database.db,
    keys,
    llm: models,
    get policyVersion() {
      return privacy.policyVersion;
    },
    allowChatLogTraining: config.allowChatLogTraining,
    baseModel: config.inference.baseModel,
    dataDir: config.dataDir, // generated dialogues are cached in DATA_DIR/dataset-cache
    consent: (guildId, userId) => privacy.hasConsent(guildId, userId),
    drain: () => writer.drainPoint(), // logs, opt-outs and forgets already accepted land first
    ...datasetOptions(config),
  });
  const evaluation = new EvaluationService({
    db: database.db,
    llm: models,
    lore,
    versions,
    baseModel: config.inference.baseModel,
    settings: { ...config.evaluation, contextTokens: config.chat.contextTokens, maxReplyTokens: config.chat.maxReplyTokens, loreK: config.chat.loreK, adapterPrompt: config.chat.adapterPrompt },
    styleReferences: () => dataset.styleReferences(personas.list()),
  });
  const finetune = new FinetuneService({
    db: database.db,
    keys,
    personas,
    versions,
    dataset,
    adapters: models,
    trainer: config.trainer ? new TrainerClient(config.trainer.url, config.trainer.token, { maxBodyBytes: config.trainer.maxBodyBytes }) : null,
    evaluation,
    invalidateModel: (slug) => chat.invalidateModel(slug),
    settings: { ...config.finetune, defaultBaseModel: config.inference.baseModel },
    log: opts.logger?.child({ part: 'finetune' }),
  });
  return {
    config,
    database,
    keys,
    writer,
    privacy,
    consent,
    channels,
    messages,
    retention,
    personas,
    lore,
    models,
    versions,
    chat,
    scorecards,
    userMessages: new UserMessageService({ messages, chat, personas, scorecards, log: opts.logger?.child({ part: 'chat' }) }),
    dataset,
    evaluation,
    finetune,
    metrics,
    async close() {
      retention.stop();
      await finetune.stop();
      personas.stop();
      await writer.close();
      journal.close();
      if (!opts.database) await database.close();
    },
  };
}

/** The dataset builder's settings as DATASET_* and CHAT_CONTEXT_TOKENS configure them (the bot's and the dataset CLI's). */
export function datasetOptions(config: Config): { settings: Partial<DatasetSettings>; teacherModel?: string; teacherDialoguesGpu: number; contextTokens: number } {
  const d = config.dataset;
  return {
    settings: {
      syntheticPerChunk: d.syntheticPerChunk,
      perUserShare: d.perUserShare,
      capExemptSpeakers: d.capExemptSpeakers,
      teacherDialogues: d.teacherDialogues,
      teacherBestOf: d.teacherBestOf,
      teacherMaxTokens: d.teacherMaxTokens,
      teacherConcurrency: d.teacherConcurrency,
    },
    teacherModel: d.teacherModel,
    teacherDialoguesGpu: d.teacherDialoguesGpu,
    contextTokens: config.chat.contextTokens,
  };
}

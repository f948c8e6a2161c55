import cron from 'node-cron';
import { z } from 'zod';
import { ConfigError } from './core/errors.js';
import { isBase64Key } from './crypto/keyring.js';
import type { InferenceSettings } from './inference/backends.js';
import { MODEL_BACKENDS } from './inference/backends.js';
import type { PromptShape } from './personas/prompt.js';
import { PROMPT_SHAPES } from './personas/prompt.js';
import { loadHyperparameterDefaults } from './services/finetune/presets.js';
import type { FinetuneSettings } from './services/finetune/service.js';

/**
 * The bot's configuration, parsed once from the environment at start-up.
 * Every variable is documented in .env.example; a bad or missing value stops start-up
 * with a message that names the variable and the form it expects.
 */

const base64Key = (name: string) =>
  z
    .string()
    .trim()
    .refine((v) => isBase64Key(v), {
      message: `${name} must be 32 random bytes in base64 (for example: openssl rand -base64 32)`,
    });

const intInRange = (min: number, max: number, fallback: number) =>
  z.coerce
    .number({ message: `expected a whole number from ${min} to ${max}` })
    .int({ message: `expected a whole number from ${min} to ${max}` })
    .min(min, { message: `expected a whole number from ${min} to ${max}` })
    .max(max, { message: `expected a whole number from ${min} to ${max}` })
    .default(fallback);

const boolFlag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const emptyAsUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test'], { message: 'expected development, production or test' }).default('development'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      message: 'expected one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  DATA_DIR: z.string().min(1, { message: 'expected a folder path' }).default('./data'),
  DATABASE_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^postgres(ql)?:\/\/.+/, { message: 'expected a postgres:// or postgresql:// connection URL' })
      .optional(),
  ),
  DATABASE_POOL_MAX: intInRange(1, 100, 10),
  MESSAGE_KEY: z.preprocess(emptyAsUndefined, base64Key('MESSAGE_KEY').optional()),
  MESSAGE_KEYS_PREVIOUS: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine((v) => v.split(',').every((k) => isBase64Key(k.trim())), {
        message: 'expected a comma-separated list of 32-byte base64 keys',
      })
      .optional(),
  ),
  HMAC_KEY: z.preprocess(emptyAsUndefined, base64Key('HMAC_KEY').optional()),
  RETENTION_DAYS: intInRange(1, 3650, 30),
  RETENTION_CRON: z
    .string()
    .regex(/^(\S+\s+){4}\S+$/, { message: 'expected a five-field cron expression, e.g. "17 3 * * *"' })
    .default('17 3 * * *'),
  WRITER_BATCH_SIZE: intInRange(1, 10_000, 500),
  WRITER_FLUSH_MS: intInRange(1, 60_000, 50),
  WRITER_CAPACITY: intInRange(10, 1_000_000, 20_000),
  WRITER_CLOSE_TIMEOUT_MS: intInRange(0, 600_000, 10_000),
  WRITER_ACK_MS: intInRange(0, 600_000, 5000),
  MAX_MESSAGE_CHARS: intInRange(1, 100_000, 4000),
  ALLOW_CHAT_LOG_TRAINING: boolFlag(false),
  HEALTH_PORT: intInRange(0, 65535, 0),
  // /healthz and /metrics have no auth: loopback unless the deployment opens them (compose: 0.0.0.0 on its own network).
  HEALTH_HOST: z.union([z.ipv4(), z.ipv6()], { message: 'expected an IP address to listen on, e.g. 127.0.0.1 or 0.0.0.0' }).default('127.0.0.1'),
  PERSONA_DIR: z.string().min(1, { message: 'expected a folder path' }).default('./persona-data'),
  MODEL_BACKEND: z.enum(MODEL_BACKENDS, { message: `expected one of ${MODEL_BACKENDS.join(', ')}` }).default('ollama'),
  MODEL_MAX_CONCURRENCY: intInRange(1, 1024, 64),
  OLLAMA_HOST: z.url({ message: 'expected the model server URL, e.g. http://127.0.0.1:11434' }).default('http://127.0.0.1:11434'),
  OLLAMA_BASE_MODEL: z.string().regex(/^[\w.\-/:]+$/, { message: 'expected an Ollama model name such as smollm2-135m' }).default('smollm2-135m'),
  OLLAMA_REQUEST_TIMEOUT_MS: intInRange(1000, 3_600_000, 120_000),
  CHAT_CONTEXT_TOKENS: intInRange(256, 131_072, 2048),
  CHAT_MAX_REPLY_TOKENS: intInRange(8, 8192, 256),
  CHAT_LORE_K: intInRange(0, 20, 3),
  CHAT_RATE_PER_MINUTE: intInRange(1, 600, 12),
  CHAT_HISTORY_CONVERSATIONS: intInRange(1, 1_000_000, 2000),
  ADAPTER_PROMPT: z.enum(PROMPT_SHAPES, { message: `expected one of ${PROMPT_SHAPES.join(', ')}` }).default('few-shot'),
  DATASET_SYNTHETIC_PER_CHUNK: intInRange(0, 20, 2),
  DATASET_PER_USER_SHARE: z.coerce
    .number({ message: 'expected a share from 0.01 to 1, e.g. 0.2' })
    .min(0.01, { message: 'expected a share from 0.01 to 1, e.g. 0.2' })
    .max(1, { message: 'expected a share from 0.01 to 1, e.g. 0.2' })
    .default(0.2),
  DATASET_SPEAKERS_UNCAPPED: boolFlag(false),
  DATASET_TEACHER_MODEL: z.preprocess(emptyAsUndefined, z.string().regex(/^[\w.\-/:]+$/, { message: 'expected a model name on the model server, e.g. smollm2-135m' }).optional()),
  DATASET_TEACHER_DIALOGUES: intInRange(0, 20_000, 240),
  DATASET_TEACHER_DIALOGUES_GPU: intInRange(0, 100_000, 700),
  DATASET_TEACHER_BEST_OF: intInRange(1, 16, 3),
  DATASET_TEACHER_MAX_TOKENS: intInRange(16, 1024, 80),
  // One below the model server's parallel requests (OLLAMA_NUM_PARALLEL, 4 by default): live chat keeps a slot.
  DATASET_TEACHER_CONCURRENCY: intInRange(1, 64, 3),
  TRAINER_URL: z.preprocess(emptyAsUndefined, z.url({ message: 'expected the trainer service URL, e.g. http://127.0.0.1:8000' }).optional()),
  TRAINER_TOKEN: z.preprocess(emptyAsUndefined, z.string().min(16, { message: 'expected the trainer bearer token (16+ characters)' }).optional()),
  // The trainer's request body limit (its TRAINER_MAX_BODY_MB, the same default): a bigger job is refused here, with its size.
  TRAINER_MAX_BODY_MB: intInRange(1, 65_536, 256),
  FINETUNE_PRESET: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { message: 'expected a preset name from trainer/presets, e.g. default or cpu-small' }).default('default'),
  FINETUNE_HYPERPARAMETERS: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .transform((v, ctx) => {
        try {
          const parsed: unknown = JSON.parse(v);
          if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
        } catch {
          // reported below
        }
        ctx.addIssue({ code: 'custom', message: 'expected a JSON object of hyperparameters, e.g. {"max_steps": 50}' });
        return z.NEVER;
      })
      .optional(),
  ),
  FINETUNE_GATE: z.enum(['eval', 'eval-loss', 'always'], { message: 'expected eval, eval-loss or always' }).default('eval'),
  FINETUNE_GATE_RATE_POINTS: z.coerce.number({ message: 'expected points from 0 to 100, e.g. 5' }).min(0, { message: 'expected points from 0 to 100, e.g. 5' }).max(100, { message: 'expected points from 0 to 100, e.g. 5' }).default(5),
  FINETUNE_GATE_PERPLEXITY_PCT: z.coerce.number({ message: 'expected a percentage from 0 to 1000, e.g. 3' }).min(0, { message: 'expected a percentage from 0 to 1000, e.g. 3' }).max(1000, { message: 'expected a percentage from 0 to 1000, e.g. 3' }).default(3),
  EVAL_SAMPLES: intInRange(1, 16, 2),
  EVAL_CONCURRENCY: intInRange(1, 64, 3),
  FINETUNE_POLL_MS: intInRange(100, 60_000, 2000),
  FINETUNE_EDIT_MS: intInRange(1000, 60_000, 1500),
  FINETUNE_RECONCILE_CRON: z
    .string()
    .regex(/^(\S+\s+){4,5}\S+$/, { message: 'expected a cron expression (five fields, or six with seconds first), e.g. "*/30 * * * * *"' })
    .default('*/30 * * * * *'),
  DISCORD_TOKEN: z.preprocess(emptyAsUndefined, z.string().min(50, { message: 'expected a bot token from the Discord developer portal' }).optional()),
  DISCORD_APPLICATION_ID: z.preprocess(emptyAsUndefined, z.string().regex(/^\d{17,20}$/, { message: 'expected a numeric Discord snowflake id' }).optional()),
  DISCORD_API_URL: z.preprocess(emptyAsUndefined, z.url({ message: 'expected an http(s) URL such as https://discord.com/api' }).optional()),
});

export { ConfigError } from './core/errors.js';

export type Env = z.infer<typeof envSchema>;

export interface Config {
  env: Env['NODE_ENV'];
  logLevel: Env['LOG_LEVEL'];
  dataDir: string;
  database: { url?: string; poolMax: number };
  keys: { messageKey?: string; previousMessageKeys: string[]; hmacKey?: string };
  retention: { days: number; cron: string };
  writer: { batchSize: number; flushMs: number; capacity: number; closeTimeoutMs: number; ackMs: number };
  limits: { maxMessageChars: number };
  allowChatLogTraining: boolean;
  /** 0 = no health endpoint. */
  healthPort: number;
  healthHost: string;
  personaDir: string;
  /** The model server (MODEL_BACKEND; Ollama's settings keep their OLLAMA_* names). */
  inference: InferenceSettings;
  chat: { contextTokens: number; maxReplyTokens: number; loreK: number; ratePerMinute: number; adapterPrompt: PromptShape; historyConversations: number };
  /** Automatic evaluation of versions (EVAL_*): replies per probe, probes answered at once. */
  evaluation: { samples: number; concurrency: number };
  /** Dataset build settings an operator may change (the rest are the builder's defaults). */
  dataset: {
    syntheticPerChunk: number;
    perUserShare: number;
    capExemptSpeakers: boolean;
    /** Teacher dialogues per build: on a CPU trainer, and where the trainer reports a GPU. */
    teacherDialogues: number;
    teacherDialoguesGpu: number;
    teacherBestOf: number;
    teacherMaxTokens: number;
    /** Teacher replies generated at once. */
    teacherConcurrency: number;
    /** The model that writes teacher replies (default: the base model). */
    teacherModel?: string;
  };
  /** Where /finetune sends jobs; absent = fine-tuning is not configured. */
  trainer?: { url: string; token: string; maxBodyBytes: number };
  finetune: Omit<FinetuneSettings, 'defaultBaseModel'> & {
    preset: string;
    /** FINETUNE_HYPERPARAMETERS: what the operator set over the preset (`defaults` has both, checked). */
    hyperparameters: Record<string, unknown>;
  };
  discord: { token?: string; applicationId?: string; apiUrl?: string };
}

/** Parses the environment. Throws ConfigError naming every bad variable (values are never echoed: they may be secrets). */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`));
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.DATABASE_URL && !e.MESSAGE_KEY) {
    problems.push('MESSAGE_KEY: required when DATABASE_URL is set (32 random bytes in base64; keep it safe, stored messages cannot be read without it)');
  }
  if (e.DATABASE_URL && !e.HMAC_KEY) {
    problems.push('HMAC_KEY: required when DATABASE_URL is set (32 random bytes in base64)');
  }
  if (e.DISCORD_TOKEN && !e.DISCORD_APPLICATION_ID) {
    problems.push('DISCORD_APPLICATION_ID: required when DISCORD_TOKEN is set (the application id from the developer portal)');
  }
  if (e.TRAINER_URL && !e.TRAINER_TOKEN) {
    problems.push('TRAINER_TOKEN: required when TRAINER_URL is set (the bearer token the trainer service was started with)');
  }
  for (const [name, expression] of [['RETENTION_CRON', e.RETENTION_CRON], ['FINETUNE_RECONCILE_CRON', e.FINETUNE_RECONCILE_CRON]] as const) {
    if (!cron.validate(expression)) problems.push(`${name}: "${expression}" is not a valid cron expression`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  // The preset and the overrides, checked against the trainer contract now (a ConfigError naming them).
  const finetuneDefaults = loadHyperparameterDefaults(e.FINETUNE_PRESET, e.FINETUNE_HYPERPARAMETERS ?? {});

  return {
    env: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    dataDir: e.DATA_DIR,
    database: { url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX },
    keys: {
      messageKey: e.MESSAGE_KEY,
      previousMessageKeys: e.MESSAGE_KEYS_PREVIOUS ? e.MESSAGE_KEYS_PREVIOUS.split(',').map((k) => k.trim()) : [],
      hmacKey: e.HMAC_KEY,
    },
    retention: { days: e.RETENTION_DAYS, cron: e.RETENTION_CRON },
    writer: { batchSize: e.WRITER_BATCH_SIZE, flushMs: e.WRITER_FLUSH_MS, capacity: e.WRITER_CAPACITY, closeTimeoutMs: e.WRITER_CLOSE_TIMEOUT_MS, ackMs: e.WRITER_ACK_MS },
    limits: { maxMessageChars: e.MAX_MESSAGE_CHARS },
    allowChatLogTraining: e.ALLOW_CHAT_LOG_TRAINING,
    healthPort: e.HEALTH_PORT,
    healthHost: e.HEALTH_HOST,
    personaDir: e.PERSONA_DIR,
    inference: {
      backend: e.MODEL_BACKEND,
      baseModel: e.OLLAMA_BASE_MODEL,
      requestTimeoutMs: e.OLLAMA_REQUEST_TIMEOUT_MS,
      maxConcurrency: e.MODEL_MAX_CONCURRENCY,
      ollama: { host: e.OLLAMA_HOST.replace(/\/$/, '') },
    },
    chat: { contextTokens: e.CHAT_CONTEXT_TOKENS, maxReplyTokens: e.CHAT_MAX_REPLY_TOKENS, loreK: e.CHAT_LORE_K, ratePerMinute: e.CHAT_RATE_PER_MINUTE, adapterPrompt: e.ADAPTER_PROMPT, historyConversations: e.CHAT_HISTORY_CONVERSATIONS },
    evaluation: { samples: e.EVAL_SAMPLES, concurrency: e.EVAL_CONCURRENCY },
    dataset: {
      syntheticPerChunk: e.DATASET_SYNTHETIC_PER_CHUNK,
      perUserShare: e.DATASET_PER_USER_SHARE,
      capExemptSpeakers: e.DATASET_SPEAKERS_UNCAPPED,
      teacherDialogues: e.DATASET_TEACHER_DIALOGUES,
      teacherDialoguesGpu: e.DATASET_TEACHER_DIALOGUES_GPU,
      teacherBestOf: e.DATASET_TEACHER_BEST_OF,
      teacherMaxTokens: e.DATASET_TEACHER_MAX_TOKENS,
      teacherConcurrency: e.DATASET_TEACHER_CONCURRENCY,
      ...(e.DATASET_TEACHER_MODEL ? { teacherModel: e.DATASET_TEACHER_MODEL } : {}),
    },
    ...(e.TRAINER_URL && e.TRAINER_TOKEN ? { trainer: { url: e.TRAINER_URL.replace(/\/$/, ''), token: e.TRAINER_TOKEN, maxBodyBytes: e.TRAINER_MAX_BODY_MB * 1024 * 1024 } } : {}),
    finetune: {
      preset: e.FINETUNE_PRESET,
      hyperparameters: e.FINETUNE_HYPERPARAMETERS ?? {},
      defaults: finetuneDefaults,
      gate: e.FINETUNE_GATE,
      margins: { ratePoints: e.FINETUNE_GATE_RATE_POINTS, perplexityPct: e.FINETUNE_GATE_PERPLEXITY_PCT },
      pollMs: e.FINETUNE_POLL_MS,
      editMs: e.FINETUNE_EDIT_MS,
      reconcileCron: e.FINETUNE_RECONCILE_CRON,
    },
    discord: { token: e.DISCORD_TOKEN, applicationId: e.DISCORD_APPLICATION_ID, apiUrl: e.DISCORD_API_URL },
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { KeyRing } from '../../bot/crypto/keyring.js';
import type { Database } from '../../bot/db/client.js';
import { openDatabase } from '../../bot/db/client.js';
import { openTestDatabase } from './db.js';

/** The real bot process (`bot/main.ts`), started against a local Discord, real Postgres and the real Ollama. */
export interface BotProcess {
  child: ChildProcess;
  output(): string;
  /** The bot's database, opened from the test, and its keys, to check what it stored. */
  database: Database;
  keys: KeyRing;
  personaDir: string;
  /** Stops the process (SIGTERM: a clean shutdown; `hard`: SIGKILL, a crash), runs `whileStopped`, and starts it again. */
  restart(opts?: { hard?: boolean; whileStopped?: () => void | Promise<void> }): Promise<void>;
  stop(): Promise<void>;
}

export async function startBot(
  discordEnv: Record<string, string>,
  extraEnv: Record<string, string> = {},
  opts: {
    adminUrl?: string;
    /** Card files (name → text) written into the persona folder before start. */
    cards?: Record<string, string>;
    /** Extra node flags, e.g. --cpu-prof (not allowed in NODE_OPTIONS). */
    nodeArgs?: string[];
  } = {},
): Promise<BotProcess> {
  const db = await openTestDatabase('postgres', opts.adminUrl ?? inject('pgUrl'));
  const messageKey = KeyRing.generateKey();
  const hmacKey = KeyRing.generateKey();
  const keys = new KeyRing({ messageKey, hmacKey });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'persona-bot-e2e-'));
  const personaDir = path.join(dataDir, 'personas');
  cpSync('persona-data', personaDir, { recursive: true, filter: (src) => !src.includes('dataset') && !src.endsWith('.ts') });
  for (const [name, text] of Object.entries(opts.cards ?? {})) writeFileSync(path.join(personaDir, name), text);
  let out = '';
  let child!: ChildProcess;
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...discordEnv,
    DATABASE_URL: db.url!,
    MESSAGE_KEY: messageKey,
    HMAC_KEY: hmacKey,
    DATA_DIR: dataDir,
    PERSONA_DIR: personaDir,
    OLLAMA_HOST: extraEnv.OLLAMA_HOST ?? inject('ollamaHost'),
    OLLAMA_BASE_MODEL: extraEnv.OLLAMA_BASE_MODEL ?? inject('ollamaBaseModel'),
    CHAT_MAX_REPLY_TOKENS: '24',
    DATASET_TEACHER_DIALOGUES: '0', // minutes of generation: the quality benchmark covers it
    FINETUNE_GATE: 'eval-loss', // the evaluation gate has its own end-to-end test (eval-gate.e2e.test.ts)
    WRITER_FLUSH_MS: '5',
    WRITER_ACK_MS: '60000', // a busy test machine must not turn an answer into "saved later"
    LOG_LEVEL: 'info',
    ...extraEnv,
  };
  const launch = () => {
    child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', 'bot/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  };
  const stopChild = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    child.kill('SIGKILL');
  };
  launch();
  const database = await openDatabase({ url: db.url!, poolMax: 2, migrate: false });
  return {
    get child() {
      return child;
    },
    output: () => out,
    database,
    keys,
    personaDir,
    async restart(o = {}) {
      await stopChild(o.hard ? 'SIGKILL' : 'SIGTERM');
      await o.whileStopped?.();
      launch();
    },
    async stop() {
      await stopChild();
      await database.close();
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 60_000, output?: () => string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${output ? `\n--- bot output ---\n${output().slice(-4000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

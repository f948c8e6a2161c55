import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { inject } from 'vitest';
import type { Config } from '../../bot/config.js';
import { loadConfig } from '../../bot/config.js';
import { KeyRing } from '../../bot/crypto/keyring.js';
import type { Database } from '../../bot/db/client.js';
import { openDatabase } from '../../bot/db/client.js';

export const BACKENDS = ['postgres', 'pglite'] as const;
export type Backend = (typeof BACKENDS)[number];

/** A fresh, migrated database: its own database on the suite's Postgres, or an in-memory PGlite. */
export async function openTestDatabase(backend: Backend, adminUrl: string = inject('pgUrl')): Promise<Database & { url?: string }> {
  if (backend === 'pglite') return openDatabase({ pgliteDir: 'memory://' });
  const empty = await emptyPostgresDatabase(adminUrl);
  const db = await openDatabase({ url: empty.url, poolMax: 4 });
  return {
    ...db,
    url: empty.url,
    async close() {
      await db.close();
      await empty.drop();
    },
  };
}

/** A new, empty (unmigrated) database on the suite's Postgres. */
export async function emptyPostgresDatabase(adminUrl: string = inject('pgUrl')): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  return {
    url: withDatabase(adminUrl, name),
    async drop() {
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export function testKeys(): KeyRing {
  return new KeyRing({ messageKey: KeyRing.generateKey(), hmacKey: KeyRing.generateKey() });
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  // No teacher dialogues and no evaluation gate unless a test asks: both take minutes of generation
  // on this CPU (their own tests and the quality benchmark's smoke size cover them).
  // Each app its own DATA_DIR: its intent journal must not be replayed into another test's database.
  // Commands wait for their write to commit (a busy machine must not turn it into "saved later").
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'persona-bot-test-data-')), DATASET_TEACHER_DIALOGUES: '0', FINETUNE_GATE: 'eval-loss', WRITER_ACK_MS: '60000', ...overrides });
}

/** Snowflake-shaped ids for tests. */
export function snowflake(n: number): string {
  return (100000000000000000n + BigInt(n)).toString();
}

import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from './schema.js';

/** One type for both drivers: repositories and services never know which one they run on. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
/** A transaction's handle (what `db.transaction` passes its callback). */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export interface Database {
  db: Db;
  kind: 'postgres' | 'pglite';
  /** Runs raw SQL and returns its rows, whichever driver is underneath. */
  rows<T = Record<string, unknown>>(query: SQL): Promise<T[]>;
  /** Whether the database answers (GET /healthz). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** postgres:// URL; when absent an embedded PGlite database is used. */
  url?: string;
  /** PGlite data folder (created), or 'memory://' for a throwaway in-memory database. */
  pgliteDir?: string;
  poolMax?: number;
  migrate?: boolean;
  /** Where the migrations are (default: migrations/ beside package.json; tests migrate from a subset). */
  migrationsFolder?: string;
}

/** Finds migrations/ beside package.json, from source (bot/db) or from a build (dist/bot/db). */
export function migrationsFolder(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'migrations');
    if (existsSync(path.join(candidate, 'meta', '_journal.json'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('migrations/ not found next to package.json: run `npm run db:generate`');
}

/** Opens the database and, unless told otherwise, applies pending migrations before anything else runs. */
export async function openDatabase(opts: OpenOptions): Promise<Database> {
  const migrationsDir = opts.migrationsFolder ?? migrationsFolder();
  if (opts.url) {
    const client = postgres(opts.url, {
      max: opts.poolMax ?? 10,
      onnotice: () => {},
      // Connection errors surface to the caller (the writer queue retries); don't hang forever.
      connect_timeout: 10,
    });
    const db = drizzlePostgres(client, { schema });
    if (opts.migrate !== false) await migratePostgres(db, { migrationsFolder: migrationsDir });
    const rows = async <T>(query: SQL) => (await db.execute(query)) as unknown as T[];
    return { db: db as unknown as Db, kind: 'postgres', rows, ping: () => ping(rows), close: () => client.end({ timeout: 5 }) };
  }
  const dir = opts.pgliteDir ?? 'memory://';
  if (!dir.startsWith('memory://')) mkdirSync(dir, { recursive: true });
  // Loaded only when used: the embedded database's WebAssembly costs every Postgres process ~45 MB.
  const [{ PGlite }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  const client = new PGlite(dir);
  const db = drizzlePglite(client, { schema });
  if (opts.migrate !== false) await migratePglite(db, { migrationsFolder: migrationsDir });
  const rows = async <T>(query: SQL) => ((await db.execute(query)) as unknown as { rows: T[] }).rows;
  return { db: db as unknown as Db, kind: 'pglite', rows, ping: () => ping(rows), close: () => client.close() };
}

async function ping(rows: Database['rows']): Promise<boolean> {
  try {
    await rows(sql`select 1`);
    return true;
  } catch {
    return false;
  }
}

import postgres from 'postgres';
import type { Database } from '../bot/db/client.js';
import { openDatabase } from '../bot/db/client.js';
import { withDatabase } from '../test/support/db.js';
import { startPostgresCluster } from '../test/support/pg-cluster.js';

export interface BenchDatabase {
  database: Database;
  url: string;
  describe: string;
  /** Closes the pool, drops the database and stops the temporary cluster. */
  dispose(): Promise<void>;
}

/**
 * A fresh, migrated database on real PostgreSQL for one benchmark: BENCH_DATABASE_URL's server,
 * or a temporary cluster with Postgres' default durability (fsync and synchronous commit on), so
 * commit costs are what production pays.
 */
export async function benchDatabase(name: string): Promise<BenchDatabase> {
  const cluster = process.env.BENCH_DATABASE_URL ? undefined : await startPostgresCluster({ durable: true });
  const adminUrl = process.env.BENCH_DATABASE_URL ?? cluster!.url;
  const dbName = `bench_${name}_${process.pid}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${dbName}`);
  await admin.unsafe(`create database ${dbName}`);
  const url = withDatabase(adminUrl, dbName);
  const database = await openDatabase({ url, poolMax: 10 });
  return {
    database,
    url,
    describe: cluster ? 'a temporary PostgreSQL cluster with default durability (fsync on, synchronous_commit on)' : 'PostgreSQL from BENCH_DATABASE_URL',
    async dispose() {
      await database.close();
      await admin.unsafe(`drop database if exists ${dbName} with (force)`);
      await admin.end();
      cluster?.destroy();
    },
  };
}

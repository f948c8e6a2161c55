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
 * or a temporary cluster, by default with Postgres' own durability (fsync and synchronous commit
 * on), so commit costs are what production pays.
 */
export async function benchDatabase(name: string, opts: { durable?: boolean; poolMax?: number } = {}): Promise<BenchDatabase> {
  const durable = opts.durable ?? true;
  const cluster = process.env.BENCH_DATABASE_URL ? undefined : await startPostgresCluster({ durable });
  const adminUrl = process.env.BENCH_DATABASE_URL ?? cluster!.url;
  // An identifier, not a string: anything but [a-z0-9_] (a persona slug's '-') would be SQL.
  const dbName = `bench_${name.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_${process.pid}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${dbName}`);
  await admin.unsafe(`create database ${dbName}`);
  const url = withDatabase(adminUrl, dbName);
  const database = await openDatabase({ url, poolMax: opts.poolMax ?? 10 });
  return {
    database,
    url,
    describe: !cluster
      ? 'PostgreSQL from BENCH_DATABASE_URL'
      : durable
        ? 'a temporary PostgreSQL cluster with default durability (fsync on, synchronous_commit on)'
        : 'a temporary PostgreSQL cluster (fsync off)',
    async dispose() {
      await database.close();
      await admin.unsafe(`drop database if exists ${dbName} with (force)`);
      await admin.end();
      cluster?.destroy();
    },
  };
}

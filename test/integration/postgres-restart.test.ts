import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatabase } from '../../bot/db/client.js';
import { loggedMessages } from '../../bot/db/schema.js';
import { createTestApp } from '../support/app.js';
import { snowflake } from '../support/db.js';
import type { PostgresCluster } from '../support/pg-cluster.js';
import { clusterLog, startPostgresCluster } from '../support/pg-cluster.js';

// This test stops and starts its own Postgres server, so it never disturbs the suite's.
let cluster: PostgresCluster;
beforeAll(async () => {
  cluster = await startPostgresCluster();
});
afterAll(() => cluster?.destroy());

it('loses no accepted message while Postgres is stopped and restarted during ingest', async () => {
  const database = await openDatabase({ url: cluster.url, poolMax: 4 });
  const t = await createTestApp('postgres', { database, env: { WRITER_BATCH_SIZE: '50', WRITER_FLUSH_MS: '5', WRITER_CAPACITY: '5000' } });
  const guild = snowflake(1);
  const channel = snowflake(2);
  const user = snowflake(3);
  await t.app.channels.set(guild, channel, true);
  await t.app.consent.optIn(guild, user);

  const expected = new Map<string, string>();
  let n = 0;
  const ingest = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const id = snowflake(1_000_000 + n);
      const content = `message ${n++}`;
      expect(await t.app.messages.onCreate({ id, guildId: guild, channelId: channel, authorId: user, content, createdAt: new Date() })).toBe('stored');
      expected.set(id, content);
      if (i % 25 === 0) await new Promise((r) => setTimeout(r, 1));
    }
  };

  try {
    await ingest(300);
    cluster.stop();
    await ingest(300); // accepted while the database is down
    await new Promise((r) => setTimeout(r, 1500)); // the writer keeps retrying meanwhile
    expect(t.app.writer.stats.retries).toBeGreaterThan(0);
    expect(t.app.writer.size).toBeGreaterThan(0);
    cluster.start();
    await ingest(300);
    await t.app.writer.drainPoint();
    const rows = await database.db.select().from(loggedMessages);
    const stored = new Map(rows.map((r) => [r.id, t.keys.decrypt(r.contentEnc, `message:${r.id}`)]));
    expect(stored.size).toBe(900);
    expect(stored).toEqual(expected);
    expect(t.app.writer.stats.dropped).toBe(0);
  } catch (err) {
    console.error(clusterLog(cluster));
    throw err;
  } finally {
    await t.app.close();
    await database.close();
  }
}, 120_000);

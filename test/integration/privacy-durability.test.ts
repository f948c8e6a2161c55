import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatabase } from '../../bot/db/client.js';
import { channelSettings, consents, loggedMessages } from '../../bot/db/schema.js';
import { createTestApp } from '../support/app.js';
import { snowflake } from '../support/db.js';
import type { PostgresCluster } from '../support/pg-cluster.js';
import { clusterLog, startPostgresCluster } from '../support/pg-cluster.js';

// Its own Postgres server, stopped and started by the test, so the suite's is never disturbed.
let cluster: PostgresCluster;
beforeAll(async () => {
  cluster = await startPostgresCluster();
});
afterAll(() => cluster?.destroy());

it('an opt-out, a forget and logging-off made while Postgres is down survive a restart of the bot; an opt-in waits until it is saved', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'persona-bot-durability-'));
  const env = { DATA_DIR: dataDir, WRITER_ACK_MS: '300', WRITER_CLOSE_TIMEOUT_MS: '500', WRITER_FLUSH_MS: '5' };
  const [guild, loggedChannel, quietChannel] = [snowflake(1), snowflake(2), snowflake(3)];
  const [optingOut, forgetting, staying, joining] = [snowflake(10), snowflake(11), snowflake(12), snowflake(13)];
  let n = 0;
  const say = (app: Awaited<ReturnType<typeof createTestApp>>['app'], authorId: string, channelId: string) =>
    app.messages.onCreate({ id: snowflake(1000 + n++), guildId: guild, channelId, authorId, content: `words ${n}`, createdAt: new Date() });

  const firstDb = await openDatabase({ url: cluster.url, poolMax: 4 });
  const first = await createTestApp('postgres', { database: firstDb, env });
  try {
    await first.app.channels.set(guild, loggedChannel, true);
    await first.app.channels.set(guild, quietChannel, true);
    for (const u of [optingOut, forgetting, staying]) await first.app.consent.optIn(guild, u);
    for (const u of [optingOut, forgetting, staying]) expect(await say(first.app, u, loggedChannel)).toBe('stored');
    await first.app.writer.drainPoint();

    cluster.stop();
    // Each answers within WRITER_ACK_MS, says it is not saved yet, and stops logging at once.
    expect(await first.app.consent.optOut(guild, optingOut)).toEqual({ wasIn: true, saved: false });
    expect(await first.app.consent.optOut(guild, optingOut)).toEqual({ wasIn: true, saved: false }); // asked again: same answer, not "you were not opted in"
    expect(await first.app.consent.forget(forgetting)).toBeNull();
    expect(await first.app.channels.set(guild, quietChannel, false)).toEqual({ changed: true, saved: false });
    const optIn = await first.app.consent.optIn(guild, joining);
    expect(optIn.saved).toBe(false);
    expect(await say(first.app, joining, loggedChannel)).toBe('skipped_no_consent'); // not durable yet: not in force
    expect(await say(first.app, optingOut, loggedChannel)).toBe('skipped_no_consent');
    expect(await say(first.app, forgetting, loggedChannel)).toBe('skipped_no_consent');
    expect(await say(first.app, staying, quietChannel)).toBe('skipped_channel_off');
    expect(await say(first.app, staying, loggedChannel)).toBe('stored'); // accepted while down: must not be lost either
    await first.app.close(); // the database is still down: what is queued goes to the journal
  } catch (err) {
    console.error(clusterLog(cluster));
    throw err;
  } finally {
    await firstDb.close().catch(() => {});
  }

  cluster.start();
  const db = await openDatabase({ url: cluster.url, poolMax: 4 });
  const second = await createTestApp('postgres', { database: db, env, keys: first.keys }); // the same bot: the same keys
  try {
    // In force from the first moment after the restart, before the journal has even committed.
    expect(second.app.privacy.hasConsent(guild, optingOut)).toBe(false);
    expect(second.app.privacy.hasConsent(guild, forgetting)).toBe(false);
    expect(second.app.channels.isOn(quietChannel)).toBe(false);
    await second.app.writer.drainPoint();
    const consentOf = async (userId: string) =>
      (await db.db.select().from(consents).where(and(eq(consents.guildId, guild), eq(consents.userId, userId))))[0]?.status;
    expect(await consentOf(optingOut)).toBe('out');
    expect(await consentOf(forgetting)).toBeUndefined();
    expect(await consentOf(joining)).toBe('in'); // queued before the stop, so it lands once saved
    expect(second.app.privacy.hasConsent(guild, joining)).toBe(true); // ...and is in force from then on
    expect((await db.db.select().from(channelSettings).where(eq(channelSettings.channelId, quietChannel)))[0]?.loggingEnabled).toBe(false);
    const stored = await db.db.select({ author: loggedMessages.authorId }).from(loggedMessages);
    expect(stored.filter((r) => r.author === forgetting)).toHaveLength(0);
    expect(stored.filter((r) => r.author === staying)).toHaveLength(2);
    expect(stored.filter((r) => r.author === optingOut)).toHaveLength(1); // from before the opt-out (kept until forget or expiry)
    expect(second.app.writer.stats.dropped).toBe(0);
    // And a third start has nothing left to replay.
    await second.app.close();
    const third = await createTestApp('postgres', { database: db, env, keys: first.keys });
    expect(third.app.writer.size).toBe(0);
    await third.app.close();
  } catch (err) {
    console.error(clusterLog(cluster));
    throw err;
  } finally {
    await db.close();
  }
}, 120_000);

it('a full writer queue during an outage sheds only new messages, at once, and still takes the opt-out behind them', async () => {
  const db = await openDatabase({ url: cluster.url, poolMax: 2 });
  const t = await createTestApp('postgres', { database: db, env: { WRITER_CAPACITY: '10', WRITER_ACK_MS: '200', WRITER_CLOSE_TIMEOUT_MS: '200' } });
  const [guild, channel, user] = [snowflake(21), snowflake(22), snowflake(23)];
  try {
    await t.app.channels.set(guild, channel, true);
    await t.app.consent.optIn(guild, user);
    cluster.stop();
    const decisions: string[] = []; // before the fix the 11th message waited for the database (forever, while it was down)
    for (let i = 0; i < 25; i++) {
      decisions.push(await t.app.messages.onCreate({ id: snowflake(5000 + i), guildId: guild, channelId: channel, authorId: user, content: `m${i}`, createdAt: new Date() }));
    }
    expect(decisions.filter((d) => d === 'stored')).toHaveLength(10);
    expect(decisions.filter((d) => d === 'shed_queue_full')).toHaveLength(15);
    await t.app.messages.onDelete(snowflake(5000)); // deletes and opt-outs are never shed
    expect(await t.app.consent.optOut(guild, user)).toEqual({ wasIn: true, saved: false });
    expect((await t.app.metrics.exposition()).body).toMatch(/^persona_writer_shed_total 15$/m);
    cluster.start();
    await t.app.writer.drainPoint();
    const stored = await db.db.select({ id: loggedMessages.id }).from(loggedMessages).where(eq(loggedMessages.guildId, guild));
    expect(stored).toHaveLength(9); // the 10 accepted, less the one deleted
    expect((await db.db.select().from(consents).where(eq(consents.userId, user)))[0]?.status).toBe('out');
  } catch (err) {
    console.error(clusterLog(cluster));
    throw err;
  } finally {
    await t.app.close();
    await db.close();
  }
}, 60_000);

import { execFileSync } from 'node:child_process';
import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyRing } from '../../bot/crypto/keyring.js';
import { DatasetStore } from '../../bot/db/dataset-store.js';
import { erasureMark } from '../../bot/db/erasure-fence.js';
import { consentEvents, loggedMessages } from '../../bot/db/schema.js';
import { ValidationError } from '../../bot/core/errors.js';
import type { IncomingMessage } from '../../bot/services/message-log.js';
import { createTestApp, policyVersion, type TestApp } from '../support/app.js';
import { BACKENDS, snowflake, testKeys } from '../support/db.js';
import { postgresBinDir } from '../support/pg-cluster.js';
import { decryptedDump, rawDump } from '../support/scan.js';

const GUILD = snowflake(1);
const OTHER_GUILD = snowflake(2);
const CHANNEL = snowflake(10);
const OFF_CHANNEL = snowflake(11);
const THREAD = snowflake(12);
const ALICE = snowflake(100);
const BOB = snowflake(101);

let nextId = 1_000_000;
function message(over: Partial<IncomingMessage> = {}): IncomingMessage {
  return { id: snowflake(nextId++), guildId: GUILD, channelId: CHANNEL, authorId: ALICE, content: 'hello there', createdAt: new Date(), ...over };
}

async function storedContents(t: TestApp): Promise<Map<string, string>> {
  await t.app.writer.drainPoint();
  const rows = await t.app.database.db.select().from(loggedMessages);
  return new Map(rows.map((r) => [r.id, t.keys.decrypt(r.contentEnc, `message:${r.id}`)]));
}

describe.each(BACKENDS)('consent and logging on %s', (backend) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(backend);
    await t.app.channels.set(GUILD, CHANNEL, true);
  });
  afterEach(async () => t.destroy());

  it('stores a message only with current consent in a channel with logging on', async () => {
    const before = message({ content: 'before opt-in' });
    expect(await t.app.messages.onCreate(before)).toBe('skipped_no_consent');
    const optIn = await t.app.consent.optIn(GUILD, ALICE);
    expect(optIn.policyText).toContain('30 days');
    expect(optIn.policyText).toContain('/consent forget');
    const logged = message({ content: 'after opt-in' });
    expect(await t.app.messages.onCreate(logged)).toBe('stored');
    expect(await t.app.messages.onCreate(message({ channelId: OFF_CHANNEL, content: 'channel off' }))).toBe('skipped_channel_off');
    expect(await t.app.messages.onCreate(message({ authorId: BOB, content: 'bob never consented' }))).toBe('skipped_no_consent');
    expect(await t.app.messages.onCreate(message({ authorIsBot: true, content: 'a bot' }))).toBe('skipped_bot');
    expect(await t.app.messages.onCreate(message({ webhookId: snowflake(9), content: 'a webhook' }))).toBe('skipped_bot');
    expect(await t.app.messages.onCreate(message({ guildId: null, content: 'a DM' }))).toBe('skipped_dm');
    // Consent is per guild: opting in here logs nothing in another guild.
    await t.app.channels.set(OTHER_GUILD, snowflake(20), true);
    expect(await t.app.messages.onCreate(message({ guildId: OTHER_GUILD, channelId: snowflake(20), content: 'other guild' }))).toBe('skipped_no_consent');

    const stored = await storedContents(t);
    expect([...stored.values()]).toEqual(['after opt-in']);
    const status = await t.app.consent.status(GUILD, ALICE);
    expect(status).toMatchObject({ state: 'opted_in', policyVersion: 1, storedMessages: 1 });
  });

  it('threads follow their parent channel; /logging off stops logging at once', async () => {
    await t.app.consent.optIn(GUILD, ALICE);
    expect(await t.app.messages.onCreate(message({ channelId: THREAD, parentChannelId: CHANNEL, content: 'in a thread' }))).toBe('stored');
    expect(await t.app.messages.onCreate(message({ channelId: THREAD, parentChannelId: OFF_CHANNEL }))).toBe('skipped_channel_off');
    await t.app.channels.set(GUILD, CHANNEL, false);
    expect(await t.app.messages.onCreate(message({ content: 'after logging off' }))).toBe('skipped_channel_off');
    expect([...(await storedContents(t)).values()]).toEqual(['in a thread']);
  });

  it('opt-out stops logging; consent changes are append-only events', async () => {
    await t.app.consent.optIn(GUILD, ALICE);
    await t.app.messages.onCreate(message({ content: 'kept' }));
    expect(await t.app.consent.optOut(GUILD, ALICE)).toEqual({ wasIn: true, saved: true });
    expect(await t.app.messages.onCreate(message({ content: 'not kept' }))).toBe('skipped_no_consent');
    await t.app.consent.optIn(GUILD, ALICE);
    expect((await t.app.consent.status(GUILD, ALICE)).storedMessages).toBe(1);
    const events = await t.app.database.db.select().from(consentEvents).orderBy(consentEvents.id);
    expect(events.map((e) => e.action)).toEqual(['opt_in', 'opt_out', 'opt_in']);
  });

  it('turning on chat-log training or changing the retention is a new policy version; the same settings keep it', async () => {
    await t.app.consent.optIn(GUILD, ALICE);
    const v1 = t.app.consent.policyVersion;
    const started: TestApp[] = [];
    const restart = async (env: Record<string, string>) => {
      const again = await createTestApp(backend, { keys: t.keys, database: t.app.database, env });
      started.push(again);
      return again.app;
    };
    try {
      expect((await restart({})).consent.policyVersion).toBe(v1); // a restart alone changes nothing
      const training = await restart({ ALLOW_CHAT_LOG_TRAINING: 'true' });
      expect(training.consent.policyVersion).toBe(v1 + 1);
      expect(training.consent.policyText()).toContain('building their training datasets');
      expect((await training.consent.status(GUILD, ALICE)).state).toBe('policy_outdated'); // she agreed to a text without training
      expect(training.privacy.hasConsent(GUILD, ALICE)).toBe(false);
      expect((await restart({ ALLOW_CHAT_LOG_TRAINING: 'true' })).consent.policyVersion).toBe(v1 + 1);
      expect((await restart({ ALLOW_CHAT_LOG_TRAINING: 'true', RETENTION_DAYS: '7' })).consent.policyVersion).toBe(v1 + 2);
    } finally {
      for (const s of started) await s.app.writer.close();
    }
  });

  it('a new policy version stops logging until the user opts in to it', async () => {
    await t.app.consent.optIn(GUILD, ALICE);
    await t.app.messages.onCreate(message({ content: 'under v1' }));
    await t.app.writer.drainPoint();
    // Restart the app with policy v2 over the same database.
    const v2 = await createTestApp(backend, { policy: policyVersion(2), keys: t.keys, database: t.app.database });
    try {
      expect((await v2.app.consent.status(GUILD, ALICE)).state).toBe('policy_outdated');
      expect(await v2.app.messages.onCreate(message({ content: 'under v2 before opt-in' }))).toBe('skipped_no_consent');
      await v2.app.consent.optIn(GUILD, ALICE);
      expect(await v2.app.messages.onCreate(message({ content: 'under v2' }))).toBe('stored');
      expect((await v2.app.consent.status(GUILD, ALICE)).state).toBe('opted_in');
      expect([...(await storedContents(v2)).values()].sort()).toEqual(['under v1', 'under v2']);
    } finally {
      await v2.app.writer.close();
    }
  });

  it('edits update the stored copy, deletes remove it, a create followed at once by its delete leaves nothing', async () => {
    await t.app.consent.optIn(GUILD, ALICE);
    const m = message({ content: 'first' });
    await t.app.messages.onCreate(m);
    await t.app.messages.onEdit({ id: m.id, guildId: GUILD, channelId: CHANNEL, authorId: ALICE, content: 'edited', editedAt: new Date() });
    const gone = message({ content: 'deleted right away' });
    await t.app.messages.onCreate(gone);
    await t.app.messages.onDelete(gone.id);
    expect([...(await storedContents(t)).entries()]).toEqual([[m.id, 'edited']]);
    // After opt-out, an edit may not be stored: the old copy goes too.
    await t.app.consent.optOut(GUILD, ALICE);
    await t.app.messages.onEdit({ id: m.id, guildId: GUILD, channelId: CHANNEL, authorId: ALICE, content: 'edited after opt-out', editedAt: new Date() });
    expect((await storedContents(t)).size).toBe(0);
  });

  it('keeps no plaintext in a raw dump, and old rows stay readable after a key rotation', async () => {
    await t.app.consent.optIn(GUILD, ALICE);
    const secret = 'the-moon-jelly-password-7731';
    const m = message({ content: secret });
    await t.app.messages.onCreate(m);
    await t.app.writer.drainPoint();
    expect(await rawDump(t.app.database)).not.toContain(secret);
    if (backend === 'postgres') {
      const url = (t.app.database as { url?: string }).url!;
      const dump = execFileSync(`${postgresBinDir()}/pg_dump`, ['--data-only', url], { encoding: 'utf8' });
      expect(dump).toContain('logged_messages');
      expect(dump).not.toContain(secret);
    }
    // Rotate: a new current key, the old one kept for reading.
    const oldKey = (t.keys as unknown as { current: { key: Buffer } }).current.key.toString('base64');
    const rotated = new KeyRing({ messageKey: KeyRing.generateKey(), previousMessageKeys: [oldKey], hmacKey: KeyRing.generateKey() });
    const [row] = await t.app.database.db.select().from(loggedMessages);
    expect(rotated.decrypt(row!.contentEnc, `message:${m.id}`)).toBe(secret);
    expect(KeyRing.keyIdOfBlob(row!.contentEnc)).toBe(t.keys.currentKeyId);
    expect(rotated.currentKeyId).not.toBe(t.keys.currentKeyId);
    // A ciphertext moved to another row does not decrypt.
    expect(() => rotated.decrypt(row!.contentEnc, 'message:someone-else')).toThrow(/authentication/);
    // Without the old key, the reader says which key is missing.
    expect(() => testKeys().decrypt(row!.contentEnc, `message:${m.id}`)).toThrow(/MESSAGE_KEYS_PREVIOUS/);
  });

  it('forget erases everything of the user in every guild and ends consent', async () => {
    await t.app.channels.set(OTHER_GUILD, snowflake(20), true);
    for (const g of [GUILD, OTHER_GUILD]) {
      await t.app.consent.optIn(g, ALICE);
      await t.app.consent.optIn(g, BOB);
    }
    const aliceText = 'alice-unique-phrase-4242';
    const aliceMsg = message({ content: aliceText });
    await t.app.messages.onCreate(aliceMsg);
    await t.app.messages.onCreate(message({ guildId: OTHER_GUILD, channelId: snowflake(20), content: `${aliceText} elsewhere` }));
    await t.app.messages.onCreate(message({ authorId: BOB, content: 'bob stays' }));
    const replyId = snowflake(777);
    await t.app.messages.onPersonaReply({
      messageId: replyId, conversationId: null, guildId: GUILD, channelId: CHANNEL, personaSlug: 'glordon', personaVersionId: null,
      model: 'smollm2-135m', inReplyToId: aliceMsg.id, promptTokens: 10, completionTokens: 5, ttftMs: 1, totalMs: 2, createdAt: new Date(),
      userId: ALICE, content: `reply to ${aliceText}`, keepText: true,
    });
    await t.app.messages.onReaction({ messageId: replyId, userId: ALICE, emoji: '👍', guildId: GUILD, added: true });
    await t.app.messages.onReaction({ messageId: replyId, userId: BOB, emoji: '👍', guildId: GUILD, added: true });
    const datasets = new DatasetStore(t.app.database.db, t.keys);
    const versionId = await datasets.save({
      // The statistics name the biggest contributors by HMAC, as a build stores them.
      personaSlug: 'glordon', contentHash: 'h', stats: { userShares: { [t.keys.userHmac(ALICE)]: 0.5, [t.keys.userHmac(BOB)]: 0.5 } }, erasureMark: await erasureMark(t.app.database.db),
      lines: [
        { split: 'train', json: JSON.stringify({ text: aliceText }), contributorIds: [ALICE], guildIds: [GUILD] },
        { split: 'eval', json: JSON.stringify({ text: 'bob line' }), contributorIds: [BOB], guildIds: [GUILD] },
      ],
    });
    await t.app.writer.drainPoint();
    const before = await decryptedDump(t.app.database, t.keys);
    expect(before).toContain(aliceText);
    expect(before).toContain(ALICE);
    expect(before).toContain(t.keys.userHmac(ALICE));

    const counts = await t.app.consent.forget(ALICE);
    expect(counts).toMatchObject({ messages: 2, reactions: 1, datasetLines: 1, personaReplies: 1, consents: 2, consentEvents: 2 });
    const after = await decryptedDump(t.app.database, t.keys);
    expect(after).not.toContain(aliceText);
    expect(after).not.toContain(ALICE);
    expect(after).not.toContain(t.keys.userHmac(ALICE));
    expect(after).toContain('bob stays');
    expect(after).toContain('bob line');
    expect(after).toContain(t.keys.userHmac(BOB)); // the others' shares stay
    expect((await datasets.readLines(versionId)).map((l) => l.json)).toEqual([JSON.stringify({ text: 'bob line' })]);
    // Consent ended: nothing is logged until Alice opts in again.
    expect((await t.app.consent.status(GUILD, ALICE)).state).toBe('never');
    expect(await t.app.messages.onCreate(message({ content: 'after forget' }))).toBe('skipped_no_consent');
  });

  it('a guild purge erases everything of that guild only', async () => {
    await t.app.channels.set(OTHER_GUILD, snowflake(20), true);
    await t.app.consent.optIn(GUILD, ALICE);
    await t.app.consent.optIn(OTHER_GUILD, ALICE);
    await t.app.messages.onCreate(message({ content: 'in guild one' }));
    await t.app.messages.onCreate(message({ guildId: OTHER_GUILD, channelId: snowflake(20), content: 'in guild two' }));
    const counts = await t.app.consent.purgeGuild(GUILD);
    expect(counts).toMatchObject({ messages: 1, consents: 1, channels: 1 });
    expect([...(await storedContents(t)).values()]).toEqual(['in guild two']);
    expect(t.app.channels.isOn(CHANNEL)).toBe(false);
    const dump = await decryptedDump(t.app.database, t.keys);
    expect(dump).not.toContain(GUILD);
  });

  it('retention deletes messages older than RETENTION_DAYS', async () => {
    await t.app.consent.optIn(GUILD, ALICE);
    const old = new Date(Date.now() - 40 * 24 * 3600 * 1000);
    await t.app.messages.onCreate(message({ content: 'old', createdAt: old }));
    await t.app.messages.onCreate(message({ content: 'fresh' }));
    const counts = await t.app.retention.runOnce();
    expect(counts.messages).toBe(1);
    expect([...(await storedContents(t)).values()]).toEqual(['fresh']);
  });

  it('rejects bad input with a clear error and writes nothing', async () => {
    await t.app.consent.optIn(GUILD, ALICE);
    await expect(t.app.messages.onCreate(message({ id: 'not-an-id' }))).rejects.toThrow(/message id: expected a Discord id/);
    await expect(t.app.messages.onCreate(message({ authorId: '12' }))).rejects.toThrow(ValidationError);
    await expect(t.app.messages.onCreate(message({ content: 'x'.repeat(4001) }))).rejects.toThrow(/4001 characters is over the limit of 4000/);
    await expect(t.app.consent.optIn('guild', ALICE)).rejects.toThrow(/guild: expected a Discord id/);
    await expect(t.app.messages.onReaction({ messageId: snowflake(5), userId: ALICE, emoji: '', guildId: GUILD, added: true })).rejects.toThrow(/emoji/);
    await t.app.writer.drainPoint();
    const [row] = await t.app.database.rows<{ n: number }>(sql`select count(*)::int as n from logged_messages`);
    expect(row!.n).toBe(0);
    const [reactions] = await t.app.database.rows<{ n: number }>(sql`select count(*)::int as n from reactions`);
    expect(reactions!.n).toBe(0);
  });
});

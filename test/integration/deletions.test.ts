import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONSOLE_GUILD_ID } from '../../bot/core/ids.js';
import { channelSettings, consents, datasetVersions, loggedMessages, personaReplies, reactions } from '../../bot/db/schema.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { gardenerCard } from '../support/cards.js';
import { BACKENDS, snowflake } from '../support/db.js';
import { decryptedDump, lifecycleViolations, snapshotsText } from '../support/scan.js';

/**
 * Deletions on Discord reach everything stored: a message deleted alone or in bulk (a moderator's
 * purge, a ban with history), a deleted channel (its threads with it) or thread, and a server the
 * bot was removed from while it was offline. Each takes the stored copies, reactions on them, a
 * persona reply's text and the dataset lines they are in; everything else stays.
 */
const [GUILD, OTHER_GUILD, CHANNEL, THREAD, KEPT_CHANNEL, MEMBER, SPEAKER] = [1, 2, 10, 11, 12, 20, 21].map(snowflake) as [string, string, string, string, string, string, string];
/** One made-up word per exchange, so each dataset line can be told apart in the scans. */
const WORDS = ['bramblewick', 'thistledown', 'marrowglen', 'fennelspark', 'mosslantern', 'quincehollow', 'rootwhistle', 'sorrelgate'];
const TOPICS = ['the beans', 'the roses', 'the compost', 'the frost', 'the bees', 'the pond', 'the hedges', 'the pumpkins'];

describe.each(BACKENDS)('deletions reach the stored data (%s)', (backend) => {
  let t: TestApp;
  let dir: string;
  /** word → [question id, answer id, channel] */
  const exchanges = new Map<string, { asked: string; answer: string; channelId: string }>();

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'deletions-'));
    writeFileSync(path.join(dir, 'fern.md'), gardenerCard(SPEAKER));
    t = await createTestApp(backend, {
      env: { PERSONA_DIR: dir, ALLOW_CHAT_LOG_TRAINING: 'true', DATASET_SYNTHETIC_PER_CHUNK: '0', DATASET_SPEAKERS_UNCAPPED: 'true' },
    });
    for (const c of [CHANNEL, KEPT_CHANNEL]) await t.app.channels.set(GUILD, c, true);
    for (const u of [MEMBER, SPEAKER]) await t.app.consent.optIn(GUILD, u);
    let n = 1000;
    for (const [i, word] of WORDS.entries()) {
      // Two exchanges in the channel, two in its thread, four in a channel that stays.
      const [channelId, parentChannelId] = i < 2 ? [CHANNEL, null] : i < 4 ? [THREAD, CHANNEL] : [KEPT_CHANNEL, null];
      const asked = snowflake(n++);
      const answer = snowflake(n++);
      const at = Date.now() - 86_400_000 + i * 3_600_000;
      const base = { guildId: GUILD, channelId, parentChannelId };
      await t.app.messages.onCreate({ ...base, id: asked, authorId: MEMBER, content: `Tell me, how are ${TOPICS[i]} doing this week?`, createdAt: new Date(at) });
      await t.app.messages.onCreate({ ...base, id: answer, authorId: SPEAKER, content: `Ah, ${TOPICS[i]}: I call that patch ${word}, and it is doing splendidly.`, createdAt: new Date(at + 30_000), replyToId: asked });
      exchanges.set(word, { asked, answer, channelId });
    }
    await t.app.messages.onReaction({ messageId: exchanges.get(WORDS[0]!)!.answer, userId: MEMBER, emoji: '👍', guildId: GUILD, added: true });
    await t.app.messages.onPersonaReply({
      messageId: snowflake(5000), conversationId: null, guildId: GUILD, channelId: THREAD, personaSlug: 'fern', personaVersionId: null, model: 'm',
      inReplyToId: null, promptTokens: 1, completionTokens: 1, ttftMs: 1, totalMs: 1, createdAt: new Date(), userId: MEMBER, content: 'A reply about velvetmarsh.', keepText: true,
    });
    await t.app.writer.drainPoint();
    const build = await t.app.dataset.build(t.app.personas.get('fern'), { guildId: GUILD });
    build.close();
    const snapshot = await snapshotText();
    for (const w of WORDS) expect(snapshot, `${w} should be in the snapshot before any delete`).toContain(w);
  });
  afterEach(async () => {
    await t?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const snapshotText = () => snapshotsText(t.app.database, t.keys);
  const storedIds = async () => new Set((await t.app.database.db.select({ id: loggedMessages.id }).from(loggedMessages)).map((r) => r.id));

  it('a message deleted alone or in bulk leaves no stored copy and no dataset line; the rest stays', async () => {
    const [one, two, three] = [WORDS[4]!, WORDS[5]!, WORDS[6]!].map((w) => exchanges.get(w)!);
    await t.app.messages.onDelete(one!.answer);
    await t.app.messages.onBulkDelete([two!.asked, two!.answer, three!.answer]);
    await t.app.writer.drainPoint();
    const ids = await storedIds();
    for (const id of [one!.answer, two!.asked, two!.answer, three!.answer]) expect(ids.has(id)).toBe(false);
    expect(ids.has(one!.asked)).toBe(true);
    const snapshot = await snapshotText();
    for (const w of [WORDS[4]!, WORDS[5]!, WORDS[6]!]) expect(snapshot).not.toContain(w);
    for (const w of [WORDS[0]!, WORDS[3]!, WORDS[7]!]) expect(snapshot).toContain(w);
    expect((await t.app.database.db.select().from(datasetVersions))[0]!.redactedAt).not.toBeNull();
    expect(await lifecycleViolations(t.app.database, t.keys)).toEqual([]);
  });

  it('a deleted channel takes its threads, reactions, reply texts, dataset lines and logging switch; another channel stays', async () => {
    const counts = await t.app.messages.onChannelDelete(CHANNEL);
    expect(counts).toMatchObject({ messages: 8, reactions: 1, replyTexts: 1, channels: 1 });
    expect(counts.datasetLines).toBeGreaterThanOrEqual(4);
    const dump = await decryptedDump(t.app.database, t.keys);
    for (const w of WORDS.slice(0, 4)) expect(dump).not.toContain(w);
    expect(dump).not.toContain('velvetmarsh');
    for (const w of WORDS.slice(4)) expect(dump).toContain(w);
    expect(await t.app.database.db.select().from(reactions)).toEqual([]);
    expect((await t.app.database.db.select().from(personaReplies))[0]!.contentEnc).toBeNull();
    expect(await t.app.database.db.select().from(channelSettings).where(eq(channelSettings.channelId, CHANNEL))).toEqual([]);
    expect(t.app.channels.isOn(CHANNEL)).toBe(false);
    expect(t.app.channels.isOn(KEPT_CHANNEL)).toBe(true);
    // A thread alone:
    await t.app.channels.set(GUILD, CHANNEL, true);
    expect(await t.app.messages.onCreate({ id: snowflake(7000), guildId: GUILD, channelId: snowflake(13), parentChannelId: CHANNEL, authorId: MEMBER, content: 'in a new thread', createdAt: new Date() })).toBe('stored');
    expect((await t.app.messages.onChannelDelete(snowflake(13))).messages).toBe(1);
    expect(t.app.channels.isOn(CHANNEL)).toBe(true); // a thread's deletion leaves its channel's switch
    expect(await lifecycleViolations(t.app.database, t.keys)).toEqual([]);
  });

  it('at connect, a server the bot left while offline is purged; servers it is in and the console are not', async () => {
    await t.app.channels.set(OTHER_GUILD, snowflake(30), true);
    await t.app.consent.optIn(OTHER_GUILD, MEMBER);
    await t.app.channels.set(CONSOLE_GUILD_ID, snowflake(31), true);
    await t.app.consent.optIn(CONSOLE_GUILD_ID, MEMBER);
    expect(await t.app.messages.onCreate({ id: snowflake(8000), guildId: OTHER_GUILD, channelId: snowflake(30), authorId: MEMBER, content: 'elsewhere', createdAt: new Date() })).toBe('stored');
    const purged = await t.app.consent.purgeGuildsLeft([GUILD]);
    expect(purged.map((p) => p.guildId)).toEqual([OTHER_GUILD]);
    expect(purged[0]!.counts).toMatchObject({ messages: 1, consents: 1, channels: 1 });
    const left = new Set((await t.app.database.db.select({ g: consents.guildId }).from(consents)).map((c) => c.g));
    expect(left).toEqual(new Set([GUILD, CONSOLE_GUILD_ID]));
    expect(t.app.privacy.hasConsent(OTHER_GUILD, MEMBER)).toBe(false);
    expect(await t.app.consent.purgeGuildsLeft([GUILD])).toEqual([]);
  });
});

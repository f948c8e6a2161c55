import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import type { KeyRing } from '../../bot/crypto/keyring.js';
import type { Database } from '../../bot/db/client.js';
import { DatasetStore } from '../../bot/db/dataset-store.js';
import { consents, datasetLines, loggedMessages, personaReplies, reactions } from '../../bot/db/schema.js';
import { OllamaClient } from '../../bot/inference/ollama.js';
import type { PersonaCard } from '../../bot/personas/card.js';
import { parseCard } from '../../bot/personas/card.js';
import type { BuildDatasetInput, DatasetBuild } from '../../bot/dataset/build.js';
import { buildDataset } from '../../bot/dataset/build.js';
import { DatasetSourceError } from '../../bot/dataset/errors.js';
import { datasetLineSchema } from '../../bot/dataset/line.js';
import { syntheticKey } from '../../bot/dataset/sources/synthetic-dialogues.js';
import { BACKENDS, openTestDatabase, snowflake, testKeys } from '../support/db.js';

const GUILD = snowflake(1);
const SPEAKER = snowflake(900);
const ALICE = snowflake(901); // consented
const BOB = snowflake(902); // never consented
const CAROL = snowflake(903); // opted out
const DAVE = snowflake(904); // consented to an old policy version
const POLICY = 2;

function card(extra: { speakers?: string[]; lore?: string; examples?: string } = {}): PersonaCard {
  const text = `---
name: Blip
greeting: "Hi hi! Blip here."
speakers: [${(extra.speakers ?? [SPEAKER]).map((s) => `"${s}"`).join(', ')}]
markers:
  forbid: ["beep boop"]
---
## Personality
Blip is a cheerful little garden robot who loves tomatoes and asks lots of questions.

${extra.lore ?? `## Greenhouse
Blip grows glowing tomatoes in a greenhouse on the roof of the old library.
`}
## Example dialogue
${extra.examples ?? `{{char}}: Hi hi! I'm Blip, the garden robot. What shall we plant today, friend?

{{user}}: What do you grow?
{{char}}: Glowing tomatoes, mostly! They light up the whole greenhouse at night.`}
`;
  return parseCard('persona-data/blip.md', 'blip', text);
}

class Seeder {
  private t = Date.UTC(2026, 0, 1);
  private n = 10_000;
  constructor(
    private readonly database: Database,
    private readonly keys: KeyRing,
  ) {}
  async consent(userId: string, status: 'in' | 'out' = 'in', policyVersion = POLICY) {
    await this.database.db.insert(consents).values({ guildId: GUILD, userId, status, policyVersion });
  }
  /** A logged message; returns its id. */
  async msg(channel: number, authorId: string, content: string, opts: { replyTo?: string; source?: 'discord' | 'console'; minutesLater?: number } = {}): Promise<string> {
    const id = snowflake(this.n++);
    this.t += (opts.minutesLater ?? 1) * 60_000;
    await this.database.db.insert(loggedMessages).values({
      id, guildId: GUILD, channelId: snowflake(channel), authorId, source: opts.source ?? 'discord', replyToId: opts.replyTo ?? null,
      contentEnc: this.keys.encrypt(content, `message:${id}`), createdAt: new Date(this.t),
    });
    return id;
  }
  /** A persona exchange in a conversation: the user's logged message and the stored reply. */
  async exchange(conv: string, userId: string, text: string, reply: string, thumbs: { up?: number; down?: number } = { up: 1 }, source: 'discord' | 'console' = 'discord') {
    const userMsg = await this.msg(50, userId, text, { source });
    const replyId = snowflake(this.n++);
    this.t += 1000;
    await this.database.db.insert(personaReplies).values({
      messageId: replyId, conversationId: conv, guildId: GUILD, channelId: snowflake(50), personaSlug: 'blip', model: 'm',
      userHmac: this.keys.userHmac(userId), inReplyToId: userMsg, contentEnc: this.keys.encrypt(reply, `reply:${replyId}`), createdAt: new Date(this.t),
    });
    for (let i = 0; i < (thumbs.up ?? 0); i++) await this.database.db.insert(reactions).values({ messageId: replyId, userHmac: `u${i}`, emoji: '👍', guildId: GUILD });
    for (let i = 0; i < (thumbs.down ?? 0); i++) await this.database.db.insert(reactions).values({ messageId: replyId, userHmac: `d${i}`, emoji: '👎', guildId: GUILD });
    return replyId;
  }
}

describe.each(BACKENDS)('dataset builder on %s', (backend) => {
  let database: Database;
  let keys: KeyRing;
  let seed: Seeder;
  let cacheDir: string;
  const build = (input: Partial<BuildDatasetInput> = {}, settings: BuildDatasetInput['settings'] = {}): Promise<DatasetBuild> =>
    buildDataset(
      { db: database.db, keys },
      { card: card(), policyVersion: POLICY, allowChatLogTraining: true, baseModel: inject('ollamaBaseModel'), cacheDir, store: false, logScope: 'every-server', ...input, settings: { syntheticPerChunk: 0, perUserShare: 1, ...settings } },
    );
  const allText = (b: DatasetBuild) => b.readLines().map((l) => l.json).join('\n');

  beforeEach(async () => {
    database = await openTestDatabase(backend);
    keys = testKeys();
    seed = new Seeder(database, keys);
    cacheDir = mkdtempSync(path.join(os.tmpdir(), 'dataset-cache-'));
    for (const u of [SPEAKER, ALICE]) await seed.consent(u);
    await seed.consent(CAROL, 'out');
    await seed.consent(DAVE, 'in', POLICY - 1);
  });
  afterEach(async () => {
    await database.close();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('card examples: a greeting-first dialogue gets a short user turn; every line follows the rules', async () => {
    const b = await build();
    expect(b.stats.bySource.card).toBe(2);
    const greeting = b.readLines().find((l) => l.line.messages.some((m) => m.content.startsWith("Hi hi! I'm Blip")))!;
    expect(greeting.line.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant']);
    expect(greeting.line.messages[1]!.content).toBe('Hello!');
    for (const l of b.readLines()) expect(datasetLineSchema.safeParse(JSON.parse(l.json)).success).toBe(true);
  });

  it('speaker sources: consecutive messages grouped as context; consent stops context; non-consented never appear', async () => {
    // channel 10: Alice asks twice, the speaker answers in two messages (grouped into one turn).
    await seed.msg(10, ALICE, 'Hey Blip, what are you planting this spring?');
    await seed.msg(10, ALICE, 'Anything besides tomatoes?');
    await seed.msg(10, SPEAKER, 'Oh, so many things! Glowing tomatoes first, of course.');
    await seed.msg(10, SPEAKER, 'And then moon-beans along the library wall.');
    // channel 11: Bob (no consent) asks, the speaker answers: dropped (its direct context is gone).
    await seed.msg(11, BOB, 'BOB-SECRET what is your favourite plant?');
    await seed.msg(11, SPEAKER, 'My favourite plant is the glowing tomato, without a doubt!');
    // channel 12: Carol (opted out) and Dave (old policy) talk, then Alice asks: context stops at Dave.
    await seed.msg(12, CAROL, 'CAROL-SECRET hello there');
    await seed.msg(12, DAVE, 'DAVE-SECRET hello too');
    await seed.msg(12, ALICE, 'Blip, how do the tomatoes glow?');
    await seed.msg(12, SPEAKER, 'They drink starlight through their leaves every night, friend!');
    const b = await build();
    const text = allText(b);
    expect(text).not.toMatch(/BOB-SECRET|CAROL-SECRET|DAVE-SECRET/);
    for (const l of b.readLines()) for (const u of [BOB, CAROL, DAVE]) expect(l.contributorIds).not.toContain(u);
    const chat = b.readLines().filter((l) => l.line.source === 'chat_log').map((l) => l.line.messages.filter((m) => m.role !== 'system'));
    expect(chat).toContainEqual([
      { role: 'user', content: 'Hey Blip, what are you planting this spring?\nAnything besides tomatoes?' },
      { role: 'assistant', content: 'Oh, so many things! Glowing tomatoes first, of course.\nAnd then moon-beans along the library wall.' },
    ]);
    expect(chat).toContainEqual([
      { role: 'user', content: 'Blip, how do the tomatoes glow?' },
      { role: 'assistant', content: 'They drink starlight through their leaves every night, friend!' },
    ]);
    expect(b.stats.removed.context_not_consented).toBe(1);
    // The in-memory consent state (an opt-out not yet written) is honoured too.
    const without = await build({ consent: (_g, u) => u !== ALICE });
    expect(allText(without)).not.toContain('Anything besides tomatoes');
    expect(without.stats.bySource.chat_log).toBe(0);
  });

  it('speaker sources: reply chains come first, followed through the database beyond the window', async () => {
    const q = await seed.msg(20, ALICE, 'Blip, can robots grow flowers too?');
    for (let i = 0; i < 40; i++) await seed.msg(20, i % 2 ? ALICE : BOB, `filler message number ${i}`, { minutesLater: 0.1 });
    const a = await seed.msg(20, SPEAKER, 'Of course! Robots can grow anything with enough patience.', { replyTo: q });
    const roses = await seed.msg(20, ALICE, 'Even roses?', { replyTo: a });
    await seed.msg(20, SPEAKER, 'Especially roses! They like the warm greenhouse air.', { replyTo: roses });
    const b = await build();
    const chat = b.readLines().filter((l) => l.line.source === 'chat_log').map((l) => l.line.messages.filter((m) => m.role !== 'system').map((m) => m.content));
    expect(chat).toContainEqual(['Blip, can robots grow flowers too?', 'Of course! Robots can grow anything with enough patience.']);
    expect(chat).toContainEqual(['Blip, can robots grow flowers too?', 'Of course! Robots can grow anything with enough patience.', 'Even roses?', 'Especially roses! They like the warm greenhouse air.']);
    expect(allText(b)).not.toContain('filler');
  });

  it('persona conversations: 👍 kept, more 👎 than 👍 excluded, unrated left out; non-consented users never appear', async () => {
    const conv = randomUUID();
    await seed.exchange(conv, ALICE, 'What colour are the tomatoes?', 'They glow a soft orange, like little lanterns!', { up: 2 });
    await seed.exchange(conv, ALICE, 'Can I eat one?', 'Yes! They taste like sunshine and a bit like mint.', { up: 1 });
    await seed.exchange(conv, ALICE, 'Do they make you sick?', 'TERRIBLE-REPLY they are poison, run away!', { up: 1, down: 2 });
    await seed.exchange(conv, ALICE, 'Where is the greenhouse?', 'UNRATED-REPLY on the roof of the old library.', {});
    await seed.exchange(randomUUID(), BOB, 'BOB-SECRET tell me a secret', 'A secret? The tomatoes hum at midnight, shh!', { up: 3 });
    const b = await build();
    const text = allText(b);
    expect(text).toContain('They glow a soft orange');
    expect(text).not.toMatch(/TERRIBLE-REPLY|UNRATED-REPLY|BOB-SECRET|hum at midnight/);
    const multi = b.readLines().find((l) => l.line.messages.some((m) => m.content.startsWith('Yes! They taste')))!;
    expect(multi.line.messages.filter((m) => m.role !== 'system').map((m) => m.content)).toEqual([
      'What colour are the tomatoes?', 'They glow a soft orange, like little lanterns!', 'Can I eat one?', 'Yes! They taste like sunshine and a bit like mint.',
    ]);
    expect(b.stats.removed).toMatchObject({ reply_disliked: 1, reply_unrated: 1, not_consented: 1 });
  });

  it('honours ALLOW_CHAT_LOG_TRAINING: Discord logs only when allowed, console logs always, and says why', async () => {
    await seed.exchange(randomUUID(), ALICE, 'Discord question here?', 'DISCORD-REPLY from the greenhouse roof!', { up: 1 });
    await seed.exchange(randomUUID(), ALICE, 'Console question here?', 'CONSOLE-REPLY from the greenhouse roof!', { up: 1 }, 'console');
    await seed.msg(30, ALICE, 'What do you think of rain?');
    await seed.msg(30, SPEAKER, 'DISCORD-SPEAKER rain is a free drink for every plant!');
    const off = await build({ allowChatLogTraining: false });
    expect(allText(off)).toContain('CONSOLE-REPLY');
    expect(allText(off)).not.toMatch(/DISCORD-REPLY|DISCORD-SPEAKER/);
    expect(off.stats.chatLogs.discord).toBe('excluded');
    expect(off.stats.chatLogs.note).toMatch(/ALLOW_CHAT_LOG_TRAINING.*Developer Policy/);
    expect(off.stats.chatLogs.discordLeftOut).toEqual({ personaReplies: 1, speakerMessages: 1 });
    const on = await build({ allowChatLogTraining: true });
    expect(allText(on)).toMatch(/DISCORD-REPLY[\s\S]*|DISCORD-SPEAKER/);
    expect(allText(on)).toContain('DISCORD-SPEAKER');
    expect(on.stats.chatLogs.discord).toBe('included');
  });

  it('cleans: scrubs personal data, drops short replies and near duplicates', async () => {
    await seed.msg(40, ALICE, 'mail me at alice@example.com or call +44 20 7946 0958, <@123456789012345678>');
    await seed.msg(40, SPEAKER, 'Sure! Look at https://blip.example/garden for the planting calendar, friend.');
    await seed.msg(41, ALICE, 'Tomatoes?', { minutesLater: 120 });
    await seed.msg(41, SPEAKER, 'Yes!');
    await seed.msg(42, ALICE, 'What do you love most?', { minutesLater: 120 });
    await seed.msg(42, SPEAKER, 'I love the greenhouse at night when all the tomatoes glow together.');
    await seed.msg(43, ALICE, 'And your favourite time?', { minutesLater: 120 });
    await seed.msg(43, SPEAKER, 'I love the greenhouse at night, when all the tomatoes glow together!');
    const b = await build();
    const text = allText(b);
    expect(text).not.toMatch(/alice@example\.com|7946|123456789012345678|blip\.example/);
    expect(text).toContain('mail me at [EMAIL] or call [PHONE], [USER]');
    expect(text).toContain('Look at [URL] for');
    expect(b.stats.removed.reply_too_short).toBe(1);
    expect(b.stats.removed.near_duplicate).toBe(1);
    expect(b.readLines().filter((l) => /greenhouse at night,? when/.test(l.json))).toHaveLength(1);
  });

  it('caps each user at the configured share', async () => {
    const others = [snowflake(950), snowflake(951), snowflake(952), snowflake(953), snowflake(954)];
    for (const u of others) await seed.consent(u);
    const conv = randomUUID();
    for (let i = 0; i < 30; i++) await seed.exchange(conv, ALICE, `Alice question number ${i}?`, `Answer ${i}: ${'tomato '.repeat(i % 7 + 1)}and ${['moss', 'ferns', 'beans', 'roses', 'kale'][i % 5]} number ${i * 37}.`, { up: 1 });
    for (const [k, u] of others.entries()) await seed.exchange(randomUUID(), u, `Question from user ${k}?`, `A different answer for user ${k}: ${'leaf '.repeat(k + 1)}grows well.`, { up: 1 });
    const b = await build({}, { perUserShare: 0.2, maxContextTurns: 1 });
    const alice = b.readLines().filter((l) => l.contributorIds.includes(ALICE)).length;
    expect(alice).toBeGreaterThan(0);
    expect(alice / b.readLines().length).toBeLessThanOrEqual(0.2);
    expect(b.stats.perUserCap.usersCapped).toBe(1);
    expect(b.stats.removed.per_user_cap).toBeGreaterThan(0);
    expect(Object.keys(b.stats.userShares)).toContain(keys.userHmac(ALICE));
    expect(JSON.stringify(b.stats)).not.toContain(ALICE);
  });

  it('split is stable when rows are added; the build is stored with contributors as HMACs', async () => {
    for (let i = 0; i < 20; i++) {
      await seed.msg(60 + i, ALICE, `Question ${i} about the garden?`, { minutesLater: 120 });
      await seed.msg(60 + i, SPEAKER, `Answer ${i}: ${'the garden is lovely '.repeat((i % 4) + 1)}${i * 13} times over.`);
    }
    const first = await build({}, { perUserShare: 1 });
    for (let i = 20; i < 40; i++) {
      await seed.msg(60 + i, ALICE, `Question ${i} about the garden?`, { minutesLater: 120 });
      await seed.msg(60 + i, SPEAKER, `Answer ${i}: a brand new fact number ${i * 17} about beans and ${i} worms.`);
    }
    const second = await build({ store: true }, { perUserShare: 1 });
    const splits = new Map(second.readLines().map((l) => [l.line.id, l.split]));
    for (const l of first.readLines()) expect(splits.get(l.line.id)).toBe(l.split);
    expect(second.readLines().length).toBeGreaterThan(first.readLines().length);
    expect(second.versionId).toBeGreaterThan(0);
    const stored = await new DatasetStore(database.db, keys).readLines(second.versionId!);
    expect(stored.map((r) => r.json)).toEqual(second.readLines().map((l) => l.json));
    // The lines wait in an unlinked spill file: no name in the temp folder, gone after close.
    expect(readdirSync(os.tmpdir()).filter((n) => n.startsWith('dataset-spill-'))).toEqual([]);
    second.close();
    expect(() => second.readLines()).toThrow(/after close/);
    const rows = await database.db.select().from(datasetLines);
    expect(rows.some((r) => r.contributors.includes(keys.userHmac(ALICE)))).toBe(true);
    expect(JSON.stringify(rows.map((r) => r.contributors))).not.toContain(ALICE);
  });

  it('reports an empty or malformed source by name', async () => {
    const empty = card({ speakers: [], lore: '', examples: '' });
    await expect(build({ card: empty })).rejects.toThrow(/dataset for blip.*is empty: persona-data\/blip\.md has 0 example dialogue/);
    const noChar = card({ examples: '{{user}}: hello?\n{{user}}: anyone?' });
    await expect(build({ card: noChar })).rejects.toThrow(/persona-data\/blip\.md \(Example dialogue 1\).*no \{\{char\}\} turn/);
    const c = card();
    const key = syntheticKey(c, c.lore[0]!.title, 'Blip grows glowing tomatoes in a greenhouse on the roof of the old library.', 0, {
      model: 'm', perChunk: 1, temperature: 0.8, numPredict: 160, cacheDir,
    });
    writeFileSync(path.join(cacheDir, `${key}.json`), '{not json');
    const err = await build({ baseModel: 'm' }, { syntheticPerChunk: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetSourceError);
    expect((err as Error).message).toContain(path.join(cacheDir, `${key}.json`));
  });
});

describe('dataset determinism (real model server for synthetic dialogues)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it.each(BACKENDS)('two builds over the same inputs give identical bytes, synthetic dialogues included (%s)', async (backend) => {
    const database = await openTestDatabase(backend);
    try {
      const keys = testKeys();
      const seed = new Seeder(database, keys);
      await seed.consent(SPEAKER);
      await seed.consent(ALICE);
      await seed.msg(10, ALICE, 'What is your favourite vegetable, Blip?');
      await seed.msg(10, SPEAKER, 'Tomatoes! The glowing kind, obviously. What is yours?');
      await seed.exchange(randomUUID(), ALICE, 'Do you sleep?', 'Only when the greenhouse lights go out, friend!', { up: 1 });
      const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'dataset-det-'));
      dirs.push(cacheDir);
      const c = card({ lore: '## Greenhouse\nBlip grows glowing tomatoes in a greenhouse on the roof.\n\n## Friends\nBlip\'s best friend is a snail named Pickle who lives under the water tank.\n' });
      const llm = new OllamaClient(inject('ollamaHost'));
      const run = () =>
        buildDataset(
          { db: database.db, keys, llm },
          { card: c, policyVersion: POLICY, allowChatLogTraining: true, baseModel: inject('ollamaBaseModel'), cacheDir, store: false, logScope: 'every-server', settings: { syntheticPerChunk: 2, syntheticNumPredict: 40, minReplyChars: 2 } },
        );
      const a = await run();
      const b = await run();
      expect(a.stats.synthetic.generated).toBe(4);
      expect(b.stats.synthetic).toMatchObject({ generated: 0, cached: 4 });
      expect(a.stats.synthetic.accepted + Object.values(a.stats.synthetic.rejected).reduce((x, y) => x + y, 0)).toBe(4);
      expect(b.export()).toBe(a.export());
      expect(b.export('sharegpt')).toBe(a.export('sharegpt'));
      expect(b.contentHash).toBe(a.contentHash);
      expect(a.stats.bySource.chat_log).toBe(2);
      for (const l of a.readLines()) expect(datasetLineSchema.safeParse(JSON.parse(l.json)).success).toBe(true);
    } finally {
      await database.close();
    }
  }, 180_000);
});

describe.each(BACKENDS)('dataset and forget through the app (%s)', (backend) => {
  it('a forgotten user never appears: not as a reply, not as context; their stored lines are erased', async () => {
    const { createTestApp } = await import('../support/app.js');
    const t = await createTestApp(backend);
    const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'dataset-forget-'));
    try {
      const { app } = t;
      const channel = snowflake(70);
      await app.channels.set(GUILD, channel, true);
      for (const u of [SPEAKER, ALICE, CAROL]) await app.consent.optIn(GUILD, u);
      let n = 70_000;
      const say = async (authorId: string, content: string, replyToId: string | null = null) => {
        const id = snowflake(n++);
        await app.messages.onCreate({ id, guildId: GUILD, channelId: channel, authorId, content, createdAt: new Date(Date.UTC(2026, 1, 1) + n * 1000), replyToId });
        return id;
      };
      await say(CAROL, 'Carol asks: do the tomatoes ever sleep?');
      await say(SPEAKER, 'They nap at noon, when the sun is too bright for glowing.');
      const q = await say(ALICE, 'ALICE-TEXT what is your favourite tool?');
      await say(SPEAKER, 'My little silver trowel! It was a gift from the librarian.', q);
      await say(ALICE, 'ALICE-TEXT and your second favourite?');
      await say(SPEAKER, 'The watering can shaped like a whale, of course, friend.');
      await app.writer.drainPoint();
      const c = card({ lore: '' });
      const run = (store: boolean) =>
        buildDataset(
          { db: app.database.db, keys: t.keys },
          { card: c, policyVersion: app.privacy.policyVersion, allowChatLogTraining: true, baseModel: 'm', cacheDir, store, logScope: 'every-server', consent: (g, u) => app.privacy.hasConsent(g, u), settings: { syntheticPerChunk: 0, perUserShare: 1 } },
        );
      const before = await run(true);
      expect(before.readLines().map((l) => l.json).join('\n')).toContain('ALICE-TEXT');
      await app.consent.forget(ALICE);
      await app.writer.drainPoint();
      const after = await run(false);
      const text = after.readLines().map((l) => l.json).join('\n');
      expect(text).not.toContain('ALICE-TEXT');
      expect(text).not.toContain('silver trowel'); // its reply target is gone: dropped, not re-attached
      expect(text).toContain('They nap at noon');
      for (const l of after.readLines()) expect(l.contributorIds).not.toContain(ALICE);
      const stored = await new DatasetStore(app.database.db, t.keys).readLines(before.versionId!);
      expect(stored.map((r) => r.json).join('\n')).not.toContain('ALICE-TEXT');
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
      await t.destroy();
    }
  });
});

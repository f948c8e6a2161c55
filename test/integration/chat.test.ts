import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personaReplies } from '../../bot/db/schema.js';
import { InferenceUnavailableError } from '../../bot/inference/ports.js';
import { buildPrompt, estimateTokens } from '../../bot/personas/prompt.js';
import { parseCard } from '../../bot/personas/card.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { BACKENDS, snowflake } from '../support/db.js';
import { privateOllama } from '../support/ollama.js';
import { freePort } from '../support/pg-cluster.js';
import { procStatField } from '../support/proc.js';
import { recordingVoice } from '../support/voice.js';

const GUILD = snowflake(1);
const CHANNEL = snowflake(10);
const USER = { id: snowflake(100), name: 'Sam' };

// Real model calls: generous timeouts, since the model server answers one request at a time.
describe('chat with the real model (SmolLM2 through Ollama)', { timeout: 180_000 }, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite', { env: { CHAT_MAX_REPLY_TOKENS: '48' } });
  });
  afterAll(async () => t?.destroy());

  it('streams a non-empty reply, times its own work apart from the model, and records only metadata for a user without consent', async () => {
    const glordon = t.app.personas.get('Glordon');
    const conv = await t.app.chat.open({ guildId: GUILD, channelId: CHANNEL, persona: glordon, channelIsNsfw: false });
    const voice = recordingVoice();
    const receivedAt = performance.now() - 40; // the transport had the message 40 ms before handing it over
    const result = await t.app.chat.respond({ conversation: conv, user: USER, text: 'Hello! Who are you?', voice, receivedAt });
    const { spans } = result;
    expect(spans.receiveMs).toBeGreaterThanOrEqual(40);
    expect(spans.modelMs).toBeGreaterThan(0);
    expect(spans.totalMs).toBeGreaterThanOrEqual(spans.receiveMs + spans.modelMs);
    expect(spans.overheadMs).toBeCloseTo(spans.totalMs - spans.modelMs, 6);
    expect(spans.overheadMs).toBeGreaterThanOrEqual(spans.receiveMs + spans.assembleMs + spans.recordMs);
    expect(result.text.length).toBeGreaterThan(0);
    expect(voice.messages[0]!.deltas.length).toBeGreaterThan(1); // it streamed
    expect(voice.messages[0]!.deltas.join('').trim()).toBe(result.text);
    expect(result.model).toBe('smollm2-135m');
    expect(result.stats.completionTokens).toBeGreaterThan(0);
    expect(result.prompt.messages[0]!.content).toContain('You are Glordon');
    await t.app.writer.drainPoint();
    const [row] = await t.app.database.db.select().from(personaReplies);
    expect(row).toMatchObject({ messageId: result.messageId, personaSlug: 'glordon', model: 'smollm2-135m', contentEnc: null });
    expect(row!.completionTokens).toBe(result.stats.completionTokens);
    expect(row!.totalMs).toBeGreaterThan(0);
  });

  it('keeps the reply text (encrypted) when the user consented in a logged channel', async () => {
    await t.app.channels.set(GUILD, snowflake(11), true);
    await t.app.consent.optIn(GUILD, USER.id);
    const conv = await t.app.chat.open({ guildId: GUILD, channelId: snowflake(11), persona: t.app.personas.get('glordon'), channelIsNsfw: false });
    const result = await t.app.chat.respond({ conversation: conv, user: USER, text: 'What do you eat?', voice: recordingVoice() });
    await t.app.writer.drainPoint();
    const rows = await t.app.database.db.select().from(personaReplies);
    const row = rows.find((r) => r.messageId === result.messageId)!;
    expect(t.keys.decrypt(row.contentEnc!, `reply:${row.messageId}`)).toBe(result.text);
  });

  it('keeps a reply’s text only when everyone whose words were in its prompt consented (a shared thread)', async () => {
    const channel = snowflake(12);
    const stranger = { id: snowflake(901), name: 'Stranger' }; // never opted in
    await t.app.channels.set(GUILD, channel, true);
    await t.app.consent.optIn(GUILD, USER.id);
    const conv = await t.app.chat.open({ guildId: GUILD, channelId: channel, persona: t.app.personas.get('glordon'), channelIsNsfw: false });
    const voice = recordingVoice();
    const stored = async (messageId: string) => {
      await t.app.writer.drainPoint();
      return (await t.app.database.db.select().from(personaReplies)).find((r) => r.messageId === messageId)!;
    };
    const theirs = await t.app.chat.respond({ conversation: conv, user: stranger, text: 'My cat is called Biscuit.', voice });
    expect((await stored(theirs.messageId)).contentEnc).toBeNull();
    // The consented user's turn is answered from a prompt holding the stranger's words: no text kept.
    const mine = await t.app.chat.respond({ conversation: conv, user: USER, text: 'What is the cat called?', voice });
    expect(mine.prompt.messages.map((m) => m.content)).toContain('My cat is called Biscuit.');
    const row = await stored(mine.messageId);
    expect(row.contentEnc).toBeNull();
    expect(row.inReplyToId).toBeNull();
  });

  it('keeps the history of at most CHAT_HISTORY_CONVERSATIONS conversations, forgetting the least recently used', async () => {
    const few = await createTestApp('pglite', { env: { CHAT_HISTORY_CONVERSATIONS: '2', CHAT_RATE_PER_MINUTE: '100', CHAT_MAX_REPLY_TOKENS: '16' } });
    try {
      const voice = recordingVoice();
      const convs = [];
      for (let i = 0; i < 3; i++) {
        const c = await few.app.chat.open({ guildId: GUILD, channelId: snowflake(40 + i), persona: few.app.personas.get('glordon'), channelIsNsfw: false });
        await few.app.chat.greet(c, voice, 'Sam');
        convs.push(c);
        if (i === 0) await few.app.chat.respond({ conversation: c, user: USER, text: 'Remember the word lantern.', voice });
      }
      // The first (least recently used) was forgotten when the third began; the other two are kept.
      expect(convs.map((c) => few.app.chat.historyOf(c.id).length)).toEqual([0, 1, 1]);
      // Using the second again makes the third the oldest.
      await few.app.chat.respond({ conversation: convs[1]!, user: USER, text: 'Hello again.', voice });
      const next = await few.app.chat.open({ guildId: GUILD, channelId: snowflake(50), persona: few.app.personas.get('glordon'), channelIsNsfw: false });
      await few.app.chat.greet(next, voice, 'Sam');
      expect([convs[1]!, convs[2]!, next].map((c) => few.app.chat.historyOf(c.id).length)).toEqual([3, 0, 1]);
    } finally {
      await few.destroy();
    }
  });

  it('answers one turn at a time per conversation and keeps conversations apart', async () => {
    const a = await t.app.chat.open({ guildId: GUILD, channelId: snowflake(20), persona: t.app.personas.get('glordon'), channelIsNsfw: false });
    const b = await t.app.chat.open({ guildId: GUILD, channelId: snowflake(21), persona: t.app.personas.get('glordon'), channelIsNsfw: false });
    const voice = recordingVoice();
    const [first, second] = await Promise.all([
      t.app.chat.respond({ conversation: a, user: USER, text: 'My secret word is pineapple.', voice }),
      t.app.chat.respond({ conversation: a, user: USER, text: 'What did I just tell you?', voice }),
    ]);
    // The second turn waited for the first: its prompt carries the first exchange.
    expect(second.prompt.messages.map((m) => m.content)).toContain('My secret word is pineapple.');
    expect(second.prompt.messages.map((m) => m.content)).toContain(first.text);
    const other = await t.app.chat.respond({ conversation: b, user: USER, text: 'Hello there', voice });
    expect(other.prompt.messages.map((m) => m.content).join('\n')).not.toContain('pineapple');
    expect(t.app.chat.historyOf(b.id).map((h) => h.content).join('\n')).not.toContain('pineapple');
  });

  it('keeps the prompt within its token budget over a long conversation', async () => {
    const small = await createTestApp('pglite', { env: { CHAT_CONTEXT_TOKENS: '768', CHAT_MAX_REPLY_TOKENS: '24', CHAT_RATE_PER_MINUTE: '100' } });
    try {
      const conv = await small.app.chat.open({ guildId: GUILD, channelId: CHANNEL, persona: small.app.personas.get('glordon'), channelIsNsfw: false });
      let dropped = 0;
      for (let i = 0; i < 14; i++) {
        const r = await small.app.chat.respond({ conversation: conv, user: USER, text: `Turn ${i}: tell me something about your garden and the moon-jelly, please.`, voice: recordingVoice() });
        const estimate = r.prompt.messages.reduce((n, m) => n + estimateTokens(m.content), 0);
        expect(estimate).toBeLessThanOrEqual(768 - 24);
        expect(r.stats.promptTokens).toBeLessThanOrEqual(768);
        dropped = r.prompt.historyDropped;
      }
      expect(dropped).toBeGreaterThan(0); // older turns were left out, not the budget exceeded
    } finally {
      await small.destroy();
    }
  });

  it('refuses clearly: unknown persona, path-like names, nsfw outside age-restricted channels, rate limit', async () => {
    expect(() => t.app.personas.get('Nobody')).toThrow(/no persona called "Nobody"\. Known personas: .*Glordon/);
    expect(() => t.app.personas.get('../../etc/passwd')).toThrow(/no persona called/);
    expect(() => t.app.personas.get('x'.repeat(101))).toThrow(/at most 100 characters/);
    const nsfw = { ...t.app.personas.get('glordon'), nsfw: true };
    await expect(t.app.chat.open({ guildId: GUILD, channelId: snowflake(30), persona: nsfw, channelIsNsfw: false })).rejects.toThrow(/age-restricted/);
    const limited = await createTestApp('pglite', { env: { CHAT_RATE_PER_MINUTE: '1', CHAT_MAX_REPLY_TOKENS: '8' } });
    try {
      const conv = await limited.app.chat.open({ guildId: GUILD, channelId: CHANNEL, persona: limited.app.personas.get('glordon'), channelIsNsfw: false });
      await limited.app.chat.respond({ conversation: conv, user: USER, text: 'hi', voice: recordingVoice() });
      await expect(limited.app.chat.respond({ conversation: conv, user: USER, text: 'hi again', voice: recordingVoice() })).rejects.toThrow(/faster than I can answer/);
    } finally {
      await limited.destroy();
    }
  });
});

describe('model server stopped mid-conversation', () => {
  it('gives a clear error within 3 s, and chat works again once the server is back', async () => {
    const ollama = privateOllama(await freePort());
    ollama.start();
    const t = await createTestApp('pglite', { env: { OLLAMA_HOST: ollama.host, CHAT_MAX_REPLY_TOKENS: '16', CHAT_RATE_PER_MINUTE: '100' } });
    try {
      const conv = await t.app.chat.open({ guildId: GUILD, channelId: CHANNEL, persona: t.app.personas.get('glordon'), channelIsNsfw: false });
      const ok = await t.app.chat.respond({ conversation: conv, user: USER, text: 'Hello!', voice: recordingVoice() });
      expect(ok.text.length).toBeGreaterThan(0);
      ollama.stop();
      const started = Date.now();
      const err = await t.app.chat.respond({ conversation: conv, user: USER, text: 'Are you there?', voice: recordingVoice() }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InferenceUnavailableError);
      expect((err as Error).message).toMatch(/not answering right now/);
      expect(Date.now() - started).toBeLessThan(3000);
      ollama.start();
      const again = await t.app.chat.respond({ conversation: conv, user: USER, text: 'Hello again!', voice: recordingVoice() });
      expect(again.text.length).toBeGreaterThan(0);
    } finally {
      await t.destroy();
      ollama.stop();
    }
  }, 120_000);
});

describe('model server at a lower CPU priority (OLLAMA_NICE)', () => {
  it('runs the server at that nice level, and its session too where the kernel schedules sessions as groups', async () => {
    const ollama = privateOllama(await freePort(), { nice: 7 });
    ollama.start();
    try {
      const pid = ollama.pid();
      // `nice -n` adds to the caller's own nice (a test run may itself be niced), capped at 19.
      expect(procStatField(pid, 19)).toBe(Math.min(19, procStatField(process.pid, 19) + 7));
      // With autogroup, a process's nice only ranks it within its session: the session's must be set too.
      const group = `/proc/${pid}/autogroup`;
      if (existsSync(group)) {
        const [name, , nice] = readFileSync(group, 'utf8').trim().split(' ');
        expect(name).not.toBe(readFileSync('/proc/self/autogroup', 'utf8').split(' ')[0]); // its own session, not ours
        expect(Number(nice)).toBe(7);
      }
    } finally {
      ollama.stop();
    }
  }, 60_000);
});

/** A card with 60 lore chunks: one holds the fact asked about, one is a named distractor. */
function loreCard(): string {
  const filler = Array.from({ length: 58 }, (_, i) =>
    `Chronicle entry ${i}: the weather in the valley was mild, the orchard keepers pruned row ${i} of the apple trees, and the river ferry carried sacks of flour and wool to market before the evening bells rang over the slate roofs, the mill pond and the long hedgerows.`,
  );
  return `---
name: Archivist
greeting: "Welcome to the archive."
---
## Personality
A careful, quiet keeper of records.

## Chronicle
${filler.join('\n\n')}

## Secrets
The archivist's favourite number is 4417, chosen because it is the shelf where the first ledger was found.

## Festivals
The zebra parade marches past the old mill every spring, with drums and paper lanterns.
`;
}

describe.each(BACKENDS)('lore retrieval on %s', { timeout: 180_000 }, (backend) => {
  let t: TestApp;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'persona-lore-'));
    writeFileSync(path.join(dir, 'archivist.md'), loreCard());
    t = await createTestApp(backend, { env: { PERSONA_DIR: dir, CHAT_LORE_K: '3', CHAT_MAX_REPLY_TOKENS: '16' } });
  });
  afterAll(async () => {
    await t?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('indexes at least 50 chunks and puts the asked-about fact, not the distractor, into the prompt', async () => {
    const card = t.app.personas.get('Archivist');
    const [count] = await t.app.database.rows<{ n: number }>(sql`select count(*)::int as n from lore_chunks where persona_slug = ${card.slug}`);
    expect(count!.n).toBeGreaterThanOrEqual(50);
    const top = await t.app.lore.search(card.slug, 'What is your favourite number?', 3);
    expect(top[0]!.content).toContain('4417');
    const conv = await t.app.chat.open({ guildId: GUILD, channelId: CHANNEL, persona: card, channelIsNsfw: false });
    const r = await t.app.chat.respond({ conversation: conv, user: USER, text: 'What is your favourite number?', voice: recordingVoice() });
    const prompt = r.prompt.messages.map((m) => m.content).join('\n');
    expect(prompt).toContain('favourite number is 4417');
    expect(prompt).not.toContain('zebra parade');
    // The lore note sits right before the user's message, after the stable prefix.
    expect(r.prompt.messages.at(-2)).toMatchObject({ role: 'system', content: expect.stringContaining('4417') });
  });

  it('re-indexes a card when it changes, and the old chunks are gone', async () => {
    writeFileSync(path.join(dir, 'archivist.md'), loreCard().replace('4417', '9001'));
    await t.app.personas.load();
    const top = await t.app.lore.search('archivist', 'favourite number', 1);
    expect(top[0]!.content).toContain('9001');
    expect((await t.app.lore.search('archivist', '4417', 5)).length).toBe(0);
  });
});

describe('prompt assembly', () => {
  const card = parseCard('glordon.md', 'glordon', `---\nname: Glordon\ngreeting: hi\n---\n## Personality\nKind.\n## Example dialogue\n{{user}}: Hi {{char}}\n{{char}}: Hello {{user}}! Bloop!\n`);
  it('drops the oldest history first and never exceeds the budget', () => {
    const history = Array.from({ length: 200 }, (_, i) => ({ role: i % 2 ? ('assistant' as const) : ('user' as const), content: `message number ${i} `.repeat(5) }));
    const p = buildPrompt({ card, lore: [], history, userName: 'Sam', userMessage: 'latest', budget: { contextTokens: 1024, replyTokens: 200 } });
    expect(p.estimatedTokens).toBeLessThanOrEqual(1024 - 200);
    expect(p.historyDropped).toBeGreaterThan(100);
    expect(p.messages.at(-1)).toEqual({ role: 'user', content: 'latest' });
    expect(p.messages.at(-2)!.content).toContain('message number 199');
    expect(p.messages[1]).toEqual({ role: 'user', content: 'Hi Glordon' });
    expect(p.messages[2]).toEqual({ role: 'assistant', content: 'Hello Sam! Bloop!' });
  });
});

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggedMessages, personaReplies } from '../../bot/db/schema.js';
import { startBot, until, type BotProcess } from '../support/bot-process.js';
import { freePort } from '../support/pg-cluster.js';
import { LocalDiscord } from '../support/local-discord/index.js';
import type { RecordedRequest } from '../support/local-discord/index.js';

/**
 * End to end: the real bot process (discord.js, real Postgres, the real Ollama with SmolLM2)
 * against the local Discord on 127.0.0.1. Tests run in order and share one bot.
 */
const EXECUTE = 'POST /webhooks/:webhookId/:token';
const EDIT = 'PATCH /webhooks/:webhookId/:token/messages/:messageId';
const POST = 'POST /channels/:channelId/messages';

describe('the bot on a local Discord', { timeout: 240_000 }, () => {
  let discord: LocalDiscord;
  let bot: BotProcess;
  let ids: LocalDiscord['defaults'];
  let threadId = '';
  let healthPort = 0;

  const storedMessages = async () => {
    const rows = await bot.database.db.select().from(loggedMessages);
    return rows.map((r) => ({ id: r.id, author: r.authorId, content: bot.keys.decrypt(r.contentEnc, `message:${r.id}`) }));
  };
  const after = (seq: number) => (r: RecordedRequest) => r.seq > seq;
  const seqNow = () => discord.requests.length;
  const run = (o: Parameters<LocalDiscord['userRunsCommand']>[0]) => discord.userRunsCommand(o);
  const text = (r: { data?: unknown }) => String((r.data as { content?: string } | undefined)?.content ?? '');

  beforeAll(async () => {
    discord = await LocalDiscord.start({ interactionAckMs: 3000, token: `MTA0.${'x'.repeat(66)}` });
    ids = discord.defaults;
    healthPort = await freePort();
    bot = await startBot({ ...discord.env(), HEALTH_PORT: String(healthPort) });
    writeFileSync(
      path.join(bot.personaDir, 'velvet.md'),
      '---\nname: Velvet\ngreeting: "Hello, darling."\nnsfw: true\n---\n## Personality\nA sultry cabaret singer.\n',
    );

    await until('slash commands registered', () => discord.requests.find((r) => r.route === 'PUT /applications/:appId/commands' && r.status === 200), 90_000, bot.output);
  }, 180_000);

  afterAll(async () => {
    await bot?.stop();
    await discord?.stop();
  });

  it('registers every DESIGN command with its options, and only once', async () => {
    const put = discord.requests.find((r) => r.route === 'PUT /applications/:appId/commands')!;
    const names = (put.body as { name: string }[]).map((c) => c.name).sort();
    expect(names).toEqual(['consent', 'finetune', 'logging', 'persona']);
    expect(discord.identifiedIntents! & (1 << 15)).toBeTruthy(); // Message Content
  });

  it('logs a consented member in a logging channel, nobody else, and stops when logging is off', async () => {
    const on = run({ name: 'logging', subcommand: 'on', userId: ids.adminUserId, channelId: ids.textChannelId });
    const onReply = await on.response();
    expect(text(onReply)).toContain('Logging is now **on**');
    expect((onReply.data as { flags?: number }).flags! & 64).toBe(64); // ephemeral
    const optIn = await run({ name: 'consent', subcommand: 'opt-in', userId: ids.memberUserId, channelId: ids.textChannelId }).response();
    expect(text(optIn)).toContain('You are now opted in');
    expect((optIn.data as { flags?: number }).flags! & 64).toBe(64);

    discord.userSendsMessage({ channelId: ids.textChannelId, authorId: ids.memberUserId, content: 'member says hello' });
    discord.userSendsMessage({ channelId: ids.textChannelId, authorId: ids.ownerUserId, content: 'owner never opted in' });
    const gone = discord.userSendsMessage({ channelId: ids.textChannelId, authorId: ids.memberUserId, content: 'deleted right away' });
    discord.userDeletesMessage({ messageId: gone.id });
    await until('the consented message stored', async () => (await storedMessages()).some((m) => m.content === 'member says hello'), 30_000, bot.output);
    await new Promise((r) => setTimeout(r, 500));
    const contents = (await storedMessages()).map((m) => m.content);
    expect(contents).not.toContain('owner never opted in');
    expect(contents).not.toContain('deleted right away');

    await run({ name: 'logging', subcommand: 'off', userId: ids.adminUserId, channelId: ids.textChannelId }).response();
    discord.userSendsMessage({ channelId: ids.textChannelId, authorId: ids.memberUserId, content: 'after logging off' });
    await new Promise((r) => setTimeout(r, 800));
    expect((await storedMessages()).map((m) => m.content)).not.toContain('after logging off');
    await run({ name: 'logging', subcommand: 'on', userId: ids.adminUserId, channelId: ids.textChannelId }).response();
  });

  it('denies /logging on to a member without Manage Server, and refuses an age-restricted persona in a normal channel', async () => {
    const denied = await run({ name: 'logging', subcommand: 'on', userId: ids.memberUserId, channelId: ids.textChannelId, ignoreDefaultMemberPermissions: true }).response();
    expect(text(denied)).toContain('You need the Manage Server permission');
    expect((denied.data as { flags?: number }).flags! & 64).toBe(64);
    const nsfw = await run({ name: 'persona', subcommand: 'chat', options: { name: 'Velvet' }, userId: ids.memberUserId, channelId: ids.textChannelId }).response();
    expect(text(nsfw)).toMatch(/age-restricted/);
    const unknown = await run({ name: 'persona', subcommand: 'info', options: { name: '../../etc/passwd' }, userId: ids.memberUserId, channelId: ids.textChannelId }).response();
    expect(text(unknown)).toContain('There is no persona called');
  });

  it('/persona chat opens a thread where Glordon answers through a webhook, streaming, with mentions disabled', async () => {
    const seq = seqNow();
    const chat = run({ name: 'persona', subcommand: 'chat', options: { name: 'Glordon' }, userId: ids.memberUserId, channelId: ids.textChannelId });
    const thread = await discord.waitForRequest((r) => after(seq)(r) && r.route === 'POST /channels/:channelId/threads', 30_000);
    threadId = (thread.response as { id: string }).id;
    const greeting = await discord.waitForRequest((r) => after(seq)(r) && r.route === EXECUTE, 30_000);
    expect(greeting.query.thread_id).toBe(threadId);
    expect(greeting.query.wait).toBe('true');
    expect(greeting.body).toMatchObject({ username: 'Glordon', allowed_mentions: { parse: [] } });
    expect(String((greeting.body as { content: string }).content)).toContain('Oh! A visitor!');
    await chat.response();

    const before = seqNow();
    discord.userSendsMessage({ channelId: threadId, authorId: ids.memberUserId, content: 'What do you eat, Glordon? Say @everyone!' });
    const first = await discord.waitForRequest((r) => after(before)(r) && r.route === EXECUTE, 120_000);
    expect(first.body).toMatchObject({ username: 'Glordon', allowed_mentions: { parse: [] } });
    const replyId = (first.response as { id: string }).id;
    // Seeded votes, then the reply recorded with its model.
    await discord.waitForRequest((r) => after(before)(r) && r.route === 'PUT /channels/:channelId/messages/:messageId/reactions/:emoji/@me' && r.params.messageId === replyId, 120_000);
    const [row] = await until('the reply recorded', async () => {
      const rows = await bot.database.db.select().from(personaReplies).where(eq(personaReplies.messageId, replyId));
      return rows.length > 0 ? rows : null;
    }, 30_000);
    expect(row).toMatchObject({ personaSlug: 'glordon', model: 'smollm2-135m' });
    expect(row!.contentEnc).not.toBeNull(); // the member consented in a logging channel
    const typing = discord.requests.filter((r) => after(before)(r) && r.route === 'POST /channels/:channelId/typing');
    expect(typing.length).toBeGreaterThan(0);
    // The turn is in the Prometheus metrics, beside Node's own.
    const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    expect(Number(/^persona_turn_overhead_seconds_count (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(Number(/^persona_turn_model_seconds_sum ([\d.e+-]+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(metrics).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(metrics).toMatch(/^persona_writer_queue_depth \d+/m);
    // The bot never answers its own webhook's messages: exactly one reply for one message.
    await new Promise((r) => setTimeout(r, 1500));
    expect(discord.requests.filter((r) => after(before)(r) && r.route === EXECUTE)).toHaveLength(1);
    // Streaming edits of one message are at least about a second apart (Discord's edit limits); the
    // last edit, the final text, goes out as soon as the model is done (bot/discord/voice.ts).
    const edits = discord.requests.filter((r) => after(before)(r) && r.route === EDIT && r.params.messageId === replyId).map((r) => r.at).slice(0, -1);
    for (let i = 1; i < edits.length; i++) expect(edits[i]! - edits[i - 1]!).toBeGreaterThanOrEqual(900);
  });

  it('answers a member who never consented, storing nothing of theirs; two personas in two threads stay apart', async () => {
    let before = seqNow();
    const corran = run({ name: 'persona', subcommand: 'chat', options: { name: 'Corran Vask', message: 'What did you keep?' }, userId: ids.ownerUserId, channelId: ids.textChannelId });
    const thread = await discord.waitForRequest((r) => after(before)(r) && r.route === 'POST /channels/:channelId/threads', 30_000);
    const corranThread = (thread.response as { id: string }).id;
    expect(corranThread).not.toBe(threadId);
    const reply = await discord.waitForRequest((r) => after(before)(r) && r.route === EXECUTE && r.query.thread_id === corranThread && r.status === 200, 120_000);
    expect(reply.body).toMatchObject({ username: 'Corran Vask' });
    await corran.response();
    before = seqNow();
    discord.userSendsMessage({ channelId: corranThread, authorId: ids.ownerUserId, content: 'owner secret: the key is under the mat' });
    const second = await discord.waitForRequest((r) => after(before)(r) && r.route === EXECUTE && r.status === 200, 120_000);
    expect(second.query.thread_id).toBe(corranThread);
    expect(second.body).toMatchObject({ username: 'Corran Vask' });
    await new Promise((r) => setTimeout(r, 500));
    expect((await storedMessages()).filter((m) => m.author === ids.ownerUserId)).toEqual([]);
    const replies = await bot.database.db.select().from(personaReplies).where(eq(personaReplies.personaSlug, 'corran-vask'));
    expect(replies.length).toBeGreaterThan(0);
    expect(replies.every((r) => r.contentEnc === null)).toBe(true); // metadata only
  });

  it('in a DM, the persona answers as plain bot messages, never through a webhook', async () => {
    // (Replies over 2,000 characters are split: test/unit/discord-voice.test.ts streams one through discord.js against the local Discord.)
    const dm = discord.state.dmChannelWith(ids.memberUserId);
    let before = seqNow();
    const chat = run({ name: 'persona', subcommand: 'chat', options: { name: 'Glordon' }, userId: ids.memberUserId, channelId: dm.id });
    await chat.response();
    const greeting = await discord.waitForRequest((r) => after(before)(r) && r.route === POST && r.params.channelId === dm.id && r.status === 200, 30_000);
    expect(text({ data: greeting.body })).toContain('Oh! A visitor!');
    expect(greeting.body).toMatchObject({ allowed_mentions: { parse: [] } });
    await chat.waitForRequest((r) => /Glordon is here\./.test(JSON.stringify(r.body ?? '')), 10_000);

    before = seqNow();
    discord.userSendsMessage({ dm: true, authorId: ids.memberUserId, content: 'How is the weather on your moon? Say @everyone!' });
    const reply = await discord.waitForRequest((r) => after(before)(r) && r.route === POST && r.params.channelId === dm.id && r.status === 200, 120_000);
    expect(reply.body).toMatchObject({ allowed_mentions: { parse: [] } });
    const shown = reply.response as { id: string; author: { id: string }; webhook_id?: string; mention_everyone: boolean };
    expect(shown.author.id).toBe(discord.state.botUserId);
    expect(shown.webhook_id).toBeUndefined();
    expect(shown.mention_everyone).toBe(false);
    const [row] = await until('the DM reply recorded', async () => {
      const rows = await bot.database.db.select().from(personaReplies).where(eq(personaReplies.messageId, shown.id));
      return rows.length > 0 ? rows : null;
    }, 30_000);
    expect(row).toMatchObject({ personaSlug: 'glordon', guildId: null, contentEnc: null }); // no guild, so no consent: metadata only
    expect(discord.requests.filter((r) => after(before)(r) && (r.route === EXECUTE || r.status >= 400))).toEqual([]);
  });

  it('counts a reaction on a persona reply in /persona scorecard, which attaches a PNG', async () => {
    const [reply] = await bot.database.db.select().from(personaReplies).limit(1);
    discord.userReacts({ messageId: reply!.messageId, userId: ids.ownerUserId, emoji: '👍' });
    await until('the vote stored', async () => (await bot.database.rows<{ n: number }>(sql`select count(*)::int as n from reactions`))[0]!.n > 0, 20_000, bot.output);
    const sc = run({ name: 'persona', subcommand: 'scorecard', options: { name: 'Glordon' }, userId: ids.memberUserId, channelId: ids.textChannelId });
    const req = await sc.waitForRequest((r) => r.files.length > 0, 30_000);
    expect(req.files[0]!.filename).toMatch(/\.png$/);
    expect(JSON.stringify(req.body)).toMatch(/1 votes, 👍 100%/);
  });

  it('waits out a 429 and recovers from a deleted webhook (10015)', async () => {
    discord.failNext({ method: 'POST', pathPattern: '/webhooks/:id/:token', status: 429, retryAfter: 0.3 });
    let before = seqNow();
    discord.userSendsMessage({ channelId: threadId, authorId: ids.memberUserId, content: 'Tell me about Wibble.' });
    const limited = await discord.waitForRequest((r) => after(before)(r) && r.route === EXECUTE && r.status === 429, 120_000);
    const delivered = await discord.waitForRequest((r) => after(limited.seq)(r) && r.route === EXECUTE && r.status === 200, 60_000);
    expect(delivered.body).toMatchObject({ username: 'Glordon' });

    const hook = discord.requests.find((r) => r.route === EXECUTE && r.status === 200)!;
    discord.removeWebhook(hook.params.webhookId!);
    before = seqNow();
    discord.userSendsMessage({ channelId: threadId, authorId: ids.memberUserId, content: 'Are you still there?' });
    await discord.waitForRequest((r) => after(before)(r) && r.route === 'POST /channels/:channelId/webhooks', 120_000);
    const again = await discord.waitForRequest((r) => after(before)(r) && r.route === EXECUTE && r.status === 200, 60_000);
    expect(again.params.webhookId).not.toBe(hook.params.webhookId);
  });

  it('survives the gateway closing and resumes', async () => {
    discord.closeGateway(4000);
    await until('resumed', () => discord.gateway.resumes.length > 0, 30_000, bot.output);
    discord.userSendsMessage({ channelId: ids.textChannelId, authorId: ids.memberUserId, content: 'after the resume' });
    await until('logged after resume', async () => (await storedMessages()).some((m) => m.content === 'after the resume'), 30_000, bot.output);
  });

  it('forget asks with stateless buttons: foreign, stale, expired and cancel clicks do nothing; confirm erases', async () => {
    const ask = async (userId: string) => {
      const ix = run({ name: 'consent', subcommand: 'forget', userId, channelId: ids.textChannelId });
      const prompt = await ix.response();
      expect(text(prompt)).toContain('cannot be undone');
      expect((prompt.data as { flags?: number }).flags! & 64).toBe(64);
      const message = ix.original!;
      const customIds = (message.components as { components: { custom_id: string }[] }[]).flatMap((row) => row.components.map((c) => c.custom_id));
      return { messageId: message.id, yes: customIds.find((c) => c.startsWith('cf:y:'))!, no: customIds.find((c) => c.startsWith('cf:n:'))! };
    };
    const stored = async () => (await storedMessages()).filter((m) => m.author === ids.memberUserId).length;
    const ephemeralAnswer = async (click: ReturnType<LocalDiscord['userClicksButton']>) => {
      const cb = await click.response();
      expect(cb.type).toBe(4);
      expect((cb.data as { flags?: number }).flags! & 64).toBe(64);
      return text(cb);
    };
    const before = await stored();
    expect(before).toBeGreaterThan(0);

    // Clicked the moment the prompt exists (no wait: nothing has to start listening first).
    const first = await ask(ids.memberUserId);
    expect(first.yes).toContain(`:${ids.memberUserId}:`);
    const foreign = discord.userClicksButton({ messageId: first.messageId, customId: first.yes, userId: ids.ownerUserId });
    expect(await ephemeralAnswer(foreign)).toMatch(/belongs to whoever ran \/consent forget: nothing was done/);
    const stale = discord.userClicksButton({ messageId: first.messageId, customId: 'confirm', userId: ids.memberUserId, unchecked: true });
    expect(await ephemeralAnswer(stale)).toMatch(/no longer works/);
    const old = first.yes.replace(/^(cf:y:\d+:)[0-9a-z]+/, `$1${(Date.now() - 16 * 60_000).toString(36)}`);
    const expired = discord.userClicksButton({ messageId: first.messageId, customId: old, userId: ids.memberUserId, unchecked: true });
    expect(await ephemeralAnswer(expired)).toMatch(/expired[\s\S]*nothing was done/);
    const cancel = discord.userClicksButton({ messageId: first.messageId, customId: first.no, userId: ids.memberUserId });
    const cancelled = await cancel.response();
    expect(cancelled.type).toBe(7); // the prompt itself is updated, its buttons removed
    expect(text(cancelled)).toMatch(/Cancelled\*\*: nothing was done/);
    expect((cancelled.data as { components?: unknown[] }).components).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(await stored()).toBe(before);

    const second = await ask(ids.memberUserId);
    const click = discord.userClicksButton({ messageId: second.messageId, customId: second.yes, userId: ids.memberUserId });
    const confirmed = await click.response();
    expect(confirmed.type).toBe(7);
    expect(text(confirmed)).toContain('**Confirmed.**');
    const done = await click.waitForRequest((r) => /Erased: \d+ messages/.test(JSON.stringify(r.body ?? '')), 30_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n--- bot output ---\n${bot.output().slice(-3000)}`);
    });
    expect(JSON.stringify(done.body)).toMatch(/Erased: [1-9]\d* messages/);
    const left = (await storedMessages()).filter((m) => m.author === ids.memberUserId);
    expect(left).toEqual([]);
    const hmac = bot.keys.userHmac(ids.memberUserId);
    const [votes] = await bot.database.rows<{ n: number }>(sql`select count(*)::int as n from consents where user_id = ${ids.memberUserId}`);
    expect(votes!.n).toBe(0);
    const [replies] = await bot.database.rows<{ n: number }>(sql`select count(*)::int as n from persona_replies where user_hmac = ${hmac} or content_enc is not null`);
    expect(replies!.n).toBe(0);
  });

  it('keeps thread bindings across a restart, and a confirm button asked before it still works after', async () => {
    const ix = run({ name: 'consent', subcommand: 'forget', userId: ids.adminUserId, channelId: ids.textChannelId });
    await ix.response();
    const yes = (ix.original!.components as { components: { custom_id: string }[] }[]).flatMap((row) => row.components.map((c) => c.custom_id)).find((c) => c.startsWith('cf:y:'))!;
    await bot.restart();
    const before = seqNow();
    await until('reconnected', () => discord.gateway.identifies.length >= 2, 90_000, bot.output);
    discord.userSendsMessage({ channelId: threadId, authorId: ids.memberUserId, content: 'Hello again after your nap!' });
    const reply = await discord.waitForRequest((r) => after(before)(r) && r.route === EXECUTE && r.status === 200, 120_000);
    expect(reply.body).toMatchObject({ username: 'Glordon' });
    expect(reply.query.thread_id).toBe(threadId);

    const click = discord.userClicksButton({ messageId: ix.original!.id, customId: yes, userId: ids.adminUserId });
    expect(text(await click.response())).toContain('**Confirmed.**');
    const done = await click.waitForRequest((r) => /Erased: \d+ messages/.test(JSON.stringify(r.body ?? '')), 30_000);
    expect((done.body as { flags?: number }).flags! & 64).toBe(64);
  });

  it('purges a guild when the bot is removed from it', async () => {
    discord.userSendsMessage({ channelId: ids.textChannelId, authorId: ids.adminUserId, content: 'admin talks' });
    discord.removeBotFromGuild(ids.guildId);
    await until('guild purged', async () => {
      const [n] = await bot.database.rows<{ n: number }>(
        sql`select (select count(*) from logged_messages) + (select count(*) from channel_settings) + (select count(*) from persona_replies where guild_id is not null) as n`,
      );
      return Number(n!.n) === 0;
    }, 30_000, bot.output);
    // The DM conversation belongs to no guild: its reply metadata stays.
    const [dm] = await bot.database.rows<{ n: number }>(sql`select count(*)::int as n from persona_replies where guild_id is null`);
    expect(dm!.n).toBe(1);
  });
});

describe('deletions made on Discord', { timeout: 240_000 }, () => {
  it('a bulk delete and a deleted channel reach the stored copies, and a server left while the bot was offline is purged at connect', async () => {
    const discord = await LocalDiscord.start({ interactionAckMs: 3000, token: `MTA0.${'z'.repeat(66)}` });
    const ids = discord.defaults;
    const bot = await startBot(discord.env());
    try {
      await until('slash commands registered', () => discord.requests.find((r) => r.route === 'PUT /applications/:appId/commands' && r.status === 200), 90_000, bot.output);
      const text = (r: { data?: unknown }) => String((r.data as { content?: string } | undefined)?.content ?? '');
      expect(text(await discord.userRunsCommand({ name: 'logging', subcommand: 'on', userId: ids.adminUserId, channelId: ids.textChannelId }).response())).toContain('**on**');
      expect(text(await discord.userRunsCommand({ name: 'consent', subcommand: 'opt-in', userId: ids.memberUserId, channelId: ids.textChannelId }).response())).toContain('opted in');
      const sent = ['first words', 'second words', 'third words'].map((content) => discord.userSendsMessage({ channelId: ids.textChannelId, authorId: ids.memberUserId, content }));
      const storedIds = async () => (await bot.database.db.select({ id: loggedMessages.id }).from(loggedMessages)).map((r) => r.id).sort();
      await until('three messages stored', async () => (await storedIds()).length === 3, 30_000, bot.output);

      discord.moderatorBulkDeletes({ messageIds: [sent[0]!.id, sent[1]!.id] });
      await until('the bulk delete applied', async () => (await storedIds()).join() === sent[2]!.id, 30_000, bot.output);
      discord.deleteChannel(ids.textChannelId);
      await until('the deleted channel erased', async () => (await storedIds()).length === 0, 30_000, bot.output);
      expect(await bot.database.rows(sql`select * from channel_settings`)).toEqual([]);

      await bot.restart({ whileStopped: () => discord.removeBotFromGuild(ids.guildId) }); // nobody connected hears it
      await until('the guild purged at connect', async () => {
        const [n] = await bot.database.rows<{ n: number }>(sql`select (select count(*) from logged_messages) + (select count(*) from consents) + (select count(*) from channel_settings) as n`);
        return Number(n!.n) === 0;
      }, 60_000, bot.output);
      expect(bot.output()).toContain('removed from a guild while offline');
    } finally {
      await bot.stop();
      await discord.stop();
    }
  });
});

describe('start-up checks', { timeout: 120_000 }, () => {
  it('reports a missing Message Content intent (close 4014) clearly and does not crash-loop', async () => {
    const discord = await LocalDiscord.start({ privilegedIntents: [], token: `MTA0.${'y'.repeat(66)}` });
    const bot = await startBot(discord.env());
    try {
      await until('the intent message', () => /Message Content Intent/.test(bot.output()), 60_000, bot.output);
      await new Promise((r) => setTimeout(r, 1000));
      expect(bot.child.exitCode).toBeNull(); // still up, not restarting into the same failure
      expect(bot.output()).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      await bot.stop();
      await discord.stop();
    }
  });

  it('warns when the bot lacks Manage Webhooks', async () => {
    const discord = await LocalDiscord.start({
      token: `MTA0.${'z'.repeat(66)}`,
      guilds: [{ name: 'No Hooks', channels: [{ name: 'general' }], members: [{ username: 'owner', owner: true }], botPermissions: ['ViewChannel', 'SendMessages', 'UseApplicationCommands'] }],
    });
    const bot = await startBot(discord.env());
    try {
      await until('the permission warning', () => /Manage Webhooks/.test(bot.output()), 60_000, bot.output);
    } finally {
      await bot.stop();
      await discord.stop();
    }
  });
});

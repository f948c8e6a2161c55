import { once } from 'node:events';
import { Client, Events, GatewayIntentBits, Partials, Routes, type ThreadChannel } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanWebhookName, EDIT_INTERVAL_MS, MAX_CONTENT, splitContent } from '../../bot/discord/voice.js';
import { DiscordVoices } from '../../bot/discord/voice.js';
import { parseCard } from '../../bot/personas/card.js';
import { LocalDiscord } from '../support/local-discord/index.js';

describe('persona messages in Discord', () => {
  it('splits replies longer than 2,000 characters at line or word boundaries', () => {
    const long = Array.from({ length: 700 }, (_, i) => `word${i}`).join(' ');
    const parts = splitContent(long);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(MAX_CONTENT);
    expect(parts.join(' ')).toBe(long);
    expect(splitContent('')).toEqual(['…']);
  });

  it('cleans names Discord rejects for webhooks', () => {
    expect(cleanWebhookName('Discord Clyde')).not.toMatch(/discord|clyde/i);
    expect(cleanWebhookName('x'.repeat(100))).toHaveLength(80);
    expect(cleanWebhookName('   ')).toBe('Persona');
  });
});

/** The voice through the real discord.js REST client against the local Discord (which rejects content over 2,000). */
describe('a streamed reply over 2,000 characters, through discord.js and the local Discord', { timeout: 60_000 }, () => {
  let discord: LocalDiscord;
  let client: Client;
  const card = parseCard('talker.md', 'talker', '---\nname: Talker\ngreeting: "Hi."\n---\n## Personality\nTalks a lot.\n');
  const EXECUTE = 'POST /webhooks/:webhookId/:token';
  const EDIT = 'PATCH /webhooks/:webhookId/:token/messages/:messageId';

  beforeAll(async () => {
    discord = await LocalDiscord.start();
    client = new Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.DirectMessages],
      partials: [Partials.Channel],
      rest: { api: discord.apiUrl },
    });
    const ready = once(client, Events.ClientReady);
    await client.login(discord.token);
    await ready;
  });
  afterAll(async () => {
    await client?.destroy();
    await discord?.stop();
  });

  it('the local Discord refuses content over 2,000 characters', async () => {
    await expect(client.rest.post(Routes.channelMessages(discord.defaults.textChannelId), { body: { content: 'x'.repeat(MAX_CONTENT + 1) } })).rejects.toThrow(/BASE_TYPE_MAX_LENGTH/);
  });

  it('grows past 2,000 while streaming: edits the first message, continues in new ones, never sends more than 2,000', async () => {
    const thread = discord.createChannel(discord.defaults.guildId, { name: 'talk', type: 'thread', parent: discord.defaults.textChannelId });
    const voices = new DiscordVoices(client);
    const before = discord.requests.length;
    // About 4,500 characters (one line break) over about 3.5 s: several throttled edits happen while it grows.
    const words = Array.from({ length: 700 }, (_, i) => `w${i}x`);
    let full = '';
    let producedAt = 0;
    const { messageId } = await voices.voice({ channelId: thread.id, parentId: discord.defaults.textChannelId }).speak(card, async (push) => {
      for (let i = 0; i < words.length; i += 20) {
        const delta = `${words.slice(i, i + 20).join(' ')}${i === 420 ? '\n' : ' '}`;
        full += delta;
        push(delta);
        await new Promise((r) => setTimeout(r, 100));
      }
      producedAt = Date.now();
      return full;
    });
    const mine = discord.requests.slice(before);
    expect(mine.filter((r) => r.status >= 400)).toEqual([]);
    const sends = mine.filter((r) => r.route === EXECUTE);
    const edits = mine.filter((r) => r.route === EDIT);
    expect(sends.length).toBeGreaterThanOrEqual(3); // 4,500 characters need three messages
    expect(edits.length).toBeGreaterThan(0); // they grew while streaming
    for (const r of [...sends, ...edits]) {
      expect(String((r.body as { content: string }).content).length).toBeLessThanOrEqual(MAX_CONTENT);
      expect(r.body).toMatchObject({ allowed_mentions: { parse: [] } });
      expect(r.query.thread_id).toBe(thread.id);
    }
    const ids = sends.map((r) => (r.response as { id: string }).id);
    expect(ids[0]).toBe(messageId);
    const shown = ids.map((id) => discord.state.messages.get(id)!.content);
    expect(shown.join(' ').replace(/\s+/g, ' ').trim()).toBe(full.replace(/\s+/g, ' ').trim());
    // While streaming, edits of one message are throttled (the final text is applied at once).
    for (const id of ids) {
      const at = edits.filter((r) => r.params.messageId === id && r.at < producedAt).map((r) => r.at);
      for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(EDIT_INTERVAL_MS - 200);
    }
  });

  it('asks the model while the channel is still being looked up, and the reply still lands', async () => {
    const thread = discord.createChannel(discord.defaults.guildId, { name: 'slow lookup', type: 'thread', parent: discord.defaults.textChannelId });
    await new Promise((r) => setTimeout(r, 100)); // its THREAD_CREATE reaches the client…
    client.channels.cache.delete(thread.id); // …and is forgotten: the lookup goes over REST, rate-limited once for 0.3 s
    discord.failNext({ method: 'GET', pathPattern: `/channels/${thread.id}`, status: 429, retryAfter: 0.3 });
    const before = discord.requests.length;
    let producing = 0;
    const { messageId } = await new DiscordVoices(client).voice({ channelId: thread.id, parentId: discord.defaults.textChannelId }).speak(card, async (push) => {
      producing = Date.now();
      push('Hello');
      return 'Hello there.';
    });
    const mine = discord.requests.slice(before);
    const lookup = mine.find((r) => r.method === 'GET' && r.path === `/channels/${thread.id}` && r.status === 200);
    expect(lookup).toBeDefined();
    expect(producing).toBeGreaterThan(0);
    expect(producing).toBeLessThan(lookup!.at); // the model was asked before the lookup was answered
    expect(discord.state.messages.get(messageId)?.content).toBe('Hello there.');
  });

  it('sends the typing indicator only after the model has been asked and the event loop has moved on', async () => {
    const thread = discord.createChannel(discord.defaults.guildId, { name: 'typing', type: 'thread', parent: discord.defaults.textChannelId });
    await new Promise((r) => setTimeout(r, 100)); // its THREAD_CREATE reaches the client: the lookup is answered from the cache
    const channel = client.channels.cache.get(thread.id) as ThreadChannel;
    const typedAt: number[] = [];
    const sendTyping = channel.sendTyping.bind(channel);
    channel.sendTyping = () => {
      typedAt.push(Date.now());
      return sendTyping();
    };
    const before = discord.requests.length;
    let typedWhileAsking = -1;
    let typedAfterATurn = -1;
    await new DiscordVoices(client).voice({ channelId: thread.id, parentId: discord.defaults.textChannelId }).speak(card, async (push) => {
      // Asking the model takes microtasks (other messages that arrived together are being set up);
      // the typing request must not be one of them.
      for (let i = 0; i < 200; i++) await Promise.resolve();
      typedWhileAsking = typedAt.length;
      await new Promise((r) => setImmediate(r));
      typedAfterATurn = typedAt.length;
      push('Hi');
      return 'Hi.';
    });
    expect(typedWhileAsking).toBe(0);
    expect(typedAfterATurn).toBe(1);
    const typing = await discord.waitForRequest((r) => r.route === 'POST /channels/:channelId/typing' && r.params.channelId === thread.id, 5_000, before);
    expect(typing.status).toBe(204);
  });

  it('a channel that cannot be found fails the reply with that reason and posts nothing', async () => {
    const missing = '1' + '0'.repeat(18);
    const before = discord.requests.length;
    const speaking = new DiscordVoices(client).voice({ channelId: missing, parentId: null }).speak(card, async (push) => {
      push('Hi');
      return 'Hi.';
    });
    await expect(speaking).rejects.toThrow(/Unknown Channel|not found/i);
    expect(discord.requests.slice(before).filter((r) => r.method === 'POST' || r.method === 'PATCH')).toEqual([]);
  });

  it('splits in DMs too, as plain bot messages', async () => {
    const dm = discord.state.dmChannelWith(discord.defaults.memberUserId);
    const before = discord.requests.length;
    const text = Array.from({ length: 500 }, (_, i) => `dm${i}`).join(' ');
    await new DiscordVoices(client).voice({ channelId: dm.id, parentId: null }).speak(card, async (push) => {
      push(text);
      return text;
    });
    const posts = discord.requests.slice(before).filter((r) => r.route === 'POST /channels/:channelId/messages');
    expect(posts.length).toBe(2);
    expect(posts.every((r) => r.status === 200 && String((r.body as { content: string }).content).length <= MAX_CONTENT)).toBe(true);
    expect(discord.requests.slice(before).filter((r) => r.route === EXECUTE)).toEqual([]);
  });
});

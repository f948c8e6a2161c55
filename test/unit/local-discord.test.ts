/**
 * The local Discord (test/support/local-discord) driven by the real discord.js client: if these pass,
 * end-to-end tests can trust that what the bot does against it is what it would do against Discord.
 */
import { once } from 'node:events';
import {
  ActionRowBuilder,
  ButtonBuilder,
  ButtonStyle,
  ChannelType,
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  MessageFlags,
  Partials,
  PermissionFlagsBits,
  Routes,
  SlashCommandBuilder,
} from 'discord.js';
import type { Interaction, Message, TextChannel } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { LocalDiscordOptions } from '../support/local-discord/index.js';
import { LocalDiscord } from '../support/local-discord/index.js';

const INTENTS = [
  GatewayIntentBits.Guilds,
  GatewayIntentBits.GuildMessages,
  GatewayIntentBits.MessageContent,
  GatewayIntentBits.GuildMessageReactions,
  GatewayIntentBits.DirectMessages,
];

let discord: LocalDiscord | undefined;
let client: Client | undefined;

afterEach(async () => {
  await client?.destroy();
  await discord?.stop();
  client = undefined;
  discord = undefined;
});

function newClient(d: LocalDiscord): Client {
  return new Client({
    intents: INTENTS,
    partials: [Partials.Message, Partials.Channel, Partials.Reaction],
    rest: { api: d.apiUrl },
  });
}

async function connect(options: LocalDiscordOptions = {}): Promise<{ d: LocalDiscord; c: Client }> {
  const d = await LocalDiscord.start(options);
  discord = d;
  const c = newClient(d);
  client = c;
  const ready = once(c, Events.ClientReady);
  await c.login(d.token);
  await ready;
  return { d, c };
}

/** Resolves with the first event `name` whose first argument satisfies `pred`. */
function next<T>(c: Client, name: string, pred: (arg: T) => boolean = () => true, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      c.off(name, listener);
      reject(new Error(`no ${name} within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (arg: T) => {
      if (!pred(arg)) return;
      clearTimeout(timer);
      c.off(name, listener);
      resolve(arg);
    };
    c.on(name, listener);
  });
}

const consentCommand = new SlashCommandBuilder()
  .setName('consent')
  .setDescription('Consent to logging')
  .addSubcommand((s) => s.setName('status').setDescription('Your consent state'))
  .addSubcommand((s) => s.setName('opt-in').setDescription('Opt in'));
const personaCommand = new SlashCommandBuilder()
  .setName('persona')
  .setDescription('Personas')
  .addSubcommand((s) =>
    s
      .setName('chat')
      .setDescription('Chat with a persona')
      .addStringOption((o) => o.setName('name').setDescription('Persona').setRequired(true).setAutocomplete(true))
      .addStringOption((o) => o.setName('message').setDescription('First message')),
  );

describe('local Discord with the real discord.js client', () => {
  it('logs in: gateway/bot, IDENTIFY with the intents, READY and GUILD_CREATE fill the cache', async () => {
    const { d, c } = await connect();
    expect(c.user?.id).toBe(d.botUserId);
    expect(d.requestsTo('GET /gateway/bot')).toHaveLength(1);
    const intents = INTENTS.reduce((a, b) => a | b, 0);
    expect(d.identifiedIntents).toBe(intents);
    expect(d.gateway.identifies[0]?.path).toBe('/gateway');

    const guild = c.guilds.cache.get(d.defaults.guildId);
    expect(guild?.name).toBe('Local Guild');
    const nsfw = guild?.channels.cache.get(d.defaults.nsfwChannelId) as TextChannel | undefined;
    expect(nsfw?.nsfw).toBe(true);
    expect((guild?.channels.cache.get(d.defaults.textChannelId) as TextChannel | undefined)?.nsfw).toBe(false);
    expect(guild?.members.cache.get(d.defaults.adminUserId)?.permissions.has(PermissionFlagsBits.ManageGuild)).toBe(true);
    expect(guild?.members.cache.get(d.defaults.memberUserId)?.permissions.has(PermissionFlagsBits.ManageGuild)).toBe(false);
    const me = guild?.members.me;
    expect(me && nsfw?.permissionsFor(me)?.has(PermissionFlagsBits.ManageWebhooks)).toBe(true);
    expect(d.unhandledRequests()).toEqual([]);
  });

  it('delivers a user message as messageCreate with content and member', async () => {
    const { d, c } = await connect();
    const got = next<Message>(c, Events.MessageCreate);
    const sent = d.userSendsMessage({ channelId: d.defaults.textChannelId, authorId: d.defaults.memberUserId, content: `hello <@${d.botUserId}>` });
    const msg = await got;
    expect(msg.id).toBe(sent.id);
    expect(msg.content).toBe(`hello <@${d.botUserId}>`);
    expect(msg.author.id).toBe(d.defaults.memberUserId);
    expect(msg.member?.id).toBe(d.defaults.memberUserId);
    expect(msg.mentions.users.has(d.botUserId)).toBe(true);
    expect(msg.webhookId).toBeNull();

    const edited = next<Message>(c, Events.MessageUpdate, (m) => m.id === sent.id);
    d.userEditsMessage({ messageId: sent.id, content: 'edited' });
    expect((await edited).id).toBe(sent.id);
    const deleted = next<Message>(c, Events.MessageDelete, (m) => m.id === sent.id);
    d.userDeletesMessage({ messageId: sent.id });
    await deleted;
  });

  it('answers a slash command with an ephemeral reply, and defer + editReply + followUp hit their routes', async () => {
    const { d, c } = await connect();
    await c.application?.commands.set([consentCommand.toJSON(), personaCommand.toJSON()]);
    expect(d.requestsTo('PUT /applications/:appId/commands')[0]?.status).toBe(200);

    const seen: Interaction[] = [];
    c.on(Events.InteractionCreate, (interaction) => {
      seen.push(interaction);
      if (!interaction.isChatInputCommand()) return;
      if (interaction.options.getSubcommand() === 'status') {
        // `ephemeral: true` works too (same wire format) but is deprecated in discord.js 14.28 and warns.
        void interaction.reply({ content: 'You have not opted in.', flags: MessageFlags.Ephemeral });
      } else {
        void (async () => {
          await interaction.deferReply();
          await interaction.editReply('Opted in.');
          await interaction.followUp({ content: 'Details…', flags: MessageFlags.Ephemeral });
        })();
      }
    });

    const status = d.userRunsCommand({ name: 'consent', subcommand: 'status', userId: d.defaults.memberUserId, channelId: d.defaults.textChannelId });
    const cb = await status.response();
    expect(cb.type).toBe(4);
    expect(cb.data).toMatchObject({ content: 'You have not opted in.', flags: 64 });
    expect(status.original?.flags).toBe(64);
    const ix = seen[0];
    expect(ix?.isChatInputCommand() && ix.memberPermissions?.has(PermissionFlagsBits.ManageGuild)).toBe(false);

    const optIn = d.userRunsCommand({ name: 'consent', subcommand: 'opt-in', userId: d.defaults.adminUserId, channelId: d.defaults.textChannelId });
    expect((await optIn.response()).type).toBe(5);
    const edit = await optIn.waitForRequest((r) => r.route === 'PATCH /webhooks/:webhookId/:token/messages/:messageId');
    expect(edit.params.messageId).toBe('@original');
    expect(edit.body).toMatchObject({ content: 'Opted in.' });
    const follow = await optIn.waitForRequest((r) => r.route === 'POST /webhooks/:webhookId/:token');
    expect(follow.status).toBe(200);
    expect(follow.body).toMatchObject({ content: 'Details…', flags: 64 });
    expect(optIn.original?.content).toBe('Opted in.');
    expect(optIn.followUps.map((m) => m.content)).toEqual(['Details…']);
    expect(seen[1]?.isChatInputCommand() && seen[1].memberPermissions?.has(PermissionFlagsBits.ManageGuild)).toBe(true);
  });

  it('offers Manage Server commands only to members with the permission, unless overridden', async () => {
    const { d, c } = await connect();
    const logging = new SlashCommandBuilder()
      .setName('logging')
      .setDescription('Channel logging')
      .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
      .addSubcommand((s) => s.setName('on').setDescription('Turn logging on'));
    await c.guilds.cache.get(d.defaults.guildId)?.commands.set([logging.toJSON()]);
    expect(d.requestsTo('PUT /applications/:appId/guilds/:guildId/commands')[0]?.status).toBe(200);
    const where = { name: 'logging', subcommand: 'on', channelId: d.defaults.textChannelId };
    expect(() => d.userRunsCommand({ ...where, userId: d.defaults.memberUserId })).toThrow(/default_member_permissions/);
    const seen = next<Interaction>(c, Events.InteractionCreate);
    d.userRunsCommand({ ...where, userId: d.defaults.memberUserId, ignoreDefaultMemberPermissions: true });
    const ix = await seen;
    expect(ix.isChatInputCommand() && ix.commandGuildId).toBe(d.defaults.guildId);
    expect(ix.memberPermissions?.has(PermissionFlagsBits.ManageGuild)).toBe(false);
    expect(() => d.userRunsCommand({ ...where, userId: d.defaults.adminUserId })).not.toThrow();
  });

  it('after a deferReply, the first followUp fills the "thinking…" message (as Discord does)', async () => {
    const { d, c } = await connect();
    await c.application?.commands.set([consentCommand.toJSON()]);
    const replies = new Promise<Message[]>((resolve) => {
      c.once(Events.InteractionCreate, (interaction) => {
        if (!interaction.isChatInputCommand()) return;
        void (async () => {
          await interaction.deferReply();
          resolve([await interaction.followUp('first'), await interaction.followUp('second')]);
        })();
      });
    });
    const ix = d.userRunsCommand({ name: 'consent', subcommand: 'status', userId: d.defaults.memberUserId, channelId: d.defaults.textChannelId });
    const [first, second] = await replies;
    expect(first?.id).toBe(ix.original?.id);
    expect(ix.original?.content).toBe('first');
    expect(ix.original?.flags).toBe(0);
    expect(second?.id).not.toBe(first?.id);
    expect(ix.followUps.map((m) => m.content)).toEqual(['second']);
  });

  it('direct messages: a DM arrives with Partials.Channel and the bot answers in the DM channel', async () => {
    const { d, c } = await connect();
    const got = next<Message>(c, Events.MessageCreate);
    d.userSendsMessage({ dm: true, authorId: d.defaults.memberUserId, content: 'psst' });
    const msg = await got;
    expect(msg.guildId).toBeNull();
    expect(msg.channel.isDMBased()).toBe(true);
    expect(msg.content).toBe('psst');
    await msg.reply('hello in private');
    const user = await c.users.fetch(d.defaults.adminUserId);
    await user.send('hi admin');
    expect(d.requestsTo('POST /users/@me/channels')[0]?.body).toEqual({ recipient_id: d.defaults.adminUserId });
    expect(d.requestsTo('POST /channels/:channelId/messages').map((r) => r.status)).toEqual([200, 200]);
  });

  it('refuses a late acknowledgement (10062) and a second one (40060), as Discord does', async () => {
    const { d, c } = await connect({ interactionAckMs: 200 });
    await c.application?.commands.set([consentCommand.toJSON()]);
    const late = new Promise<unknown>((resolve) => {
      c.once(Events.InteractionCreate, (interaction) => {
        if (!interaction.isRepliable()) return;
        setTimeout(() => void interaction.reply('late').then(resolve, resolve), 300);
      });
    });
    const ix = d.userRunsCommand({ name: 'consent', subcommand: 'status', userId: d.defaults.memberUserId, channelId: d.defaults.textChannelId });
    await expect(ix.response()).rejects.toThrow(/10062/);
    expect(await late).toBeInstanceOf(DiscordAPIError);
    expect(await late).toMatchObject({ code: 10062, status: 404 });

    const twice = d.userRunsCommand({ name: 'consent', subcommand: 'status', userId: d.defaults.memberUserId, channelId: d.defaults.textChannelId });
    const callback = { body: { type: 4, data: { content: 'once' } }, auth: false } as const;
    await c.rest.post(Routes.interactionCallback(twice.id, twice.token), callback);
    await expect(c.rest.post(Routes.interactionCallback(twice.id, twice.token), callback)).rejects.toMatchObject({ code: 40060 });
  });

  it('autocomplete and buttons round-trip', async () => {
    const { d, c } = await connect();
    await c.application?.commands.set([personaCommand.toJSON()]);
    c.on(Events.InteractionCreate, (interaction) => {
      if (interaction.isAutocomplete()) {
        const typed = interaction.options.getFocused();
        void interaction.respond(['Glordon', 'Zyx'].filter((n) => n.toLowerCase().startsWith(typed.toLowerCase())).map((n) => ({ name: n, value: n })));
      } else if (interaction.isChatInputCommand()) {
        const row = new ActionRowBuilder<ButtonBuilder>().addComponents(new ButtonBuilder().setCustomId('confirm').setLabel('Confirm').setStyle(ButtonStyle.Danger));
        void interaction.reply({ content: `Chat with ${interaction.options.getString('name', true)}?`, components: [row], withResponse: true });
      } else if (interaction.isButton()) {
        void interaction.update({ content: 'Confirmed.', components: [] });
      }
    });
    const choices = await d.userAutocompletes({ name: 'persona', subcommand: 'chat', options: { name: 'gl' }, focused: 'name', userId: d.defaults.memberUserId, channelId: d.defaults.textChannelId });
    expect(choices).toEqual([{ name: 'Glordon', value: 'Glordon' }]);

    const cmd = d.userRunsCommand({ name: 'persona', subcommand: 'chat', options: { name: 'Glordon' }, userId: d.defaults.memberUserId, channelId: d.defaults.textChannelId });
    await cmd.response();
    const messageId = cmd.original?.id as string;
    const updated = next<Message>(c, Events.MessageUpdate, (m) => m.id === messageId);
    const click = d.userClicksButton({ messageId, customId: 'confirm', userId: d.defaults.memberUserId });
    expect((await click.response()).type).toBe(7);
    await updated;
    expect(d.state.messages.get(messageId)?.content).toBe('Confirmed.');
    expect(() => d.userRunsCommand({ name: 'persona', subcommand: 'chat', options: { nme: 'x' }, userId: d.defaults.memberUserId, channelId: d.defaults.textChannelId })).toThrow(/no option "nme"/);
    expect(() => d.userRunsCommand({ name: 'persona', subcommand: 'chat', options: {}, userId: d.defaults.memberUserId, channelId: d.defaults.textChannelId })).toThrow(/"name" is required/);
    const callback = d.requestsTo('POST /interactions/:interactionId/:token/callback').find((r) => r.params.interactionId === cmd.id);
    expect(callback?.query.with_response).toBe('true');
    expect(callback?.response).toMatchObject({ resource: { type: 4, message: { id: messageId } } });
  });

  it('creates threads, webhooks and sends persona messages through the parent webhook with thread_id', async () => {
    const { d, c } = await connect();
    const channel = (await c.channels.fetch(d.defaults.textChannelId)) as TextChannel;
    const threadCreated = next<{ id: string }>(c, Events.ThreadCreate);
    const thread = await channel.threads.create({ name: 'Glordon chat', type: ChannelType.PublicThread });
    expect(thread.parentId).toBe(channel.id);
    expect((await threadCreated).id).toBe(thread.id);
    expect(d.requestsTo('POST /channels/:channelId/threads')[0]?.body).toMatchObject({ name: 'Glordon chat', type: 11 });
    expect(d.state.channels.get(thread.id)?.parentId).toBe(channel.id);

    const nsfwThread = await ((await c.channels.fetch(d.defaults.nsfwChannelId)) as TextChannel).threads.create({ name: 'x', type: ChannelType.PublicThread });
    expect(d.state.isNsfw(d.state.mustChannel(nsfwThread.id))).toBe(true);

    const webhook = await channel.createWebhook({ name: 'Persona relay' });
    expect(d.requestsTo('POST /channels/:channelId/webhooks')[0]?.body).toMatchObject({ name: 'Persona relay' });
    const created = next<Message>(c, Events.MessageCreate, (m) => m.webhookId === webhook.id);
    const sent = await webhook.send({
      username: 'Glordon',
      avatarURL: 'https://example.invalid/glordon.png',
      threadId: thread.id,
      content: 'Bloop! @everyone',
      allowedMentions: { parse: [] },
    });
    const req = d.requestsTo('POST /webhooks/:webhookId/:token')[0];
    expect(req?.query).toMatchObject({ wait: 'true', thread_id: thread.id });
    expect(req?.body).toMatchObject({ username: 'Glordon', avatar_url: 'https://example.invalid/glordon.png', allowed_mentions: { parse: [] } });
    expect(sent.id).toBe(req && (req.response as { id: string }).id);
    expect(sent.channelId).toBe(thread.id);
    const arrived = await created;
    expect(arrived.author.username).toBe('Glordon');
    expect(arrived.mentions.everyone).toBe(false);
    expect(d.state.messages.get(sent.id)?.avatarUrl).toBe('https://example.invalid/glordon.png');

    // Edits of a thread message need thread_id, as on Discord.
    await webhook.editMessage(sent.id, { content: 'Bloop bloop!', threadId: thread.id });
    expect(d.state.messages.get(sent.id)?.content).toBe('Bloop bloop!');
    await expect(webhook.editMessage(sent.id, { content: 'no thread' })).rejects.toMatchObject({ code: 10008 });

    // Names Discord refuses.
    await expect(webhook.send({ username: 'Discord Bot', content: 'x' })).rejects.toMatchObject({ code: 50035, status: 400 });
    await expect(webhook.send({ username: 'x'.repeat(81), content: 'x' })).rejects.toBeInstanceOf(DiscordAPIError);
  });

  it('waits out an injected 429 and then succeeds; 10015 surfaces as DiscordAPIError', async () => {
    const { d, c } = await connect();
    const channel = (await c.channels.fetch(d.defaults.textChannelId)) as TextChannel;
    d.failNext({ method: 'POST', pathPattern: '/channels/:id/messages', status: 429, retryAfter: 0.3 });
    const started = Date.now();
    const msg = await channel.send('after the rate limit');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    const posts = d.requestsTo('POST /channels/:channelId/messages');
    expect(posts.map((r) => r.status)).toEqual([429, 200]);
    expect(posts[0]?.injected).toBe(true);
    expect(d.state.messages.get(msg.id)?.content).toBe('after the rate limit');

    const webhook = await channel.createWebhook({ name: 'relay' });
    d.failNext({ method: 'POST', pathPattern: '/webhooks/:id/:token', status: 404, code: 10015 });
    await expect(webhook.send({ content: 'x' })).rejects.toMatchObject({ code: 10015 });
    d.removeWebhook(webhook.id);
    await expect(webhook.send({ content: 'x' })).rejects.toMatchObject({ code: 10015, status: 404 });
    expect(d.pendingFailures).toBe(0);
  });

  it('rejects what Discord rejects: content over 2000 characters, empty messages, unknown routes are recorded', async () => {
    const { d, c } = await connect();
    const channel = (await c.channels.fetch(d.defaults.textChannelId)) as TextChannel;
    const err = await channel.send('x'.repeat(2001)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiscordAPIError);
    expect(err).toMatchObject({ code: 50035, status: 400 });
    expect((err as DiscordAPIError).message).toMatch(/content\[BASE_TYPE_MAX_LENGTH\]/);
    await expect(c.rest.post(Routes.channelMessages(channel.id), { body: {} })).rejects.toMatchObject({ code: 50006 });
    await expect(c.rest.post(Routes.channelMessages(channel.id), { body: { content: '   ' } })).rejects.toMatchObject({ code: 50006 });
    await expect(c.rest.get(Routes.guildBans(d.defaults.guildId))).rejects.toMatchObject({ status: 404 });
    expect(d.unhandledRequests().map((r) => r.path)).toEqual([`/guilds/${d.defaults.guildId}/bans`]);
    expect(d.crashedRequests()).toEqual([]);
  });

  it('uploads attachments as multipart and serves them back', async () => {
    const { d, c } = await connect();
    const channel = (await c.channels.fetch(d.defaults.textChannelId)) as TextChannel;
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
    const msg = await channel.send({ content: 'chart', files: [{ attachment: png, name: 'chart.png' }] });
    const req = d.requestsTo('POST /channels/:channelId/messages')[0];
    expect(req?.files[0]).toMatchObject({ field: 'files[0]', filename: 'chart.png', size: png.length });
    const att = msg.attachments.first();
    expect(att?.name).toBe('chart.png');
    const body = Buffer.from(await (await fetch(att?.url as string)).arrayBuffer());
    expect(body.equals(png)).toBe(true);
  });

  it('reactions: the bot reacts (PUT @me) and users react (MESSAGE_REACTION_ADD/REMOVE)', async () => {
    const { d, c } = await connect();
    const channel = (await c.channels.fetch(d.defaults.textChannelId)) as TextChannel;
    const msg = await channel.send('rate me');
    await msg.react('👍');
    expect(d.requestsTo('PUT /channels/:channelId/messages/:messageId/reactions/:emoji/@me')[0]?.params.emoji).toBe('👍');
    const added = next<{ emoji: { name: string | null } }>(c, Events.MessageReactionAdd, (r) => r.emoji.name === '👎');
    d.userReacts({ messageId: msg.id, userId: d.defaults.memberUserId, emoji: '👎' });
    await added;
    const removed = next<{ emoji: { name: string | null } }>(c, Events.MessageReactionRemove);
    d.userRemovesReaction({ messageId: msg.id, userId: d.defaults.memberUserId, emoji: '👎' });
    await removed;
    expect([...(d.state.messages.get(msg.id)?.reactions.keys() ?? [])]).toEqual(['👍']);
  });

  it('resumes after the gateway closes with 4000 and replays what was missed', async () => {
    const { d, c } = await connect();
    const resumed = next<number>(c, Events.ShardResume, () => true, 10_000);
    d.closeGateway(4000, 'test');
    // Sent while the client is disconnected: buffered, then replayed on RESUME.
    const got = next<Message>(c, Events.MessageCreate, (m) => m.content === 'while you were away', 10_000);
    d.userSendsMessage({ channelId: d.defaults.textChannelId, authorId: d.defaults.memberUserId, content: 'while you were away' });
    await resumed;
    await got;
    expect(d.gateway.resumes).toMatchObject([{ ok: true, path: '/gateway/resume' }]);
    expect(d.gateway.resumes[0]?.replayed).toBeGreaterThanOrEqual(1);
    expect(d.gateway.identifies).toHaveLength(1);
    const after = next<Message>(c, Events.MessageCreate, (m) => m.content === 'still here');
    d.userSendsMessage({ channelId: d.defaults.textChannelId, authorId: d.defaults.memberUserId, content: 'still here' });
    await after;
  });

  it('GUILD_DELETE arrives as guildDelete', async () => {
    const { d, c } = await connect();
    const gone = next<{ id: string }>(c, Events.GuildDelete);
    d.removeBotFromGuild(d.defaults.guildId);
    expect((await gone).id).toBe(d.defaults.guildId);
    expect(c.guilds.cache.has(d.defaults.guildId)).toBe(false);
    await expect(c.channels.fetch(d.defaults.textChannelId, { force: true })).rejects.toMatchObject({ code: 50001 });
    const back = next<{ id: string }>(c, Events.GuildCreate);
    d.addBotToGuild(d.defaults.guildId);
    expect((await back).id).toBe(d.defaults.guildId);
  });

  it('closes with 4014 when a privileged intent is not enabled', async () => {
    const d = await LocalDiscord.start({ privilegedIntents: [] });
    discord = d;
    const c = newClient(d);
    client = c;
    await expect(c.login(d.token)).rejects.toThrow(/disallowed intents/i);
    expect(d.gateway.connections[0]?.closeCode).toBe(4014);
    expect(d.identifiedIntents! & GatewayIntentBits.MessageContent).toBeTruthy();
  });

  it('strips message content for a client without the Message Content intent', async () => {
    const d = await LocalDiscord.start();
    discord = d;
    const c = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages], rest: { api: d.apiUrl } });
    client = c;
    const ready = once(c, Events.ClientReady);
    await c.login(d.token);
    await ready;
    const got = next<Message>(c, Events.MessageCreate);
    d.userSendsMessage({ channelId: d.defaults.textChannelId, authorId: d.defaults.memberUserId, content: 'secret' });
    expect((await got).content).toBe('');
  });
});

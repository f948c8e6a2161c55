/**
 * A protocol-level stand-in for Discord on 127.0.0.1: REST (`/api/v10/...`) and gateway
 * (`ws://…/gateway`) that the real discord.js client (or the real bot process) talks to.
 *
 *   const discord = await LocalDiscord.start();
 *   const client = new Client({ intents, rest: { api: discord.apiUrl } });
 *   await client.login(discord.token);
 *   discord.userSendsMessage({ channelId: discord.defaults.textChannelId, authorId: discord.defaults.memberUserId, content: 'hi' });
 *   await discord.waitForRequest((r) => r.route === 'POST /channels/:channelId/messages');
 *   await discord.stop();
 *
 * See README.md in this folder for routes, the state model and the injection API.
 */
import { ChannelType, PermissionFlagsBits } from 'discord.js';
import type { Json } from './errors.js';
import { asArr, asObj } from './errors.js';
import type { DispatchRecord, PrivilegedIntent } from './gateway.js';
import { Gateway } from './gateway.js';
import type { UploadedFile } from './ops.js';
import { Ops } from './ops.js';
import { buildRoutes, randomToken } from './routes.js';
import type { FailRule, RecordedRequest } from './server.js';
import { HttpServer } from './server.js';
import type { Channel, Guild, Interaction, InteractionCallback, Message, Overwrite, PermissionName, PermissionSpec, User } from './state.js';
import { DiscordState, toPermissions } from './state.js';

export type { DispatchRecord, IdentifyRecord, ResumeRecord, ConnectionRecord, PrivilegedIntent } from './gateway.js';
export type { FailRule, RecordedRequest, RecordedFile } from './server.js';
export type { Channel, Guild, Interaction, Message, User, Webhook, Command, Member, Role, PermissionSpec, PermissionName } from './state.js';
export { DiscordState } from './state.js';
export { DiscordHttpError } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

export type ChannelKind = 'text' | 'voice' | 'category' | 'announcement' | 'forum' | 'thread' | 'private-thread';

export interface ChannelSpec {
  id?: string;
  name: string;
  /** Default `text`. Threads need `parent`. */
  type?: ChannelKind | ChannelType;
  nsfw?: boolean;
  topic?: string;
  /** Category (for channels) or parent channel (for threads), by name or id. */
  parent?: string;
  /** Permission overwrites; `role`/`user` by name or id (`@everyone` for the everyone role). */
  overwrites?: Array<{ role?: string; user?: string; allow?: PermissionSpec; deny?: PermissionSpec }>;
  /** Threads: archived/locked. */
  archived?: boolean;
  locked?: boolean;
}

export interface RoleSpec {
  id?: string;
  name: string;
  permissions?: PermissionSpec;
}

export interface MemberSpec {
  id?: string;
  username: string;
  /** Role names or ids. */
  roles?: string[];
  nick?: string;
  bot?: boolean;
  /** Guild owner (has every permission). When no member is the owner, an extra `owner` user is. */
  owner?: boolean;
}

export interface GuildSpec {
  id?: string;
  name?: string;
  /** Permissions of @everyone (default: view, send, threads, reactions, history, embeds, files, app commands). */
  everyonePermissions?: PermissionSpec;
  roles?: RoleSpec[];
  channels?: ChannelSpec[];
  members?: MemberSpec[];
  /** Permissions of the bot's own (managed) role; default: what a persona bot needs, incl. Manage Webhooks. */
  botPermissions?: PermissionSpec;
  /** Start with the bot not in this guild (use `addBotToGuild`). */
  botAbsent?: boolean;
}

export interface LocalDiscordOptions {
  /** Port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Bot token clients must use (REST `Authorization: Bot <token>`, gateway IDENTIFY). */
  token?: string;
  botUser?: { id?: string; username?: string };
  /** Default: the bot user's id (as for applications created since 2020). */
  applicationId?: string;
  applicationName?: string;
  /** Default: one guild with #general, #nsfw (age-restricted), owner, admin (Manage Server) and member. */
  guilds?: GuildSpec[];
  /** Privileged intents enabled for the application (default all three). Identifying with others closes 4014. */
  privilegedIntents?: PrivilegedIntent[];
  heartbeatIntervalMs?: number;
  /** Deadline to acknowledge an interaction (default 3000 ms, as Discord). */
  interactionAckMs?: number;
  /** Lifetime of interaction tokens (default 15 min). */
  interactionTokenTtlMs?: number;
}

export const DEFAULT_EVERYONE_PERMISSIONS: PermissionName[] = [
  'ViewChannel', 'SendMessages', 'SendMessagesInThreads', 'CreatePublicThreads', 'ReadMessageHistory',
  'AddReactions', 'EmbedLinks', 'AttachFiles', 'UseApplicationCommands', 'UseExternalEmojis',
];

export const DEFAULT_BOT_PERMISSIONS: PermissionName[] = [
  ...DEFAULT_EVERYONE_PERMISSIONS, 'ManageWebhooks', 'ManageMessages', 'ManageThreads', 'CreatePrivateThreads',
];

export function defaultGuildSpec(): GuildSpec {
  return {
    name: 'Local Guild',
    roles: [{ name: 'Admin', permissions: [...DEFAULT_EVERYONE_PERMISSIONS, 'ManageGuild', 'ManageMessages', 'ManageChannels'] }],
    channels: [{ name: 'general' }, { name: 'nsfw', nsfw: true }],
    members: [{ username: 'owner', owner: true }, { username: 'admin', roles: ['Admin'] }, { username: 'member' }],
  };
}

/** Ids of what a guild spec created, by name. */
export interface GuildIds {
  id: string;
  channels: Record<string, string>;
  roles: Record<string, string>;
  users: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Injection option types
// ---------------------------------------------------------------------------------------------

export interface UserMessageOptions {
  /** Guild channel, thread or DM channel. For a DM with the bot, pass `dm: true` instead. */
  channelId?: string;
  dm?: boolean;
  authorId: string;
  content?: string;
  embeds?: unknown[];
  attachments?: Array<{ filename: string; data: Buffer | string; contentType?: string }>;
  /** Reply to this message id. */
  replyTo?: string;
}

export type OptionValue = string | number | boolean | { filename: string; data: Buffer | string; contentType?: string };

export interface CommandOptions {
  name: string;
  subcommandGroup?: string;
  subcommand?: string;
  /** By option name; types come from the registered definition (raw option arrays are passed through). */
  options?: Record<string, OptionValue> | Json[];
  userId: string;
  channelId: string;
  locale?: string;
  /** Skip checks against the registered command (unknown/required options, choices, default permissions). */
  unchecked?: boolean;
  /**
   * Run the command even though the user lacks its `default_member_permissions` (Discord would not
   * offer it unless a server admin overrode the command's permissions): to test runtime checks.
   */
  ignoreDefaultMemberPermissions?: boolean;
}

export interface ComponentOptions {
  messageId: string;
  customId: string;
  userId: string;
  /** Select menus: the chosen values. */
  values?: string[];
  unchecked?: boolean;
}

export interface ModalOptions {
  /** The interaction that answered with the modal (type 9); gives custom_id, user, channel. */
  from?: InteractionHandle;
  customId?: string;
  userId?: string;
  channelId?: string;
  /** Text input values by custom_id. */
  fields: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------

export class InteractionHandle {
  constructor(
    private readonly discord: LocalDiscord,
    readonly record: Interaction,
  ) {}

  get id(): string {
    return this.record.id;
  }
  get token(): string {
    return this.record.token;
  }
  get payload(): Json {
    return this.record.payload;
  }

  /** Requests made with this interaction's id or token (callback, follow-ups, @original edits). */
  requests(): RecordedRequest[] {
    return this.discord.requests.filter((r) => this.owns(r));
  }

  private owns(r: RecordedRequest): boolean {
    return r.params.interactionId === this.id || (r.params.webhookId === this.discord.applicationId && r.params.token === this.token);
  }

  /** Waits for a request of this interaction matching `predicate` (earlier ones count). */
  waitForRequest(predicate: (r: RecordedRequest) => boolean = () => true, timeoutMs = 5000): Promise<RecordedRequest> {
    return this.discord.waitForRequest((r) => this.owns(r) && predicate(r), timeoutMs);
  }

  /** The (first successful) interaction callback; rejects with Discord's error if the callback was refused. */
  async response(timeoutMs = 5000): Promise<InteractionCallback> {
    const req = await this.waitForRequest((r) => r.route === 'POST /interactions/:interactionId/:token/callback', timeoutMs);
    const cb = this.record.callbacks[0];
    if (!cb) throw new Error(`interaction ${this.id}: callback was refused with ${req.status} ${JSON.stringify(req.response)}`);
    return cb;
  }

  /** The message `@original` refers to (reply, deferred reply, or the component's message). */
  get original(): Message | undefined {
    const id = this.record.originalMessageId;
    return id ? (this.discord.state.messages.get(id) ?? this.discord.state.deletedMessages.get(id)) : undefined;
  }

  get followUps(): Message[] {
    return this.record.followUpIds.flatMap((id) => {
      const m = this.discord.state.messages.get(id);
      return m ? [m] : [];
    });
  }

  /** Marks the token as expired (as 15 minutes later): follow-ups and edits then get 50027. */
  expire(): void {
    this.record.expired = true;
  }
}

// ---------------------------------------------------------------------------------------------

export class LocalDiscord {
  readonly state: DiscordState;
  readonly gateway: Gateway;
  readonly token: string;
  readonly applicationId: string;
  private readonly ops: Ops;
  private readonly http: HttpServer;
  private readonly guildIdMap: GuildIds[] = [];
  private stopped = false;

  private constructor(private readonly options: LocalDiscordOptions) {
    this.token = options.token ?? 'local-discord.bot.token';
    const botId = options.botUser?.id ?? '1100000000000000001';
    this.applicationId = options.applicationId ?? botId;
    this.state = new DiscordState(botId, this.applicationId);
    this.state.addUser({ id: botId, username: options.botUser?.username ?? 'PersonaBot', bot: true });
    this.gateway = new Gateway({
      state: this.state,
      token: this.token,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 41_250,
      privilegedIntents: options.privilegedIntents ?? ['GuildMembers', 'GuildPresences', 'MessageContent'],
      gatewayUrl: () => this.gatewayUrl,
    });
    this.ops = new Ops(this.state, this.gateway, {
      interactionAckMs: options.interactionAckMs ?? 3000,
      interactionTokenTtlMs: options.interactionTokenTtlMs ?? 15 * 60_000,
    });
    this.http = new HttpServer({
      state: this.state,
      gateway: this.gateway,
      token: this.token,
      routes: buildRoutes({
        state: this.state,
        ops: this.ops,
        gateway: this.gateway,
        gatewayUrl: () => this.gatewayUrl,
        applicationName: options.applicationName ?? 'PersonaBot',
      }),
    });
    for (const spec of options.guilds ?? [defaultGuildSpec()]) this.guildIdMap.push(this.addGuild(spec));
  }

  static async start(options: LocalDiscordOptions = {}): Promise<LocalDiscord> {
    const d = new LocalDiscord(options);
    await d.http.listen(options.port ?? 0);
    d.state.baseUrl = d.baseUrl;
    return d;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.gateway.stop();
    await this.http.close();
  }

  // ----- addresses ----------------------------------------------------------------------------

  get port(): number {
    return this.http.port;
  }
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  /** Pass as discord.js `rest.api` (and as the bot's DISCORD_API_URL). */
  get apiUrl(): string {
    return `${this.baseUrl}/api`;
  }
  /** What `GET /gateway/bot` returns; the client appends `?v=10&encoding=json`. */
  get gatewayUrl(): string {
    return `ws://127.0.0.1:${this.port}/gateway`;
  }
  get botUserId(): string {
    return this.state.botUserId;
  }
  /** Environment for a bot process pointed at this Discord. */
  env(): Record<string, string> {
    return { DISCORD_API_URL: this.apiUrl, DISCORD_TOKEN: this.token, DISCORD_APPLICATION_ID: this.applicationId };
  }

  /** Ids of each configured guild's channels, roles and users, by name. */
  get guilds(): readonly GuildIds[] {
    return this.guildIdMap;
  }

  /** Ids from the first guild, named as in the default guild (general, nsfw, owner, admin, member). */
  get defaults(): { guildId: string; textChannelId: string; nsfwChannelId: string; ownerUserId: string; adminUserId: string; memberUserId: string; adminRoleId: string } {
    const g = this.guildIdMap[0];
    const need = (map: Record<string, string> | undefined, key: string) => {
      const v = map?.[key];
      if (!v) throw new Error(`local-discord: defaults need a first guild with "${key}" (as in defaultGuildSpec())`);
      return v;
    };
    return {
      guildId: need(g ? { id: g.id } : undefined, 'id'),
      textChannelId: need(g?.channels, 'general'),
      nsfwChannelId: need(g?.channels, 'nsfw'),
      ownerUserId: need(g?.users, 'owner'),
      adminUserId: need(g?.users, 'admin'),
      memberUserId: need(g?.users, 'member'),
      adminRoleId: need(g?.roles, 'Admin'),
    };
  }

  // ----- request log --------------------------------------------------------------------------

  /** Every HTTP request, in order (live array). */
  get requests(): RecordedRequest[] {
    return this.http.requests;
  }

  /** Requests to a route template, e.g. `requestsTo('POST /webhooks/:webhookId/:token')`. */
  requestsTo(route: string): RecordedRequest[] {
    return this.requests.filter((r) => r.route === route);
  }

  /** Requests no route handled (404/405): coverage the local Discord is missing. */
  unhandledRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.route === null);
  }

  /** Requests whose handler crashed (500): bugs in the local Discord. */
  crashedRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.error !== undefined);
  }

  /**
   * Resolves with the first request (already recorded or future) matching `predicate`, once
   * answered. `afterSeq` skips the requests recorded up to that sequence number (a long run's log
   * is not rescanned for every wait).
   */
  waitForRequest(predicate: (r: RecordedRequest) => boolean, timeoutMs = 5000, afterSeq = 0): Promise<RecordedRequest> {
    for (let i = afterSeq; i < this.requests.length; i++) {
      if (predicate(this.requests[i]!)) return Promise.resolve(this.requests[i]!);
    }
    return new Promise((resolve, reject) => {
      const onRequest = (r: RecordedRequest) => {
        if (!predicate(r)) return;
        clearTimeout(timer);
        this.http.off('request', onRequest);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.http.off('request', onRequest);
        const recent = this.requests.slice(-10).map((r) => `${r.method} ${r.path} → ${r.status}`).join('\n  ');
        reject(new Error(`local-discord: no matching request within ${timeoutMs} ms; last requests:\n  ${recent || '(none)'}`));
      }, timeoutMs);
      this.http.on('request', onRequest);
    });
  }

  /** Resolves with the first dispatch (already sent or future) of type `t` matching `predicate`. */
  waitForDispatch(t: string, predicate: (d: Json) => boolean = () => true, timeoutMs = 5000): Promise<DispatchRecord> {
    const found = this.gateway.dispatches.find((e) => e.t === t && predicate(e.d));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onDispatch = (e: DispatchRecord) => {
        if (e.t !== t || !predicate(e.d)) return;
        clearTimeout(timer);
        this.gateway.off('dispatch', onDispatch);
        resolve(e);
      };
      const timer = setTimeout(() => {
        this.gateway.off('dispatch', onDispatch);
        reject(new Error(`local-discord: no ${t} dispatch within ${timeoutMs} ms`));
      }, timeoutMs);
      this.gateway.on('dispatch', onDispatch);
    });
  }

  // ----- failures and gateway control ---------------------------------------------------------

  /**
   * Answers the next matching request(s) with an error instead of handling them, e.g.
   * `failNext({ method: 'POST', pathPattern: '/webhooks/:id/:token', status: 429, retryAfter: 0.3 })` or
   * `failNext({ method: 'POST', pathPattern: '/webhooks/:id/:token', status: 404, code: 10015 })`.
   */
  failNext(rule: FailRule): void {
    this.http.failNext(rule);
  }

  /** failNext rules not yet consumed. */
  get pendingFailures(): number {
    return this.http.pendingFailures;
  }

  /** Closes the gateway socket(s) with `code` (4000: client resumes; 4014: disallowed intents, fatal). */
  closeGateway(code: number, reason = ''): void {
    this.gateway.close(code, reason);
  }

  /** Intents of the latest IDENTIFY. */
  get identifiedIntents(): number | undefined {
    return this.gateway.intents;
  }

  // ----- world setup --------------------------------------------------------------------------

  /** Adds a guild from a spec (before or after start; after start the bot gets GUILD_CREATE). */
  addGuild(spec: GuildSpec): GuildIds {
    const s = this.state;
    const guildId = spec.id ?? s.ids.next();
    const ids: GuildIds = { id: guildId, channels: {}, roles: {}, users: {} };
    s.roles.set(guildId, { id: guildId, guildId, name: '@everyone', permissions: toPermissions(spec.everyonePermissions, toPermissions(DEFAULT_EVERYONE_PERMISSIONS)), position: 0, managed: false });
    ids.roles['@everyone'] = guildId;
    (spec.roles ?? []).forEach((r, i) => {
      const id = r.id ?? s.ids.next();
      s.roles.set(id, { id, guildId, name: r.name, permissions: toPermissions(r.permissions), position: i + 1, managed: false });
      ids.roles[r.name] = id;
    });
    const botRoleId = s.ids.next();
    s.roles.set(botRoleId, {
      id: botRoleId,
      guildId,
      name: s.botUser.username,
      permissions: toPermissions(spec.botPermissions, toPermissions(DEFAULT_BOT_PERMISSIONS)),
      position: (spec.roles ?? []).length + 1,
      managed: true,
    });
    ids.roles[s.botUser.username] = botRoleId;
    const roleRef = (ref: string) => ids.roles[ref] ?? (s.roles.get(ref)?.guildId === guildId ? ref : undefined);
    const joinedAt = new Date().toISOString();

    const addMember = (user: User, roleIds: string[], nick: string | null = null) => {
      s.members.set(`${guildId}:${user.id}`, { guildId, userId: user.id, roleIds, nick, joinedAt });
      ids.users[user.username] = user.id;
    };
    let ownerId: string | undefined;
    for (const m of spec.members ?? []) {
      const user = (m.id ? s.users.get(m.id) : undefined) ?? s.userByName(m.username) ?? s.addUser({ id: m.id, username: m.username, bot: m.bot });
      const roleIds = (m.roles ?? []).map((r) => {
        const id = roleRef(r);
        if (!id) throw new Error(`local-discord: member ${m.username} has unknown role ${r}`);
        return id;
      });
      addMember(user, roleIds, m.nick ?? null);
      if (m.owner) ownerId = user.id;
    }
    if (!ownerId) {
      const owner = s.userByName('owner') ?? s.addUser({ username: 'owner' });
      addMember(owner, []);
      ownerId = owner.id;
    }
    addMember(s.botUser, [botRoleId]);
    const guild: Guild = { id: guildId, name: spec.name ?? 'Local Guild', ownerId, botPresent: !spec.botAbsent, joinedAt };
    s.guilds.set(guildId, guild);

    for (const c of spec.channels ?? []) ids.channels[c.name] = this.addChannelToState(guildId, c, ids).id;
    if (guild.botPresent) this.gateway.dispatch('GUILD_CREATE', s.guildCreatePayload(guild));
    return ids;
  }

  private addChannelToState(guildId: string, c: ChannelSpec, ids: GuildIds): Channel {
    const s = this.state;
    const kinds: Record<ChannelKind, ChannelType> = {
      text: ChannelType.GuildText,
      voice: ChannelType.GuildVoice,
      category: ChannelType.GuildCategory,
      announcement: ChannelType.GuildAnnouncement,
      forum: ChannelType.GuildForum,
      thread: ChannelType.PublicThread,
      'private-thread': ChannelType.PrivateThread,
    };
    const type = typeof c.type === 'number' ? c.type : kinds[c.type ?? 'text'];
    const parentId = c.parent ? (ids.channels[c.parent] ?? c.parent) : null;
    const overwrites: Overwrite[] = (c.overwrites ?? []).map((o) => {
      if (o.role) {
        const id = o.role === '@everyone' ? guildId : (ids.roles[o.role] ?? o.role);
        return { id, type: 0, allow: toPermissions(o.allow), deny: toPermissions(o.deny) };
      }
      const id = ids.users[o.user ?? ''] ?? o.user ?? '';
      return { id, type: 1, allow: toPermissions(o.allow), deny: toPermissions(o.deny) };
    });
    const isThread = type === ChannelType.PublicThread || type === ChannelType.PrivateThread || type === ChannelType.AnnouncementThread;
    if (isThread && !parentId) throw new Error(`local-discord: thread ${c.name} needs a parent`);
    const now = new Date().toISOString();
    return s.newChannel({
      id: c.id,
      type,
      guildId,
      name: c.name,
      parentId,
      nsfw: isThread && parentId ? (s.channels.get(parentId)?.nsfw ?? false) : (c.nsfw ?? false),
      topic: c.topic ?? null,
      overwrites,
      ownerId: isThread ? s.botUserId : null,
      thread: isThread ? { archived: c.archived ?? false, locked: c.locked ?? false, autoArchiveDuration: 4320, archiveTimestamp: now, createTimestamp: now } : null,
    });
  }

  /** Creates a channel or thread in a guild and dispatches CHANNEL_CREATE / THREAD_CREATE. */
  createChannel(guildId: string, spec: ChannelSpec): Channel {
    const ids = this.guildIdMap.find((g) => g.id === guildId) ?? { id: guildId, channels: {}, roles: {}, users: {} };
    const ch = this.addChannelToState(guildId, spec, ids);
    ids.channels[spec.name] = ch.id;
    this.gateway.dispatch(this.state.isThread(ch) ? 'THREAD_CREATE' : 'CHANNEL_CREATE', this.state.apiChannel(ch));
    return ch;
  }

  /** Someone deletes a channel or thread in Discord's UI: CHANNEL_DELETE / THREAD_DELETE, as the REST route sends them. */
  deleteChannel(channelId: string): void {
    const ch = this.state.mustChannel(channelId);
    this.state.channels.delete(ch.id);
    if (this.state.isThread(ch)) this.gateway.dispatch('THREAD_DELETE', { id: ch.id, guild_id: ch.guildId, parent_id: ch.parentId, type: ch.type });
    else this.gateway.dispatch('CHANNEL_DELETE', this.state.apiChannel(ch));
  }

  /** Adds a user to a guild (GUILD_MEMBER_ADD, which needs the Guild Members intent). */
  addMember(guildId: string, spec: MemberSpec): User {
    const s = this.state;
    const ids = this.guildIdMap.find((g) => g.id === guildId);
    const user = (spec.id ? s.users.get(spec.id) : undefined) ?? s.userByName(spec.username) ?? s.addUser({ id: spec.id, username: spec.username, bot: spec.bot });
    const roleIds = (spec.roles ?? []).map((r) => ids?.roles[r] ?? r);
    s.members.set(`${guildId}:${user.id}`, { guildId, userId: user.id, roleIds, nick: spec.nick ?? null, joinedAt: new Date().toISOString() });
    if (ids) ids.users[user.username] = user.id;
    const member = s.member(guildId, user.id);
    if (member) this.gateway.dispatch('GUILD_MEMBER_ADD', { ...s.apiMember(member), guild_id: guildId });
    return user;
  }

  /** The bot is kicked or leaves: GUILD_DELETE without `unavailable` (discord.js emits guildDelete). */
  removeBotFromGuild(guildId: string): void {
    const g = this.state.guilds.get(guildId);
    if (!g) throw new Error(`local-discord: no guild ${guildId}`);
    g.botPresent = false;
    this.gateway.dispatch('GUILD_DELETE', { id: guildId });
  }

  /** The bot joins (again): GUILD_CREATE. */
  addBotToGuild(guildId: string): void {
    const g = this.state.guilds.get(guildId);
    if (!g) throw new Error(`local-discord: no guild ${guildId}`);
    g.botPresent = true;
    g.joinedAt = new Date().toISOString();
    this.gateway.dispatch('GUILD_CREATE', this.state.guildCreatePayload(g));
  }

  /** Someone deletes the webhook in Discord's UI: later executes get 10015 Unknown Webhook. */
  removeWebhook(webhookId: string): void {
    const w = this.state.webhooks.get(webhookId);
    if (!w) throw new Error(`local-discord: no webhook ${webhookId}`);
    this.state.webhooks.delete(webhookId);
    this.state.deletedWebhooks.set(webhookId, w);
    this.gateway.dispatch('WEBHOOKS_UPDATE', { guild_id: w.guildId, channel_id: w.channelId });
  }

  // ----- users acting -------------------------------------------------------------------------

  private requireMember(channel: Channel, userId: string): void {
    if (!this.state.users.has(userId)) throw new Error(`local-discord: no user ${userId}`);
    if (channel.guildId && !this.state.member(channel.guildId, userId)) throw new Error(`local-discord: user ${userId} is not in guild ${channel.guildId}`);
  }

  /** A user posts a message: MESSAGE_CREATE (with `member` in guilds). Returns the stored message. */
  userSendsMessage(o: UserMessageOptions): Message {
    const s = this.state;
    const channel = o.dm ? s.dmChannelWith(o.authorId) : s.mustChannel(o.channelId ?? '');
    this.requireMember(channel, o.authorId);
    const user = s.mustUser(o.authorId);
    if (channel.thread?.archived && !channel.thread.locked) this.ops.updateThread(channel, { archived: false });
    const files: UploadedFile[] = (o.attachments ?? []).map((a, i) => ({
      field: `files[${i}]`,
      filename: a.filename,
      contentType: a.contentType ?? null,
      data: typeof a.data === 'string' ? Buffer.from(a.data) : a.data,
    }));
    const mayPing = channel.guildId ? (s.permissions(channel.guildId, user.id, channel.id) & PermissionFlagsBits.MentionEveryone) !== 0n : false;
    return this.ops.createMessage(channel, {
      author: s.apiUser(user),
      authorIsMember: channel.guildId !== null,
      body: {
        content: o.content ?? '',
        embeds: o.embeds ?? [],
        ...(o.replyTo ? { message_reference: { message_id: o.replyTo, channel_id: channel.id } } : {}),
      },
      files,
      mayPingEveryone: mayPing,
    });
  }

  /** A user edits their message: MESSAGE_UPDATE with the full message and `edited_timestamp`. */
  userEditsMessage(o: { messageId: string; content: string }): Message {
    return this.ops.editMessage(this.state.mustMessage(o.messageId), { content: o.content });
  }

  /** A user (or a moderator) deletes a message: MESSAGE_DELETE. */
  userDeletesMessage(o: { messageId: string }): void {
    this.ops.deleteMessage(this.state.mustMessage(o.messageId));
  }

  /** A moderator purges messages of one channel (or a ban deletes a member's history): one MESSAGE_DELETE_BULK. */
  moderatorBulkDeletes(o: { messageIds: string[] }): void {
    const msgs = o.messageIds.map((id) => this.state.mustMessage(id));
    const { channelId, guildId } = msgs[0]!;
    if (msgs.some((m) => m.channelId !== channelId)) throw new Error('local-discord: a bulk delete is of one channel');
    for (const m of msgs) {
      this.state.messages.delete(m.id);
      this.state.deletedMessages.set(m.id, m);
    }
    this.gateway.dispatch('MESSAGE_DELETE_BULK', { ids: o.messageIds, channel_id: channelId, ...(guildId ? { guild_id: guildId } : {}) });
  }

  /** MESSAGE_REACTION_ADD (emoji: unicode such as '👍', or `name:id`). */
  userReacts(o: { messageId: string; userId: string; emoji: string }): void {
    const msg = this.state.mustMessage(o.messageId);
    this.requireMember(this.state.mustChannel(msg.channelId), o.userId);
    this.ops.addReaction(msg, o.userId, o.emoji);
  }

  /** MESSAGE_REACTION_REMOVE. */
  userRemovesReaction(o: { messageId: string; userId: string; emoji: string }): void {
    this.ops.removeReaction(this.state.mustMessage(o.messageId), o.userId, o.emoji);
  }

  // ----- interactions -------------------------------------------------------------------------

  private newInteraction(type: number, channelId: string, userId: string, data: Json, extra: { sourceMessage?: Message; locale?: string; resolved?: Json } = {}): InteractionHandle {
    const s = this.state;
    const channel = s.mustChannel(channelId);
    this.requireMember(channel, userId);
    const user = s.mustUser(userId);
    const id = s.ids.next();
    const token = `ix.${randomToken()}`;
    const guildId = channel.guildId;
    const member = guildId ? s.member(guildId, userId) : undefined;
    const memberPerms = guildId ? s.permissions(guildId, userId, channel.id) : 0n;
    const appPerms = guildId ? s.permissions(guildId, s.botUserId, channel.id) : 0n;
    const payload: Json = {
      id,
      application_id: this.applicationId,
      type,
      token,
      version: 1,
      data,
      channel_id: channel.id,
      channel: { ...s.apiChannel(channel), ...(guildId ? { permissions: memberPerms.toString() } : {}) },
      locale: extra.locale ?? 'en-US',
      app_permissions: appPerms.toString(),
      entitlements: [],
      authorizing_integration_owners: guildId ? { '0': guildId } : { '1': userId },
      context: guildId ? 0 : 1,
      attachment_size_limit: 10 * 1024 * 1024,
      ...(guildId && member
        ? {
            guild_id: guildId,
            guild: { id: guildId, locale: 'en-US', features: [] },
            guild_locale: 'en-US',
            member: { ...s.apiMember(member), permissions: memberPerms.toString() },
          }
        : { user: s.apiUser(user) }),
      ...(extra.sourceMessage ? { message: s.apiMessage(extra.sourceMessage) } : {}),
    };
    const record: Interaction = {
      id,
      token,
      type,
      applicationId: this.applicationId,
      guildId,
      channelId: channel.id,
      userId,
      createdAt: Date.now(),
      payload,
      sourceMessageId: extra.sourceMessage?.id ?? null,
      callbacks: [],
      originalMessageId: null,
      followUpIds: [],
      loading: false,
      expired: false,
    };
    s.interactions.set(id, record);
    this.gateway.dispatch('INTERACTION_CREATE', payload);
    return new InteractionHandle(this, record);
  }

  /** Builds `data` for a chat-input command from the registered definition (or raw options). */
  private commandData(o: CommandOptions, focused?: string): Json {
    const s = this.state;
    const channel = s.mustChannel(o.channelId);
    const cmd = s.findCommand(o.name, channel.guildId);
    if (!cmd && !o.unchecked) {
      throw new Error(`local-discord: no command /${o.name} is registered (globally or in guild ${channel.guildId}); register it first or pass unchecked: true`);
    }
    const dmp = cmd?.data.default_member_permissions;
    if (cmd && dmp != null && channel.guildId && !o.unchecked && !o.ignoreDefaultMemberPermissions) {
      const needed = BigInt(String(dmp));
      const perms = s.permissions(channel.guildId, o.userId, channel.id);
      const ok = needed === 0n ? (perms & PermissionFlagsBits.Administrator) !== 0n : (perms & needed) === needed;
      if (!ok) {
        throw new Error(
          `local-discord: user ${o.userId} lacks default_member_permissions ${needed} of /${o.name}, so Discord would not offer the command; ` +
            'pass ignoreDefaultMemberPermissions: true to simulate a server override',
        );
      }
    }
    let defs = asArr(cmd?.data.options).map(asObj);
    const path: Json[] = [];
    if (o.subcommandGroup) {
      const g = defs.find((d) => d.name === o.subcommandGroup && d.type === 2);
      if (!g && cmd && !o.unchecked) throw new Error(`local-discord: /${o.name} has no subcommand group ${o.subcommandGroup}`);
      defs = asArr(g?.options).map(asObj);
      path.push({ type: 2, name: o.subcommandGroup });
    }
    if (o.subcommand) {
      const sub = defs.find((d) => d.name === o.subcommand && d.type === 1);
      if (!sub && cmd && !o.unchecked) throw new Error(`local-discord: /${o.name} has no subcommand ${o.subcommand}`);
      defs = asArr(sub?.options).map(asObj);
      path.push({ type: 1, name: o.subcommand });
    } else if (cmd && !o.unchecked && defs.some((d) => d.type === 1 || d.type === 2)) {
      throw new Error(`local-discord: /${o.name} needs a subcommand`);
    }
    const resolved: Record<string, Record<string, Json>> = {};
    const addResolved = (kind: string, id: string, value: Json) => {
      resolved[kind] ??= {};
      (resolved[kind] as Record<string, Json>)[id] = value;
    };
    let options: Json[];
    if (Array.isArray(o.options)) options = o.options;
    else {
      const given = o.options ?? {};
      if (cmd && !o.unchecked) {
        for (const name of Object.keys(given)) {
          if (!defs.some((d) => d.name === name)) throw new Error(`local-discord: /${o.name}${o.subcommand ? ` ${o.subcommand}` : ''} has no option "${name}"`);
        }
        if (focused === undefined) {
          for (const d of defs) {
            if (d.required === true && !(String(d.name) in given)) throw new Error(`local-discord: /${o.name} option "${String(d.name)}" is required`);
          }
        }
      }
      options = Object.entries(given).map(([name, value]) => {
        const def = defs.find((d) => d.name === name);
        const type = typeof def?.type === 'number' ? def.type : inferType(value);
        const opt: Json = { name, type, value: this.optionValue(type, value, channel.guildId, addResolved) };
        if (name === focused) {
          opt.focused = true;
          opt.value = String(value);
        } else if (def && !o.unchecked && asArr(def.choices).length > 0) {
          if (!asArr(def.choices).some((c) => asObj(c).value === opt.value)) throw new Error(`local-discord: ${String(opt.value)} is not a choice of option "${name}"`);
        }
        return opt;
      });
    }
    let nested: Json[] = options;
    for (const level of [...path].reverse()) nested = [{ ...level, options: nested }];
    return {
      id: cmd?.id ?? s.ids.next(),
      name: o.name,
      type: 1,
      ...(cmd?.guildId ? { guild_id: cmd.guildId } : {}),
      options: nested,
      ...(Object.keys(resolved).length ? { resolved } : {}),
    };
  }

  private optionValue(type: number, value: OptionValue, guildId: string | null, addResolved: (kind: string, id: string, v: Json) => void): unknown {
    const s = this.state;
    if (type === 11 && typeof value === 'object') {
      const id = s.ids.next();
      const data = typeof value.data === 'string' ? Buffer.from(value.data) : value.data;
      addResolved('attachments', id, {
        id,
        filename: value.filename,
        size: data.length,
        url: `${this.baseUrl}/attachments/options/${id}/${encodeURIComponent(value.filename)}`,
        proxy_url: `${this.baseUrl}/attachments/options/${id}/${encodeURIComponent(value.filename)}`,
        ...(value.contentType ? { content_type: value.contentType } : {}),
      });
      return id;
    }
    if (typeof value === 'object') throw new Error('local-discord: object option values are only for attachment options');
    if (type === 4) return Math.trunc(Number(value));
    if (type === 10) return Number(value);
    if (type === 5) return value === true || value === 'true';
    if (type === 6 || type === 9) {
      const id = String(value);
      const u = s.users.get(id);
      if (u) {
        addResolved('users', id, s.apiUser(u));
        const m = guildId ? s.member(guildId, id) : undefined;
        if (m) addResolved('members', id, { ...s.apiMember(m, false), permissions: s.permissions(m.guildId, id).toString() });
        return id;
      }
      const r = s.roles.get(id);
      if (r) addResolved('roles', id, s.apiRole(r));
      return id;
    }
    if (type === 7) {
      const id = String(value);
      const ch = s.channels.get(id);
      if (ch) addResolved('channels', id, { ...s.apiChannel(ch), permissions: guildId ? s.permissions(guildId, s.botUserId, id).toString() : '0' });
      return id;
    }
    if (type === 8) {
      const id = String(value);
      const r = s.roles.get(id);
      if (r) addResolved('roles', id, s.apiRole(r));
      return id;
    }
    return String(value);
  }

  /** A user runs a slash command: INTERACTION_CREATE type 2 (member permissions as a string bitfield). */
  userRunsCommand(o: CommandOptions): InteractionHandle {
    return this.newInteraction(2, o.channelId, o.userId, this.commandData(o), { locale: o.locale });
  }

  /** A user types into an autocomplete option: INTERACTION_CREATE type 4; resolves with the choices the bot returns. */
  async userAutocompletes(o: CommandOptions & { focused: string }): Promise<Array<{ name: string; value: string | number }>> {
    const handle = this.newInteraction(4, o.channelId, o.userId, this.commandData(o, o.focused), { locale: o.locale });
    const cb = await handle.response();
    return asArr(cb.data.choices).map((c) => asObj(c) as { name: string; value: string | number });
  }

  /** A user clicks a button on a message: INTERACTION_CREATE type 3 with the full message. */
  userClicksButton(o: ComponentOptions): InteractionHandle {
    return this.component(o, 2);
  }

  /** A user picks values in a select menu: INTERACTION_CREATE type 3 (component type from the message). */
  userSelects(o: ComponentOptions & { values: string[] }): InteractionHandle {
    return this.component(o, 3);
  }

  private component(o: ComponentOptions, fallbackType: number): InteractionHandle {
    const msg = this.state.mustMessage(o.messageId);
    const comp = findComponent(msg.components, o.customId);
    if (!comp && !o.unchecked) throw new Error(`local-discord: message ${msg.id} has no component with custom_id "${o.customId}"`);
    if (comp && comp.disabled === true && !o.unchecked) throw new Error(`local-discord: component "${o.customId}" is disabled`);
    const componentType = typeof comp?.type === 'number' ? comp.type : fallbackType;
    const data: Json = { custom_id: o.customId, component_type: componentType, ...(o.values ? { values: o.values } : {}) };
    return this.newInteraction(3, msg.channelId, o.userId, data, { sourceMessage: msg });
  }

  /** A user submits a modal: INTERACTION_CREATE type 5 with text inputs in action rows. */
  userSubmitsModal(o: ModalOptions): InteractionHandle {
    const modalCb = o.from?.record.callbacks.find((c) => c.type === 9);
    const customId = o.customId ?? (modalCb ? String(modalCb.data.custom_id) : undefined);
    if (!customId) throw new Error('local-discord: userSubmitsModal needs customId or from (an interaction answered with a modal)');
    const userId = o.userId ?? o.from?.record.userId;
    const channelId = o.channelId ?? o.from?.record.channelId;
    if (!userId || !channelId) throw new Error('local-discord: userSubmitsModal needs userId and channelId (or from)');
    const data: Json = {
      custom_id: customId,
      components: Object.entries(o.fields).map(([id, value]) => ({ type: 1, components: [{ type: 4, custom_id: id, value }] })),
    };
    const source = o.from?.record.sourceMessageId ? this.state.messages.get(o.from.record.sourceMessageId) : undefined;
    return this.newInteraction(5, channelId, userId, data, { sourceMessage: source });
  }
}

function inferType(value: OptionValue): number {
  if (typeof value === 'boolean') return 5;
  if (typeof value === 'number') return Number.isInteger(value) ? 4 : 10;
  if (typeof value === 'object') return 11;
  return 3;
}

function findComponent(components: unknown[], customId: string): Json | undefined {
  for (const raw of components) {
    const c = asObj(raw);
    if (c.custom_id === customId) return c;
    const inner = findComponent([...asArr(c.components), ...(c.component ? [c.component] : []), ...(c.accessory ? [c.accessory] : [])], customId);
    if (inner) return inner;
  }
  return undefined;
}

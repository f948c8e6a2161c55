/**
 * The local Discord's world: users, guilds, roles, members, channels (threads included), messages,
 * webhooks, application commands and interactions, plus the serialisers that turn them into the
 * JSON shapes Discord's REST API and gateway use. Plain maps, mutated by the REST handlers and by the
 * test injection API; nothing here talks to the network.
 */
import { ChannelType, PermissionFlagsBits } from 'discord.js';
import type { Json } from './errors.js';

export type PermissionName = keyof typeof PermissionFlagsBits;
/** A bigint, a decimal string, or a list of permission names such as `['ManageGuild', 'ViewChannel']`. */
export type PermissionSpec = bigint | string | readonly PermissionName[];

export const ALL_PERMISSIONS = Object.values(PermissionFlagsBits).reduce((a, b) => a | b, 0n);

export function toPermissions(spec: PermissionSpec | undefined, fallback = 0n): bigint {
  if (spec === undefined) return fallback;
  if (typeof spec === 'bigint') return spec;
  if (typeof spec === 'string') return BigInt(spec);
  return spec.reduce((acc, name) => {
    const bit = PermissionFlagsBits[name];
    if (bit === undefined) throw new Error(`local-discord: unknown permission name ${String(name)}`);
    return acc | bit;
  }, 0n);
}

const DISCORD_EPOCH = 1420070400000n;

/** Real-looking snowflakes (timestamp in the top bits), strictly increasing. */
export class Snowflakes {
  private last = 0n;
  next(at = Date.now()): string {
    let id = (BigInt(at) - DISCORD_EPOCH) << 22n;
    if (id <= this.last) id = this.last + 1n;
    this.last = id;
    return id.toString();
  }
}

export interface User {
  id: string;
  username: string;
  globalName: string | null;
  bot: boolean;
  avatar: string | null;
}

export interface Role {
  id: string;
  guildId: string;
  name: string;
  permissions: bigint;
  position: number;
  managed: boolean;
}

export interface Member {
  guildId: string;
  userId: string;
  roleIds: string[];
  nick: string | null;
  joinedAt: string;
}

export interface Overwrite {
  id: string;
  /** 0 role, 1 member */
  type: 0 | 1;
  allow: bigint;
  deny: bigint;
}

export interface ThreadMeta {
  archived: boolean;
  locked: boolean;
  autoArchiveDuration: number;
  archiveTimestamp: string;
  createTimestamp: string;
  invitable?: boolean;
}

export interface Channel {
  id: string;
  type: ChannelType;
  guildId: string | null;
  name: string | null;
  parentId: string | null;
  /** Age-restricted. Threads take their parent's value (Discord sends no nsfw on threads; see `isNsfw`). */
  nsfw: boolean;
  topic: string | null;
  position: number;
  overwrites: Overwrite[];
  lastMessageId: string | null;
  rateLimitPerUser: number;
  /** DM channels: the other user's id. */
  recipientIds: string[];
  /** Threads only. */
  ownerId: string | null;
  thread: ThreadMeta | null;
  messageCount: number;
  totalMessageSent: number;
  memberIds: Set<string>;
}

export interface Attachment {
  id: string;
  filename: string;
  size: number;
  contentType: string | null;
  description: string | null;
  url: string;
  data: Buffer;
}

export interface Reaction {
  emoji: { id: string | null; name: string; animated?: boolean };
  userIds: Set<string>;
}

export interface Message {
  id: string;
  channelId: string;
  guildId: string | null;
  /** Serialised author (user object; for webhook messages the webhook's name/override). */
  author: Json;
  /** Author is a guild member (user messages): the gateway payload then carries `member`. */
  authorIsMember: boolean;
  content: string;
  embeds: unknown[];
  components: unknown[];
  attachments: Attachment[];
  flags: number;
  type: number;
  tts: boolean;
  timestamp: string;
  editedTimestamp: string | null;
  webhookId: string | null;
  applicationId: string | null;
  interactionMetadata: Json | null;
  messageReference: Json | null;
  mentionUserIds: string[];
  mentionRoleIds: string[];
  mentionEveryone: boolean;
  /** `allowed_mentions` exactly as the sender sent it (undefined when absent). */
  allowedMentions: unknown;
  reactions: Map<string, Reaction>;
  /** The thread started from this message. */
  threadId: string | null;
  /** Webhook executes: the per-message `avatar_url` override. */
  avatarUrl: string | null;
  pinned: boolean;
  poll: unknown;
}

export interface Webhook {
  id: string;
  token: string;
  type: 1;
  guildId: string;
  channelId: string;
  name: string;
  avatar: string | null;
  applicationId: string | null;
  creatorId: string;
}

export interface Command {
  id: string;
  applicationId: string;
  guildId: string | null;
  version: string;
  /** The registered definition as sent (name, description, options, type, default_member_permissions, …). */
  data: Json;
}

export interface InteractionCallback {
  type: number;
  data: Json;
  at: number;
}

export interface Interaction {
  id: string;
  token: string;
  type: number;
  applicationId: string;
  guildId: string | null;
  channelId: string;
  userId: string;
  createdAt: number;
  /** The INTERACTION_CREATE payload that was dispatched. */
  payload: Json;
  /** Component interactions: the message the component is on. */
  sourceMessageId: string | null;
  callbacks: InteractionCallback[];
  /** The message `@original` refers to. */
  originalMessageId: string | null;
  followUpIds: string[];
  /** Deferred with type 5 and not yet edited: the first follow-up fills this message. */
  loading: boolean;
  expired: boolean;
}

export interface Guild {
  id: string;
  name: string;
  ownerId: string;
  /** False after `removeBotFromGuild`: the guild is kept for inspection but absent from READY and REST. */
  botPresent: boolean;
  joinedAt: string;
}

export class DiscordState {
  readonly ids = new Snowflakes();
  readonly users = new Map<string, User>();
  readonly guilds = new Map<string, Guild>();
  readonly roles = new Map<string, Role>();
  /** key `${guildId}:${userId}` */
  readonly members = new Map<string, Member>();
  readonly channels = new Map<string, Channel>();
  readonly messages = new Map<string, Message>();
  /** Messages deleted through REST or `userDeletesMessage`, kept for assertions. */
  readonly deletedMessages = new Map<string, Message>();
  readonly webhooks = new Map<string, Webhook>();
  readonly deletedWebhooks = new Map<string, Webhook>();
  readonly commands = new Map<string, Command>();
  readonly interactions = new Map<string, Interaction>();

  constructor(
    readonly botUserId: string,
    readonly applicationId: string,
    /** Base for attachment URLs (`http://127.0.0.1:PORT`). */
    public baseUrl = '',
  ) {}

  // ----- lookups ------------------------------------------------------------------------------

  get botUser(): User {
    return this.mustUser(this.botUserId);
  }
  mustUser(id: string): User {
    const u = this.users.get(id);
    if (!u) throw new Error(`local-discord: no user ${id}`);
    return u;
  }
  mustChannel(id: string): Channel {
    const c = this.channels.get(id);
    if (!c) throw new Error(`local-discord: no channel ${id}`);
    return c;
  }
  mustMessage(id: string): Message {
    const m = this.messages.get(id);
    if (!m) throw new Error(`local-discord: no message ${id}`);
    return m;
  }
  member(guildId: string, userId: string): Member | undefined {
    return this.members.get(`${guildId}:${userId}`);
  }
  guildMembers(guildId: string): Member[] {
    return [...this.members.values()].filter((m) => m.guildId === guildId);
  }
  guildChannels(guildId: string): Channel[] {
    return [...this.channels.values()].filter((c) => c.guildId === guildId);
  }
  guildRoles(guildId: string): Role[] {
    return [...this.roles.values()].filter((r) => r.guildId === guildId).sort((a, b) => a.position - b.position);
  }
  /** First channel with this name (any guild). */
  channelByName(name: string, guildId?: string): Channel | undefined {
    return [...this.channels.values()].find((c) => c.name === name && (guildId === undefined || c.guildId === guildId));
  }
  userByName(username: string): User | undefined {
    return [...this.users.values()].find((u) => u.username === username);
  }
  isThread(c: Channel): boolean {
    return c.type === ChannelType.PublicThread || c.type === ChannelType.PrivateThread || c.type === ChannelType.AnnouncementThread;
  }
  /** Age restriction as Discord applies it: threads follow their parent. */
  isNsfw(c: Channel): boolean {
    if (this.isThread(c) && c.parentId) {
      const parent = this.channels.get(c.parentId);
      if (parent) return parent.nsfw;
    }
    return c.nsfw;
  }
  threadsOf(channelId: string): Channel[] {
    return [...this.channels.values()].filter((c) => this.isThread(c) && c.parentId === channelId);
  }
  channelMessages(channelId: string): Message[] {
    return [...this.messages.values()].filter((m) => m.channelId === channelId);
  }
  dmChannelWith(userId: string): Channel {
    const existing = [...this.channels.values()].find((c) => c.type === ChannelType.DM && c.recipientIds.includes(userId));
    if (existing) return existing;
    const ch = this.newChannel({ type: ChannelType.DM, guildId: null, name: null });
    ch.recipientIds = [userId];
    return ch;
  }

  // ----- creation -----------------------------------------------------------------------------

  addUser(spec: { id?: string; username: string; bot?: boolean; globalName?: string | null }): User {
    const user: User = {
      id: spec.id ?? this.ids.next(),
      username: spec.username,
      globalName: spec.globalName ?? null,
      bot: spec.bot ?? false,
      avatar: null,
    };
    this.users.set(user.id, user);
    return user;
  }

  newChannel(spec: Partial<Channel> & { type: ChannelType; guildId: string | null; name: string | null }): Channel {
    const ch: Channel = {
      id: spec.id ?? this.ids.next(),
      type: spec.type,
      guildId: spec.guildId,
      name: spec.name,
      parentId: spec.parentId ?? null,
      nsfw: spec.nsfw ?? false,
      topic: spec.topic ?? null,
      position: spec.position ?? this.channels.size,
      overwrites: spec.overwrites ?? [],
      lastMessageId: null,
      rateLimitPerUser: spec.rateLimitPerUser ?? 0,
      recipientIds: spec.recipientIds ?? [],
      ownerId: spec.ownerId ?? null,
      thread: spec.thread ?? null,
      messageCount: 0,
      totalMessageSent: 0,
      memberIds: spec.memberIds ?? new Set(),
    };
    this.channels.set(ch.id, ch);
    return ch;
  }

  newMessage(spec: Partial<Message> & { channelId: string; author: Json }): Message {
    const ch = this.mustChannel(spec.channelId);
    const id = spec.id ?? this.ids.next();
    const msg: Message = {
      id,
      channelId: ch.id,
      guildId: ch.guildId,
      author: spec.author,
      authorIsMember: spec.authorIsMember ?? false,
      content: spec.content ?? '',
      embeds: spec.embeds ?? [],
      components: spec.components ?? [],
      attachments: spec.attachments ?? [],
      flags: spec.flags ?? 0,
      type: spec.type ?? 0,
      tts: spec.tts ?? false,
      timestamp: spec.timestamp ?? new Date().toISOString(),
      editedTimestamp: null,
      webhookId: spec.webhookId ?? null,
      applicationId: spec.applicationId ?? null,
      interactionMetadata: spec.interactionMetadata ?? null,
      messageReference: spec.messageReference ?? null,
      mentionUserIds: spec.mentionUserIds ?? [],
      mentionRoleIds: spec.mentionRoleIds ?? [],
      mentionEveryone: spec.mentionEveryone ?? false,
      allowedMentions: spec.allowedMentions,
      reactions: new Map(),
      threadId: null,
      avatarUrl: spec.avatarUrl ?? null,
      pinned: false,
      poll: spec.poll ?? null,
    };
    this.messages.set(id, msg);
    if ((msg.flags & 64) === 0) {
      ch.lastMessageId = id;
      if (this.isThread(ch)) {
        ch.messageCount++;
        ch.totalMessageSent++;
      }
    }
    return msg;
  }

  // ----- permissions --------------------------------------------------------------------------

  /** Discord's permission algorithm: owner/Administrator → all; roles; then channel overwrites (threads use the parent's). */
  permissions(guildId: string, userId: string, channelId?: string): bigint {
    const guild = this.guilds.get(guildId);
    const member = this.member(guildId, userId);
    if (!guild || !member) return 0n;
    if (guild.ownerId === userId) return ALL_PERMISSIONS;
    const everyone = this.roles.get(guildId);
    let perms = everyone?.permissions ?? 0n;
    for (const rid of member.roleIds) perms |= this.roles.get(rid)?.permissions ?? 0n;
    if (perms & PermissionFlagsBits.Administrator) return ALL_PERMISSIONS;
    if (!channelId) return perms;
    let ch = this.channels.get(channelId);
    if (ch && this.isThread(ch) && ch.parentId) ch = this.channels.get(ch.parentId);
    if (!ch) return perms;
    const ow = (id: string) => ch.overwrites.find((o) => o.id === id);
    const e = ow(guildId);
    if (e) perms = (perms & ~e.deny) | e.allow;
    let allow = 0n;
    let deny = 0n;
    for (const rid of member.roleIds) {
      const o = ow(rid);
      if (o) {
        allow |= o.allow;
        deny |= o.deny;
      }
    }
    perms = (perms & ~deny) | allow;
    const m = ch.overwrites.find((o) => o.type === 1 && o.id === userId);
    if (m) perms = (perms & ~m.deny) | m.allow;
    if (!(perms & PermissionFlagsBits.ViewChannel)) return 0n;
    return perms;
  }

  // ----- serialisers (Discord API JSON) -------------------------------------------------------

  apiUser(u: User): Json {
    return {
      id: u.id,
      username: u.username,
      global_name: u.globalName,
      discriminator: '0',
      avatar: u.avatar,
      ...(u.bot ? { bot: true } : {}),
      public_flags: 0,
      flags: 0,
    };
  }

  apiRole(r: Role): Json {
    return {
      id: r.id,
      name: r.name,
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      icon: null,
      unicode_emoji: null,
      position: r.position,
      permissions: r.permissions.toString(),
      managed: r.managed,
      mentionable: false,
      flags: 0,
      ...(r.managed ? { tags: { bot_id: this.botUserId } } : {}),
    };
  }

  /** Guild member; `withUser` false for the partial member inside MESSAGE_CREATE. */
  apiMember(m: Member, withUser = true): Json {
    return {
      ...(withUser ? { user: this.apiUser(this.mustUser(m.userId)) } : {}),
      nick: m.nick,
      avatar: null,
      banner: null,
      roles: [...m.roleIds],
      joined_at: m.joinedAt,
      premium_since: null,
      deaf: false,
      mute: false,
      flags: 0,
      pending: false,
      communication_disabled_until: null,
    };
  }

  apiChannel(c: Channel): Json {
    if (c.type === ChannelType.DM) {
      return {
        id: c.id,
        type: c.type,
        last_message_id: c.lastMessageId,
        flags: 0,
        recipients: c.recipientIds.map((id) => this.apiUser(this.mustUser(id))),
      };
    }
    const base: Json = {
      id: c.id,
      type: c.type,
      guild_id: c.guildId,
      name: c.name,
      parent_id: c.parentId,
      last_message_id: c.lastMessageId,
      rate_limit_per_user: c.rateLimitPerUser,
      flags: 0,
    };
    if (this.isThread(c) && c.thread) {
      return {
        ...base,
        owner_id: c.ownerId,
        message_count: c.messageCount,
        member_count: c.memberIds.size,
        total_message_sent: c.totalMessageSent,
        thread_metadata: {
          archived: c.thread.archived,
          auto_archive_duration: c.thread.autoArchiveDuration,
          archive_timestamp: c.thread.archiveTimestamp,
          locked: c.thread.locked,
          create_timestamp: c.thread.createTimestamp,
          ...(c.thread.invitable !== undefined ? { invitable: c.thread.invitable } : {}),
        },
        applied_tags: [],
      };
    }
    return {
      ...base,
      position: c.position,
      permission_overwrites: c.overwrites.map((o) => ({ id: o.id, type: o.type, allow: o.allow.toString(), deny: o.deny.toString() })),
      nsfw: c.nsfw,
      topic: c.topic,
      default_auto_archive_duration: 4320,
    };
  }

  apiGuild(g: Guild): Json {
    return {
      id: g.id,
      name: g.name,
      icon: null,
      splash: null,
      discovery_splash: null,
      banner: null,
      description: null,
      owner_id: g.ownerId,
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      mfa_level: 0,
      nsfw_level: 0,
      premium_tier: 0,
      premium_subscription_count: 0,
      premium_progress_bar_enabled: false,
      system_channel_id: null,
      system_channel_flags: 0,
      rules_channel_id: null,
      public_updates_channel_id: null,
      safety_alerts_channel_id: null,
      preferred_locale: 'en-US',
      features: [],
      roles: this.guildRoles(g.id).map((r) => this.apiRole(r)),
      emojis: [],
      stickers: [],
      application_id: null,
      vanity_url_code: null,
      max_members: 500000,
      max_video_channel_users: 25,
    };
  }

  /** The GUILD_CREATE payload: guild plus channels, active threads, members and the other gateway-only fields. */
  guildCreatePayload(g: Guild): Json {
    const channels = this.guildChannels(g.id);
    const members = this.guildMembers(g.id);
    return {
      ...this.apiGuild(g),
      joined_at: g.joinedAt,
      large: false,
      unavailable: false,
      member_count: members.length,
      voice_states: [],
      members: members.map((m) => this.apiMember(m)),
      channels: channels.filter((c) => !this.isThread(c)).map((c) => this.apiChannel(c)),
      threads: channels.filter((c) => this.isThread(c) && !c.thread?.archived).map((c) => this.apiChannel(c)),
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
      embedded_activities: [],
      lazy: true,
    };
  }

  apiAttachment(a: Attachment): Json {
    return {
      id: a.id,
      filename: a.filename,
      size: a.size,
      url: a.url,
      proxy_url: a.url,
      ...(a.contentType ? { content_type: a.contentType } : {}),
      ...(a.description ? { description: a.description } : {}),
    };
  }

  apiMessage(m: Message): Json {
    const out: Json = {
      id: m.id,
      type: m.type,
      channel_id: m.channelId,
      author: m.author,
      content: m.content,
      timestamp: m.timestamp,
      edited_timestamp: m.editedTimestamp,
      tts: m.tts,
      mention_everyone: m.mentionEveryone,
      mentions: m.mentionUserIds.flatMap((id) => {
        const u = this.users.get(id);
        return u ? [this.apiUser(u)] : [];
      }),
      mention_roles: [...m.mentionRoleIds],
      attachments: m.attachments.map((a) => this.apiAttachment(a)),
      embeds: m.embeds,
      components: m.components,
      pinned: m.pinned,
      flags: m.flags,
    };
    if (m.reactions.size > 0) {
      out.reactions = [...m.reactions.values()].map((r) => ({
        emoji: r.emoji,
        count: r.userIds.size,
        count_details: { burst: 0, normal: r.userIds.size },
        burst_colors: [],
        me: r.userIds.has(this.botUserId),
        me_burst: false,
      }));
    }
    if (m.webhookId) out.webhook_id = m.webhookId;
    if (m.applicationId) out.application_id = m.applicationId;
    if (m.interactionMetadata) out.interaction_metadata = m.interactionMetadata;
    if (m.messageReference) out.message_reference = m.messageReference;
    if (m.poll) out.poll = m.poll;
    if (m.threadId) {
      const t = this.channels.get(m.threadId);
      if (t) out.thread = this.apiChannel(t);
    }
    const ch = this.channels.get(m.channelId);
    if (ch && this.isThread(ch)) out.position = ch.totalMessageSent;
    return out;
  }

  /** MESSAGE_CREATE/UPDATE payload: the message plus guild_id, channel_type and (for members) `member`. */
  gatewayMessage(m: Message): Json {
    const out = this.apiMessage(m);
    const ch = this.channels.get(m.channelId);
    if (ch) out.channel_type = ch.type;
    if (m.guildId) {
      out.guild_id = m.guildId;
      const authorId = typeof m.author.id === 'string' ? m.author.id : '';
      const member = m.authorIsMember ? this.member(m.guildId, authorId) : undefined;
      if (member) out.member = this.apiMember(member, false);
      out.mentions = m.mentionUserIds.flatMap((id) => {
        const u = this.users.get(id);
        if (!u) return [];
        const mm = this.member(m.guildId as string, id);
        return [{ ...this.apiUser(u), ...(mm ? { member: this.apiMember(mm, false) } : {}) }];
      });
    }
    return out;
  }

  apiWebhook(w: Webhook, withToken: boolean): Json {
    return {
      id: w.id,
      type: w.type,
      guild_id: w.guildId,
      channel_id: w.channelId,
      name: w.name,
      avatar: w.avatar,
      application_id: w.applicationId,
      user: this.apiUser(this.mustUser(w.creatorId)),
      ...(withToken ? { token: w.token, url: `${this.baseUrl}/api/webhooks/${w.id}/${w.token}` } : {}),
    };
  }

  apiCommand(c: Command): Json {
    return {
      type: 1,
      description: '',
      ...c.data,
      id: c.id,
      application_id: c.applicationId,
      version: c.version,
      ...(c.guildId ? { guild_id: c.guildId } : {}),
      default_member_permissions: c.data.default_member_permissions ?? null,
      nsfw: c.data.nsfw ?? false,
    };
  }

  /** Finds a registered chat-input command, the guild's own first. */
  findCommand(name: string, guildId: string | null, type = 1): Command | undefined {
    const all = [...this.commands.values()].filter((c) => c.data.name === name && (c.data.type ?? 1) === type);
    return all.find((c) => guildId !== null && c.guildId === guildId) ?? all.find((c) => c.guildId === null);
  }
}

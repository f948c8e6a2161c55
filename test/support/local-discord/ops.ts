/**
 * Domain operations shared by the REST handlers and the test injection API: creating, editing and
 * deleting messages (with attachments and mentions), reactions, threads, webhook executes and the
 * interaction response lifecycle. Every operation updates the state and emits the gateway dispatch
 * Discord would send (ephemeral messages are never dispatched).
 */
import { ChannelType, PermissionFlagsBits } from 'discord.js';
import type { Json } from './errors.js';
import { asArr, asObj, discordError, DiscordHttpError, invalidForm, isEmptyMessage, optStr, validateMessageBody } from './errors.js';
import type { Gateway } from './gateway.js';
import type { Attachment, Channel, DiscordState, Interaction, Message, Webhook } from './state.js';

export interface UploadedFile {
  /** Multipart field name, e.g. `files[0]`. */
  field: string;
  filename: string;
  contentType: string | null;
  data: Buffer;
}

export interface OpsConfig {
  /** Interactions must be acknowledged within this many ms (Discord: 3 s), else 10062 Unknown interaction. */
  interactionAckMs: number;
  /** Interaction tokens (follow-ups, @original edits) stop working after this many ms (Discord: 15 min). */
  interactionTokenTtlMs: number;
}

export const EPHEMERAL = 1 << 6;
export const LOADING = 1 << 7;

export class Ops {
  constructor(
    readonly state: DiscordState,
    readonly gateway: Gateway,
    readonly config: OpsConfig,
  ) {}

  // ----- messages -----------------------------------------------------------------------------

  /** Builds the attachment list from `attachments` entries and `files[n]` uploads (edits keep listed existing ones). */
  attachments(channelId: string, body: Json, files: UploadedFile[], existing: Attachment[] = []): Attachment[] {
    const entries = body.attachments === undefined ? undefined : asArr(body.attachments).map(asObj);
    const kept = entries === undefined ? [...existing] : existing.filter((a) => entries.some((e) => String(e.id) === a.id));
    const added = files.map((file, i) => {
      const index = /^files\[(\d+)\]$/.exec(file.field)?.[1] ?? String(i);
      const entry = entries?.find((e) => String(e.id) === index);
      const filename = optStr(entry?.filename) ?? file.filename;
      const id = this.state.ids.next();
      const att: Attachment = {
        id,
        filename,
        size: file.data.length,
        contentType: file.contentType,
        description: optStr(entry?.description) ?? null,
        url: `${this.state.baseUrl}/attachments/${channelId}/${id}/${encodeURIComponent(filename)}`,
        data: file.data,
      };
      return att;
    });
    return [...kept, ...added];
  }

  /**
   * Mentions as Discord resolves them: `<@id>` users and `<@&id>` roles that `allowed_mentions` lets
   * through (absent = everything), and @everyone/@here only when allowed and the sender may.
   */
  mentions(content: string, guildId: string | null, allowedMentions: unknown, senderMayPingEveryone: boolean): { users: string[]; roles: string[]; everyone: boolean } {
    const am = allowedMentions === undefined || allowedMentions === null ? undefined : asObj(allowedMentions);
    const parse = am ? asArr(am.parse) : ['users', 'roles', 'everyone'];
    const allowUsers = asArr(am?.users).map(String);
    const allowRoles = asArr(am?.roles).map(String);
    const users = [...content.matchAll(/<@!?(\d+)>/g)]
      .map((m) => m[1] as string)
      .filter((id, i, all) => all.indexOf(id) === i && this.state.users.has(id))
      .filter((id) => parse.includes('users') || allowUsers.includes(id));
    const roles = [...content.matchAll(/<@&(\d+)>/g)]
      .map((m) => m[1] as string)
      .filter((id, i, all) => all.indexOf(id) === i && guildId !== null && this.state.roles.get(id)?.guildId === guildId)
      .filter((id) => parse.includes('roles') || allowRoles.includes(id));
    const everyone = guildId !== null && /@(everyone|here)/.test(content) && parse.includes('everyone') && senderMayPingEveryone;
    return { users, roles, everyone };
  }

  createMessage(
    channel: Channel,
    spec: {
      author: Json;
      authorIsMember?: boolean;
      body: Json;
      files?: UploadedFile[];
      webhookId?: string | null;
      applicationId?: string | null;
      type?: number;
      interactionMetadata?: Json | null;
      avatarUrl?: string | null;
      mayPingEveryone?: boolean;
      extraFlags?: number;
      messageReference?: Json;
    },
  ): Message {
    const body = spec.body;
    const content = typeof body.content === 'string' ? body.content : '';
    const m = this.mentions(content, channel.guildId, body.allowed_mentions, spec.mayPingEveryone ?? true);
    let messageReference: Json | null = spec.messageReference ?? null;
    let type = spec.type ?? 0;
    if (body.message_reference != null) {
      const ref = asObj(body.message_reference);
      const refId = optStr(ref.message_id);
      const target = refId ? this.state.messages.get(refId) : undefined;
      if (!target || target.channelId !== (optStr(ref.channel_id) ?? channel.id)) {
        if (ref.fail_if_not_exists !== false) throw invalidForm(['message_reference'], 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE', 'Unknown message');
      } else {
        messageReference = { type: 0, message_id: target.id, channel_id: target.channelId, ...(target.guildId ? { guild_id: target.guildId } : {}) };
        if (type === 0) type = 19;
      }
    }
    const flags = (typeof body.flags === 'number' ? body.flags : 0) | (spec.extraFlags ?? 0);
    const msg = this.state.newMessage({
      channelId: channel.id,
      author: spec.author,
      authorIsMember: spec.authorIsMember ?? false,
      content,
      embeds: asArr(body.embeds),
      components: asArr(body.components),
      attachments: [],
      flags,
      type,
      tts: body.tts === true,
      webhookId: spec.webhookId ?? null,
      applicationId: spec.applicationId ?? null,
      interactionMetadata: spec.interactionMetadata ?? null,
      messageReference,
      mentionUserIds: m.users,
      mentionRoleIds: m.roles,
      mentionEveryone: m.everyone,
      allowedMentions: body.allowed_mentions,
      avatarUrl: spec.avatarUrl ?? null,
      poll: body.poll ?? null,
    });
    msg.attachments = this.attachments(channel.id, body, spec.files ?? []);
    if ((flags & EPHEMERAL) === 0) this.gateway.dispatch('MESSAGE_CREATE', this.state.gatewayMessage(msg));
    return msg;
  }

  /** Applies the fields present in `body` (Discord's PATCH semantics) and dispatches MESSAGE_UPDATE. */
  editMessage(msg: Message, body: Json, files: UploadedFile[] = []): Message {
    validateMessageBody(body, { creating: false, fileCount: files.length });
    const next = { ...msg };
    if ('content' in body) next.content = typeof body.content === 'string' ? body.content : '';
    if ('embeds' in body) next.embeds = asArr(body.embeds);
    if ('components' in body) next.components = asArr(body.components);
    if ('attachments' in body || files.length > 0) next.attachments = this.attachments(msg.channelId, body, files, msg.attachments);
    if ('allowed_mentions' in body) next.allowedMentions = body.allowed_mentions;
    if (typeof body.flags === 'number') {
      // Only SUPPRESS_EMBEDS (1 << 2) may be toggled by an edit; the rest stays as it was.
      next.flags = (msg.flags & ~(1 << 2)) | (body.flags & (1 << 2));
    }
    const loading = (next.flags & LOADING) !== 0;
    if (loading) next.flags &= ~LOADING;
    const probe: Json = {
      content: next.content,
      embeds: next.embeds,
      components: next.components,
      attachments: next.attachments,
      poll: next.poll,
    };
    if (isEmptyMessage(probe, 0)) throw discordError(50006);
    if ('content' in body || 'allowed_mentions' in body) {
      const m = this.mentions(next.content, msg.guildId, next.allowedMentions, true);
      next.mentionUserIds = m.users;
      next.mentionRoleIds = m.roles;
      next.mentionEveryone = m.everyone;
    }
    // Filling a deferred ("thinking…") message is not an edit in Discord's eyes.
    if (!loading) next.editedTimestamp = new Date().toISOString();
    Object.assign(msg, next);
    if ((msg.flags & EPHEMERAL) === 0) this.gateway.dispatch('MESSAGE_UPDATE', this.state.gatewayMessage(msg));
    return msg;
  }

  deleteMessage(msg: Message): void {
    this.state.messages.delete(msg.id);
    this.state.deletedMessages.set(msg.id, msg);
    if ((msg.flags & EPHEMERAL) === 0) {
      this.gateway.dispatch('MESSAGE_DELETE', { id: msg.id, channel_id: msg.channelId, ...(msg.guildId ? { guild_id: msg.guildId } : {}) });
    }
  }

  // ----- reactions ----------------------------------------------------------------------------

  /** Parses a reaction emoji as it appears in a route (`%F0%9F%91%8D`, `name:id`) or a test call. */
  parseEmoji(raw: string): { key: string; emoji: { id: string | null; name: string; animated?: boolean } } {
    const decoded = decodeURIComponent(raw);
    const custom = /^<?(a)?:?([\w~]+):(\d+)>?$/.exec(decoded);
    if (custom) {
      const id = custom[3] as string;
      return { key: id, emoji: { id, name: custom[2] as string, ...(custom[1] ? { animated: true } : {}) } };
    }
    return { key: decoded, emoji: { id: null, name: decoded } };
  }

  addReaction(msg: Message, userId: string, rawEmoji: string): boolean {
    const { key, emoji } = this.parseEmoji(rawEmoji);
    let r = msg.reactions.get(key);
    if (!r) {
      r = { emoji, userIds: new Set() };
      msg.reactions.set(key, r);
    }
    if (r.userIds.has(userId)) return false;
    r.userIds.add(userId);
    const member = msg.guildId ? this.state.member(msg.guildId, userId) : undefined;
    this.gateway.dispatch('MESSAGE_REACTION_ADD', {
      user_id: userId,
      channel_id: msg.channelId,
      message_id: msg.id,
      ...(msg.guildId ? { guild_id: msg.guildId } : {}),
      ...(member ? { member: this.state.apiMember(member) } : {}),
      emoji,
      message_author_id: String(msg.author.id),
      burst: false,
      burst_colors: [],
      type: 0,
    });
    return true;
  }

  removeReaction(msg: Message, userId: string, rawEmoji: string): boolean {
    const { key, emoji } = this.parseEmoji(rawEmoji);
    const r = msg.reactions.get(key);
    if (!r || !r.userIds.delete(userId)) return false;
    if (r.userIds.size === 0) msg.reactions.delete(key);
    this.gateway.dispatch('MESSAGE_REACTION_REMOVE', {
      user_id: userId,
      channel_id: msg.channelId,
      message_id: msg.id,
      ...(msg.guildId ? { guild_id: msg.guildId } : {}),
      emoji,
      burst: false,
      type: 0,
    });
    return true;
  }

  // ----- threads ------------------------------------------------------------------------------

  createThread(
    parent: Channel,
    spec: { name: string; type: ChannelType; ownerId: string; autoArchiveDuration?: number; fromMessage?: Message; invitable?: boolean; rateLimitPerUser?: number },
  ): Channel {
    const now = new Date().toISOString();
    const thread = this.state.newChannel({
      id: spec.fromMessage?.id,
      type: spec.type,
      guildId: parent.guildId,
      name: spec.name,
      parentId: parent.id,
      nsfw: parent.nsfw,
      ownerId: spec.ownerId,
      rateLimitPerUser: spec.rateLimitPerUser ?? 0,
      thread: {
        archived: false,
        locked: false,
        autoArchiveDuration: spec.autoArchiveDuration ?? 4320,
        archiveTimestamp: now,
        createTimestamp: now,
        ...(spec.type === ChannelType.PrivateThread ? { invitable: spec.invitable ?? true } : {}),
      },
      memberIds: new Set([spec.ownerId]),
    });
    const payload = {
      ...this.state.apiChannel(thread),
      newly_created: true,
      member: { id: thread.id, user_id: spec.ownerId, join_timestamp: now, flags: 0 },
    };
    this.gateway.dispatch('THREAD_CREATE', payload);
    if (spec.fromMessage) {
      spec.fromMessage.threadId = thread.id;
      this.gateway.dispatch('MESSAGE_UPDATE', this.state.gatewayMessage(spec.fromMessage));
    } else if (spec.type === ChannelType.PublicThread) {
      // Discord posts a "started a thread" system message (type 18) in the parent channel.
      const owner = this.state.users.get(spec.ownerId);
      this.createMessage(parent, {
        author: owner ? this.state.apiUser(owner) : { id: spec.ownerId },
        authorIsMember: true,
        body: { content: spec.name },
        type: 18,
        messageReference: { type: 0, channel_id: thread.id, guild_id: parent.guildId },
      });
    }
    return thread;
  }

  updateThread(thread: Channel, patch: { name?: string; archived?: boolean; locked?: boolean; autoArchiveDuration?: number }): Channel {
    if (patch.name !== undefined) thread.name = patch.name;
    if (thread.thread) {
      if (patch.archived !== undefined && patch.archived !== thread.thread.archived) {
        thread.thread.archived = patch.archived;
        thread.thread.archiveTimestamp = new Date().toISOString();
      }
      if (patch.locked !== undefined) thread.thread.locked = patch.locked;
      if (patch.autoArchiveDuration !== undefined) thread.thread.autoArchiveDuration = patch.autoArchiveDuration;
    }
    this.gateway.dispatch(this.state.isThread(thread) ? 'THREAD_UPDATE' : 'CHANNEL_UPDATE', this.state.apiChannel(thread));
    return thread;
  }

  // ----- webhooks -----------------------------------------------------------------------------

  /** Resolves the channel a webhook call targets: its own channel, or (with `thread_id`) a thread of it. */
  webhookTarget(webhook: Webhook, threadId: string | null): Channel {
    const channel = this.state.mustChannel(webhook.channelId);
    if (!threadId) return channel;
    const thread = this.state.channels.get(threadId);
    if (!thread || !this.state.isThread(thread) || thread.parentId !== channel.id) throw discordError(10003, 400);
    return thread;
  }

  executeWebhook(webhook: Webhook, body: Json, files: UploadedFile[], threadId: string | null): Message {
    validateMessageBody(body, { creating: true, fileCount: files.length, webhook: true });
    const parent = this.state.mustChannel(webhook.channelId);
    if (parent.type === ChannelType.GuildForum && !threadId && !body.thread_name) throw discordError(220001);
    const target = this.webhookTarget(webhook, threadId);
    if (target.thread?.locked) throw discordError(50083);
    if (target.thread?.archived) this.updateThread(target, { archived: false });
    const username = optStr(body.username) ?? webhook.name;
    const avatarUrl = optStr(body.avatar_url) ?? null;
    return this.createMessage(target, {
      author: {
        id: webhook.id,
        username,
        avatar: avatarUrl ? fakeHash(avatarUrl) : webhook.avatar,
        discriminator: '0000',
        global_name: null,
        bot: true,
      },
      body: { ...body, flags: typeof body.flags === 'number' ? body.flags & ~EPHEMERAL : undefined },
      files,
      webhookId: webhook.id,
      applicationId: webhook.applicationId,
      avatarUrl,
    });
  }

  /** A message this webhook sent, in its channel or (with `thread_id`) the given thread; 10008 otherwise. */
  webhookMessage(webhook: Webhook, messageId: string, threadId: string | null): Message {
    const target = this.webhookTarget(webhook, threadId);
    const msg = this.state.messages.get(messageId);
    if (!msg || msg.webhookId !== webhook.id || msg.channelId !== target.id) throw discordError(10008);
    return msg;
  }

  // ----- interactions -------------------------------------------------------------------------

  interactionByToken(token: string): Interaction | undefined {
    return [...this.state.interactions.values()].find((i) => i.token === token);
  }

  /** Follow-ups and @original edits: 10015 before the interaction was acknowledged, 50027 once the token expired. */
  interactionForWebhook(token: string): Interaction {
    const ix = this.interactionByToken(token);
    if (!ix) throw discordError(10015);
    if (ix.expired || Date.now() - ix.createdAt > this.config.interactionTokenTtlMs) throw discordError(50027);
    if (ix.callbacks.length === 0) throw discordError(10015);
    return ix;
  }

  interactionMessage(ix: Interaction, mid: string): Message {
    const id = mid === '@original' ? ix.originalMessageId : mid;
    if (!id || (mid !== '@original' && id !== ix.originalMessageId && !ix.followUpIds.includes(id))) throw discordError(10008);
    const msg = this.state.messages.get(id);
    if (!msg) throw discordError(10008);
    return msg;
  }

  private interactionAuthor(): Json {
    return this.state.apiUser(this.state.botUser);
  }

  private interactionMetadata(ix: Interaction, extra: Json = {}): Json {
    const data = asObj(ix.payload.data);
    return {
      id: ix.id,
      type: ix.type,
      user: this.state.apiUser(this.state.mustUser(ix.userId)),
      authorizing_integration_owners: ix.guildId ? { '0': ix.guildId } : { '1': ix.userId },
      ...(ix.type === 2 ? { name: data.name, command_type: data.type ?? 1 } : {}),
      ...(ix.sourceMessageId ? { interacted_message_id: ix.sourceMessageId } : {}),
      ...extra,
    };
  }

  private interactionReply(ix: Interaction, body: Json, files: UploadedFile[], extraFlags: number, extraMeta: Json = {}): Message {
    const channel = this.state.mustChannel(ix.channelId);
    return this.createMessage(channel, {
      author: this.interactionAuthor(),
      body,
      files,
      webhookId: this.state.applicationId,
      applicationId: this.state.applicationId,
      type: ix.type === 2 ? 20 : 0,
      interactionMetadata: this.interactionMetadata(ix, extraMeta),
      extraFlags,
    });
  }

  /** `POST /interactions/{id}/{token}/callback`. Returns the `with_response` body. */
  callback(ix: Interaction, token: string, rawBody: Json, files: UploadedFile[]): Json {
    if (token !== ix.token) throw discordError(50027);
    if (ix.expired || Date.now() - ix.createdAt > this.config.interactionAckMs) throw discordError(10062);
    if (ix.callbacks.length > 0) throw discordError(40060);
    const type = rawBody.type;
    const data = asObj(rawBody.data);
    const allowed: Record<number, number[]> = {
      2: [4, 5, 9],
      3: [4, 5, 6, 7, 9],
      4: [8],
      5: ix.sourceMessageId ? [4, 5, 6, 7] : [4, 5],
    };
    if (typeof type !== 'number') throw invalidForm(['type'], 'BASE_TYPE_REQUIRED', 'This field is required');
    if (!(allowed[ix.type] ?? []).includes(type)) {
      throw invalidForm(['type'], 'INTERACTION_RESPONSE_TYPE_INVALID', `Interaction response type ${type} is not valid for interaction type ${ix.type}`);
    }
    let message: Message | undefined;
    switch (type) {
      case 4: {
        validateMessageBody(data, { creating: true, fileCount: files.length });
        message = this.interactionReply(ix, data, files, 0);
        ix.originalMessageId = message.id;
        break;
      }
      case 5: {
        const flags = (typeof data.flags === 'number' ? data.flags : 0) & EPHEMERAL;
        message = this.interactionReply(ix, { flags }, [], LOADING);
        ix.originalMessageId = message.id;
        ix.loading = true;
        break;
      }
      case 6:
        ix.originalMessageId = ix.sourceMessageId;
        break;
      case 7: {
        const source = ix.sourceMessageId ? this.state.messages.get(ix.sourceMessageId) : undefined;
        if (!source) throw discordError(10008);
        message = this.editMessage(source, data, files);
        ix.originalMessageId = source.id;
        break;
      }
      case 8: {
        const choices = asArr(data.choices);
        if (data.choices === undefined) throw invalidForm(['data', 'choices'], 'BASE_TYPE_REQUIRED', 'This field is required');
        if (choices.length > 25) throw invalidForm(['data', 'choices'], 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
        choices.forEach((raw, i) => {
          const c = asObj(raw);
          const name = optStr(c.name) ?? '';
          if (name.length < 1 || name.length > 100) throw invalidForm(['data', 'choices', i, 'name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
          if (typeof c.value === 'string' && c.value.length > 100) throw invalidForm(['data', 'choices', i, 'value'], 'BASE_TYPE_MAX_LENGTH', 'Must be 100 or fewer in length.');
          if (c.value === undefined) throw invalidForm(['data', 'choices', i, 'value'], 'BASE_TYPE_REQUIRED', 'This field is required');
        });
        break;
      }
      case 9: {
        const customId = optStr(data.custom_id);
        if (!customId || customId.length > 100) throw invalidForm(['data', 'custom_id'], 'BASE_TYPE_REQUIRED', 'This field is required');
        const title = optStr(data.title);
        if (!title || title.length > 45) throw invalidForm(['data', 'title'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 45 in length.');
        const comps = asArr(data.components);
        if (comps.length < 1 || comps.length > 5) throw invalidForm(['data', 'components'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 5 in length.');
        break;
      }
    }
    ix.callbacks.push({ type, data, at: Date.now() });
    return {
      interaction: {
        id: ix.id,
        type: ix.type,
        activity_instance_id: null,
        response_message_id: message?.id ?? null,
        response_message_loading: type === 5,
        response_message_ephemeral: message ? (message.flags & EPHEMERAL) !== 0 : false,
      },
      resource: { type, ...(message ? { message: this.state.apiMessage(message) } : {}) },
    };
  }

  /** `POST /webhooks/{app}/{token}`: the first follow-up after a type-5 defer fills the loading message. */
  followUp(ix: Interaction, body: Json, files: UploadedFile[]): Message {
    validateMessageBody(body, { creating: true, fileCount: files.length });
    const original = ix.originalMessageId ? this.state.messages.get(ix.originalMessageId) : undefined;
    if (ix.loading && original) {
      ix.loading = false;
      const { flags: _flags, ...rest } = body;
      return this.editMessage(original, { content: '', embeds: [], components: [], ...rest }, files);
    }
    const msg = this.interactionReply(ix, body, files, 0, {
      ...(ix.originalMessageId ? { original_response_message_id: ix.originalMessageId } : {}),
    });
    ix.followUpIds.push(msg.id);
    return msg;
  }

  editInteractionMessage(ix: Interaction, mid: string, body: Json, files: UploadedFile[]): Message {
    const msg = this.interactionMessage(ix, mid);
    if (msg.id === ix.originalMessageId) ix.loading = false;
    return this.editMessage(msg, body, files);
  }
}

/** Permission bits the bot needs for a REST action, as a readable error when missing. */
export function requireBotPermission(state: DiscordState, channel: Channel, ...needed: Array<keyof typeof PermissionFlagsBits>): void {
  if (!channel.guildId) return;
  const guild = state.guilds.get(channel.guildId);
  if (!guild || !guild.botPresent) throw discordError(50001);
  const perms = state.permissions(channel.guildId, state.botUserId, channel.id);
  if (!(perms & PermissionFlagsBits.ViewChannel)) throw discordError(50001);
  for (const name of needed) {
    if (!(perms & PermissionFlagsBits[name])) throw new DiscordHttpError(403, 50013, 'Missing Permissions');
  }
}

function fakeHash(s: string): string {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return (h >>> 0).toString(16).padStart(8, '0').repeat(4);
}

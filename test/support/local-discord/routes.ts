/**
 * The REST routes of the local Discord (paths after `/api/v10`). Each handler validates like
 * Discord, mutates the state through `Ops` (which emits the gateway dispatches) and returns the JSON
 * Discord would. See README.md for the list.
 */
import { ChannelType } from 'discord.js';
import type { Json } from './errors.js';
import { asObj, discordError, DiscordHttpError, FormErrors, invalidForm, optStr, validateCommand, validateMessageBody, validateWebhookName } from './errors.js';
import type { Gateway } from './gateway.js';
import type { Ops, UploadedFile } from './ops.js';
import { EPHEMERAL, requireBotPermission } from './ops.js';
import type { Channel, Command, DiscordState, Webhook } from './state.js';

/** A request as a route handler sees it. */
export interface Call {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: unknown;
  files: UploadedFile[];
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Route {
  method: string;
  template: string;
  /** Needs `Authorization: Bot <token>` (interaction callbacks and token webhooks do not). */
  auth: boolean;
  handler: (call: Call) => Reply | Promise<Reply>;
}

export interface RouteDeps {
  state: DiscordState;
  ops: Ops;
  gateway: Gateway;
  gatewayUrl: () => string;
  applicationName: string;
}

const ok = (body: unknown): Reply => ({ status: 200, body });
const created = (body: unknown): Reply => ({ status: 201, body });
const noContent = (): Reply => ({ status: 204 });

export function buildRoutes(deps: RouteDeps): Route[] {
  const { state, ops, gateway } = deps;
  const routes: Route[] = [];
  const add = (method: string, template: string, handler: Route['handler'], auth = true) => routes.push({ method, template, auth, handler });

  // ----- helpers ------------------------------------------------------------------------------

  const json = (c: Call): Json => asObj(c.body);

  /** A channel the bot can see: 10003 if unknown, 50001 if in a guild the bot left or without View Channel. */
  const botChannel = (id: string | undefined): Channel => {
    const ch = id ? state.channels.get(id) : undefined;
    if (!ch) throw discordError(10003);
    if (ch.guildId) requireBotPermission(state, ch);
    return ch;
  };
  const guildFor = (id: string | undefined) => {
    const g = id ? state.guilds.get(id) : undefined;
    if (!g || !g.botPresent) throw discordError(10004);
    return g;
  };
  const visibleMessage = (ch: Channel, mid: string | undefined) => {
    const msg = mid ? state.messages.get(mid) : undefined;
    if (!msg || msg.channelId !== ch.id || (msg.flags & EPHEMERAL) !== 0) throw discordError(10008);
    return msg;
  };
  const app = (appId: string | undefined) => {
    if (appId !== state.applicationId) throw discordError(10002);
  };
  const botAuthor = () => state.apiUser(state.botUser);
  const botMayPingEveryone = (ch: Channel) => !ch.guildId || (state.permissions(ch.guildId, state.botUserId, ch.id) & (1n << 17n)) !== 0n;
  const webhookById = (id: string | undefined): Webhook => {
    const w = id ? state.webhooks.get(id) : undefined;
    if (!w) throw discordError(10015);
    return w;
  };
  const webhookByToken = (id: string | undefined, token: string | undefined): Webhook => {
    const w = webhookById(id);
    if (w.token !== token) throw discordError(50027);
    return w;
  };
  const isInteractionToken = (id: string | undefined, token: string | undefined) =>
    id === state.applicationId && token !== undefined && ops.interactionByToken(token) !== undefined;

  // ----- gateway, application, users, guilds --------------------------------------------------

  add('GET', '/gateway', () => ok({ url: deps.gatewayUrl() }), false);
  add('GET', '/gateway/bot', () =>
    ok({
      url: deps.gatewayUrl(),
      shards: 1,
      session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 },
    }),
  );
  const application = () =>
    ok({
      id: state.applicationId,
      name: deps.applicationName,
      icon: null,
      description: '',
      bot_public: true,
      bot_require_code_grant: false,
      verify_key: '0'.repeat(64),
      flags: gateway.applicationFlags,
      bot: state.apiUser(state.botUser),
      owner: state.apiUser(state.botUser),
      team: null,
      approximate_guild_count: [...state.guilds.values()].filter((g) => g.botPresent).length,
      integration_types_config: { '0': {} },
    });
  add('GET', '/applications/@me', application);
  add('GET', '/oauth2/applications/@me', application);
  add('GET', '/users/@me', () => ok(state.apiUser(state.botUser)));
  add('GET', '/users/@me/guilds', () =>
    ok([...state.guilds.values()].filter((g) => g.botPresent).map((g) => ({ id: g.id, name: g.name, icon: null, owner: false, permissions: state.permissions(g.id, state.botUserId).toString(), features: [] }))),
  );
  add('DELETE', '/users/@me/guilds/:guildId', (c) => {
    const g = guildFor(c.params.guildId);
    g.botPresent = false;
    gateway.dispatch('GUILD_DELETE', { id: g.id });
    return noContent();
  });
  add('POST', '/users/@me/channels', (c) => {
    const rid = optStr(json(c).recipient_id);
    if (!rid) throw invalidForm(['recipient_id'], 'BASE_TYPE_REQUIRED', 'This field is required');
    if (!state.users.has(rid)) throw discordError(10013);
    return ok(state.apiChannel(state.dmChannelWith(rid)));
  });
  add('GET', '/users/:userId', (c) => {
    const u = state.users.get(c.params.userId ?? '');
    if (!u) throw discordError(10013);
    return ok(state.apiUser(u));
  });
  add('GET', '/guilds/:guildId', (c) => {
    const g = guildFor(c.params.guildId);
    const body = state.apiGuild(g);
    if (c.query.get('with_counts') === 'true') {
      body.approximate_member_count = state.guildMembers(g.id).length;
      body.approximate_presence_count = 0;
    }
    return ok(body);
  });
  add('GET', '/guilds/:guildId/channels', (c) => {
    const g = guildFor(c.params.guildId);
    return ok(state.guildChannels(g.id).filter((ch) => !state.isThread(ch)).map((ch) => state.apiChannel(ch)));
  });
  add('GET', '/guilds/:guildId/threads/active', (c) => {
    const g = guildFor(c.params.guildId);
    return ok({ threads: state.guildChannels(g.id).filter((ch) => state.isThread(ch) && !ch.thread?.archived).map((ch) => state.apiChannel(ch)), members: [] });
  });
  add('GET', '/guilds/:guildId/roles', (c) => ok(state.guildRoles(guildFor(c.params.guildId).id).map((r) => state.apiRole(r))));
  add('GET', '/guilds/:guildId/members', (c) => {
    const g = guildFor(c.params.guildId);
    const limit = Math.min(1000, Number(c.query.get('limit') ?? 1));
    const after = BigInt(c.query.get('after') ?? '0');
    const list = state
      .guildMembers(g.id)
      .filter((m) => BigInt(m.userId) > after)
      .sort((a, b) => (BigInt(a.userId) < BigInt(b.userId) ? -1 : 1))
      .slice(0, limit);
    return ok(list.map((m) => state.apiMember(m)));
  });
  add('GET', '/guilds/:guildId/members/:userId', (c) => {
    const g = guildFor(c.params.guildId);
    const m = state.member(g.id, c.params.userId ?? '');
    if (!m) throw discordError(10007);
    return ok(state.apiMember(m));
  });
  add('GET', '/guilds/:guildId/webhooks', (c) => {
    const g = guildFor(c.params.guildId);
    const any = state.guildChannels(g.id).find((ch) => !state.isThread(ch));
    if (any) requireBotPermission(state, any, 'ManageWebhooks');
    return ok([...state.webhooks.values()].filter((w) => w.guildId === g.id).map((w) => state.apiWebhook(w, true)));
  });

  // ----- application commands -----------------------------------------------------------------

  const commandsIn = (guildId: string | null) => [...state.commands.values()].filter((cmd) => cmd.guildId === guildId);
  const saveCommand = (guildId: string | null, data: Json, existing?: Command): Command => {
    const cmd: Command = {
      id: existing?.id ?? state.ids.next(),
      applicationId: state.applicationId,
      guildId,
      version: state.ids.next(),
      data: { ...data },
    };
    delete cmd.data.id;
    state.commands.set(cmd.id, cmd);
    return cmd;
  };
  const sameKind = (a: Json, b: Json) => a.name === b.name && (a.type ?? 1) === (b.type ?? 1);
  const commandScope = (c: Call): string | null => {
    app(c.params.appId);
    return c.params.guildId ? guildFor(c.params.guildId).id : null;
  };
  const commandById = (scope: string | null, id: string | undefined): Command => {
    const cmd = id ? state.commands.get(id) : undefined;
    if (!cmd || cmd.guildId !== scope) throw discordError(10063);
    return cmd;
  };

  for (const base of ['/applications/:appId/commands', '/applications/:appId/guilds/:guildId/commands']) {
    add('GET', base, (c) => ok(commandsIn(commandScope(c)).map((cmd) => state.apiCommand(cmd))));
    add('PUT', base, (c) => {
      const scope = commandScope(c);
      if (!Array.isArray(c.body)) throw invalidForm([], 'BASE_TYPE_ARRAY', 'Must be an array.');
      const list = c.body.map(asObj);
      const f = new FormErrors();
      list.forEach((cmd, i) => validateCommand(f, [i], cmd));
      list.forEach((cmd, i) => {
        if (list.findIndex((o) => sameKind(o, cmd)) !== i) f.add([i, 'name'], 'APPLICATION_COMMANDS_DUPLICATE_NAME', `Application command names must be unique`);
      });
      if (list.filter((cmd) => (cmd.type ?? 1) === 1).length > 100) f.add([], 'BASE_TYPE_MAX_LENGTH', 'Must be 100 or fewer in length.');
      f.throwIfAny();
      const before = commandsIn(scope);
      const kept: Command[] = list.map((data) => saveCommand(scope, data, before.find((b) => sameKind(b.data, data))));
      for (const old of before) if (!kept.some((k) => k.id === old.id)) state.commands.delete(old.id);
      return ok(kept.map((cmd) => state.apiCommand(cmd)));
    });
    add('POST', base, (c) => {
      const scope = commandScope(c);
      const data = json(c);
      const f = new FormErrors();
      validateCommand(f, [], data);
      f.throwIfAny();
      const existing = commandsIn(scope).find((b) => sameKind(b.data, data));
      const cmd = saveCommand(scope, data, existing);
      return existing ? ok(state.apiCommand(cmd)) : created(state.apiCommand(cmd));
    });
    add('GET', `${base}/:commandId`, (c) => ok(state.apiCommand(commandById(commandScope(c), c.params.commandId))));
    add('PATCH', `${base}/:commandId`, (c) => {
      const scope = commandScope(c);
      const cmd = commandById(scope, c.params.commandId);
      const data = { ...cmd.data, ...json(c) };
      const f = new FormErrors();
      validateCommand(f, [], data);
      f.throwIfAny();
      return ok(state.apiCommand(saveCommand(scope, data, cmd)));
    });
    add('DELETE', `${base}/:commandId`, (c) => {
      const cmd = commandById(commandScope(c), c.params.commandId);
      state.commands.delete(cmd.id);
      return noContent();
    });
  }
  add('GET', '/applications/:appId/guilds/:guildId/commands/permissions', (c) => {
    commandScope(c);
    return ok([]);
  });

  // ----- interactions and webhooks (token routes need no bot auth) ----------------------------

  add(
    'POST',
    '/interactions/:interactionId/:token/callback',
    (c) => {
      const ix = state.interactions.get(c.params.interactionId ?? '');
      if (!ix) throw discordError(10062);
      const response = ops.callback(ix, c.params.token ?? '', json(c), c.files);
      return c.query.get('with_response') === 'true' ? ok(response) : noContent();
    },
    false,
  );

  add(
    'POST',
    '/webhooks/:webhookId/:token',
    (c) => {
      const { webhookId, token } = c.params;
      if (isInteractionToken(webhookId, token)) {
        const ix = ops.interactionForWebhook(token as string);
        return ok(state.apiMessage(ops.followUp(ix, json(c), c.files)));
      }
      const w = webhookByToken(webhookId, token);
      const msg = ops.executeWebhook(w, json(c), c.files, c.query.get('thread_id'));
      return c.query.get('wait') === 'true' ? ok(state.apiMessage(msg)) : noContent();
    },
    false,
  );
  add(
    'GET',
    '/webhooks/:webhookId/:token/messages/:messageId',
    (c) => {
      const { webhookId, token, messageId } = c.params;
      if (isInteractionToken(webhookId, token)) {
        return ok(state.apiMessage(ops.interactionMessage(ops.interactionForWebhook(token as string), messageId as string)));
      }
      const w = webhookByToken(webhookId, token);
      return ok(state.apiMessage(ops.webhookMessage(w, messageId as string, c.query.get('thread_id'))));
    },
    false,
  );
  add(
    'PATCH',
    '/webhooks/:webhookId/:token/messages/:messageId',
    (c) => {
      const { webhookId, token, messageId } = c.params;
      if (isInteractionToken(webhookId, token)) {
        const ix = ops.interactionForWebhook(token as string);
        return ok(state.apiMessage(ops.editInteractionMessage(ix, messageId as string, json(c), c.files)));
      }
      const w = webhookByToken(webhookId, token);
      const msg = ops.webhookMessage(w, messageId as string, c.query.get('thread_id'));
      return ok(state.apiMessage(ops.editMessage(msg, json(c), c.files)));
    },
    false,
  );
  add(
    'DELETE',
    '/webhooks/:webhookId/:token/messages/:messageId',
    (c) => {
      const { webhookId, token, messageId } = c.params;
      if (isInteractionToken(webhookId, token)) {
        const ix = ops.interactionForWebhook(token as string);
        ops.deleteMessage(ops.interactionMessage(ix, messageId as string));
        return noContent();
      }
      const w = webhookByToken(webhookId, token);
      ops.deleteMessage(ops.webhookMessage(w, messageId as string, c.query.get('thread_id')));
      return noContent();
    },
    false,
  );
  const deleteWebhook = (w: Webhook) => {
    state.webhooks.delete(w.id);
    state.deletedWebhooks.set(w.id, w);
    gateway.dispatch('WEBHOOKS_UPDATE', { guild_id: w.guildId, channel_id: w.channelId });
  };
  const patchWebhook = (w: Webhook, body: Json, allowChannel: boolean) => {
    const f = new FormErrors();
    if (body.name !== undefined) validateWebhookName(f, ['name'], body.name);
    f.throwIfAny();
    if (typeof body.name === 'string') w.name = body.name;
    if (body.avatar !== undefined) w.avatar = body.avatar === null ? null : fakeAvatarHash(String(body.avatar));
    if (allowChannel && typeof body.channel_id === 'string') {
      const ch = botChannel(body.channel_id);
      requireBotPermission(state, ch, 'ManageWebhooks');
      w.channelId = ch.id;
    }
    gateway.dispatch('WEBHOOKS_UPDATE', { guild_id: w.guildId, channel_id: w.channelId });
  };
  add('GET', '/webhooks/:webhookId/:token', (c) => {
    const w = webhookByToken(c.params.webhookId, c.params.token);
    const { user: _user, ...rest } = state.apiWebhook(w, true);
    return ok(rest);
  }, false);
  add('PATCH', '/webhooks/:webhookId/:token', (c) => {
    const w = webhookByToken(c.params.webhookId, c.params.token);
    patchWebhook(w, json(c), false);
    const { user: _user, ...rest } = state.apiWebhook(w, true);
    return ok(rest);
  }, false);
  add('DELETE', '/webhooks/:webhookId/:token', (c) => {
    deleteWebhook(webhookByToken(c.params.webhookId, c.params.token));
    return noContent();
  }, false);
  add('GET', '/webhooks/:webhookId', (c) => {
    const w = webhookById(c.params.webhookId);
    requireBotPermission(state, state.mustChannel(w.channelId), 'ManageWebhooks');
    return ok(state.apiWebhook(w, true));
  });
  add('PATCH', '/webhooks/:webhookId', (c) => {
    const w = webhookById(c.params.webhookId);
    requireBotPermission(state, state.mustChannel(w.channelId), 'ManageWebhooks');
    patchWebhook(w, json(c), true);
    return ok(state.apiWebhook(w, true));
  });
  add('DELETE', '/webhooks/:webhookId', (c) => {
    const w = webhookById(c.params.webhookId);
    requireBotPermission(state, state.mustChannel(w.channelId), 'ManageWebhooks');
    deleteWebhook(w);
    return noContent();
  });

  // ----- channels -----------------------------------------------------------------------------

  add('GET', '/channels/:channelId', (c) => ok(state.apiChannel(botChannel(c.params.channelId))));
  add('PATCH', '/channels/:channelId', (c) => {
    const ch = botChannel(c.params.channelId);
    const b = json(c);
    if (state.isThread(ch)) {
      if (ch.ownerId !== state.botUserId || b.locked !== undefined) requireBotPermission(state, ch, 'ManageThreads');
      if (b.name !== undefined && (typeof b.name !== 'string' || b.name.length < 1 || b.name.length > 100)) {
        throw invalidForm(['name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
      }
      return ok(
        state.apiChannel(
          ops.updateThread(ch, {
            name: optStr(b.name),
            archived: typeof b.archived === 'boolean' ? b.archived : undefined,
            locked: typeof b.locked === 'boolean' ? b.locked : undefined,
            autoArchiveDuration: typeof b.auto_archive_duration === 'number' ? b.auto_archive_duration : undefined,
          }),
        ),
      );
    }
    requireBotPermission(state, ch, 'ManageChannels');
    if (typeof b.name === 'string') ch.name = b.name;
    if (typeof b.nsfw === 'boolean') ch.nsfw = b.nsfw;
    if (b.topic !== undefined) ch.topic = b.topic === null ? null : String(b.topic);
    return ok(state.apiChannel(ops.updateThread(ch, {})));
  });
  add('DELETE', '/channels/:channelId', (c) => {
    const ch = botChannel(c.params.channelId);
    requireBotPermission(state, ch, state.isThread(ch) ? 'ManageThreads' : 'ManageChannels');
    state.channels.delete(ch.id);
    const body = state.apiChannel(ch);
    if (state.isThread(ch)) gateway.dispatch('THREAD_DELETE', { id: ch.id, guild_id: ch.guildId, parent_id: ch.parentId, type: ch.type });
    else gateway.dispatch('CHANNEL_DELETE', body);
    return ok(body);
  });

  add('GET', '/channels/:channelId/messages', (c) => {
    const ch = botChannel(c.params.channelId);
    requireBotPermission(state, ch, 'ReadMessageHistory');
    const limit = Math.max(1, Math.min(100, Number(c.query.get('limit') ?? 50)));
    const before = c.query.get('before');
    const after = c.query.get('after');
    const around = c.query.get('around');
    let list = state.channelMessages(ch.id).filter((m) => (m.flags & EPHEMERAL) === 0);
    list.sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1));
    if (before) list = list.filter((m) => BigInt(m.id) < BigInt(before));
    if (after) list = list.filter((m) => BigInt(m.id) > BigInt(after)).slice(-limit);
    if (around) {
      const idx = list.findIndex((m) => BigInt(m.id) <= BigInt(around));
      const start = Math.max(0, (idx < 0 ? list.length : idx) - Math.floor(limit / 2));
      list = list.slice(start);
    }
    return ok(list.slice(0, limit).map((m) => state.apiMessage(m)));
  });
  add('GET', '/channels/:channelId/messages/:messageId', (c) => {
    const ch = botChannel(c.params.channelId);
    requireBotPermission(state, ch, 'ReadMessageHistory');
    return ok(state.apiMessage(visibleMessage(ch, c.params.messageId)));
  });
  add('POST', '/channels/:channelId/messages', (c) => {
    const ch = botChannel(c.params.channelId);
    const body = json(c);
    if (ch.guildId) {
      requireBotPermission(state, ch, state.isThread(ch) ? 'SendMessagesInThreads' : 'SendMessages');
      if (c.files.length > 0) requireBotPermission(state, ch, 'AttachFiles');
    }
    if (ch.type === ChannelType.GuildCategory || ch.type === ChannelType.GuildForum) throw discordError(50024);
    validateMessageBody(body, { creating: true, fileCount: c.files.length });
    if (ch.thread?.locked) throw discordError(50083);
    if (ch.thread?.archived) ops.updateThread(ch, { archived: false });
    const msg = ops.createMessage(ch, {
      author: botAuthor(),
      authorIsMember: ch.guildId !== null,
      body: { ...body, flags: typeof body.flags === 'number' ? body.flags & ~EPHEMERAL : undefined },
      files: c.files,
      mayPingEveryone: botMayPingEveryone(ch),
    });
    return ok(state.apiMessage(msg));
  });
  add('PATCH', '/channels/:channelId/messages/:messageId', (c) => {
    const ch = botChannel(c.params.channelId);
    const msg = visibleMessage(ch, c.params.messageId);
    const body = json(c);
    if (msg.author.id !== state.botUserId || msg.webhookId) {
      const onlyFlags = Object.keys(body).every((k) => k === 'flags');
      if (!onlyFlags) throw discordError(50005);
      requireBotPermission(state, ch, 'ManageMessages');
    }
    return ok(state.apiMessage(ops.editMessage(msg, body, c.files)));
  });
  add('DELETE', '/channels/:channelId/messages/:messageId', (c) => {
    const ch = botChannel(c.params.channelId);
    const msg = visibleMessage(ch, c.params.messageId);
    if (msg.author.id !== state.botUserId) requireBotPermission(state, ch, 'ManageMessages');
    ops.deleteMessage(msg);
    return noContent();
  });
  add('POST', '/channels/:channelId/typing', (c) => {
    const ch = botChannel(c.params.channelId);
    if (ch.guildId) requireBotPermission(state, ch, state.isThread(ch) ? 'SendMessagesInThreads' : 'SendMessages');
    return noContent();
  });

  // ----- reactions ----------------------------------------------------------------------------

  const reactionTarget = (c: Call) => {
    const ch = botChannel(c.params.channelId);
    requireBotPermission(state, ch, 'ReadMessageHistory');
    return { ch, msg: visibleMessage(ch, c.params.messageId) };
  };
  add('PUT', '/channels/:channelId/messages/:messageId/reactions/:emoji/@me', (c) => {
    const { ch, msg } = reactionTarget(c);
    const { key, emoji } = ops.parseEmoji(c.params.emoji ?? '');
    if (emoji.id !== null && !msg.reactions.has(key)) throw discordError(10014, 400);
    if (!msg.reactions.has(key)) requireBotPermission(state, ch, 'AddReactions');
    ops.addReaction(msg, state.botUserId, c.params.emoji ?? '');
    return noContent();
  });
  add('DELETE', '/channels/:channelId/messages/:messageId/reactions/:emoji/@me', (c) => {
    const { msg } = reactionTarget(c);
    ops.removeReaction(msg, state.botUserId, c.params.emoji ?? '');
    return noContent();
  });
  add('DELETE', '/channels/:channelId/messages/:messageId/reactions/:emoji/:userId', (c) => {
    const { ch, msg } = reactionTarget(c);
    requireBotPermission(state, ch, 'ManageMessages');
    ops.removeReaction(msg, c.params.userId ?? '', c.params.emoji ?? '');
    return noContent();
  });
  add('GET', '/channels/:channelId/messages/:messageId/reactions/:emoji', (c) => {
    const { msg } = reactionTarget(c);
    const r = msg.reactions.get(ops.parseEmoji(c.params.emoji ?? '').key);
    return ok([...(r?.userIds ?? [])].flatMap((id) => (state.users.get(id) ? [state.apiUser(state.mustUser(id))] : [])));
  });
  add('DELETE', '/channels/:channelId/messages/:messageId/reactions', (c) => {
    const { ch, msg } = reactionTarget(c);
    requireBotPermission(state, ch, 'ManageMessages');
    msg.reactions.clear();
    gateway.dispatch('MESSAGE_REACTION_REMOVE_ALL', { channel_id: ch.id, message_id: msg.id, ...(ch.guildId ? { guild_id: ch.guildId } : {}) });
    return noContent();
  });

  // ----- threads ------------------------------------------------------------------------------

  const validateThreadBody = (b: Json): FormErrors => {
    const f = new FormErrors();
    if (typeof b.name !== 'string' || b.name.length < 1 || b.name.length > 100) {
      f.add(['name'], b.name == null ? 'BASE_TYPE_REQUIRED' : 'BASE_TYPE_BAD_LENGTH', b.name == null ? 'This field is required' : 'Must be between 1 and 100 in length.');
    }
    if (b.auto_archive_duration != null && ![60, 1440, 4320, 10080].includes(Number(b.auto_archive_duration))) {
      f.add(['auto_archive_duration'], 'BASE_TYPE_CHOICES', 'Value must be one of (60, 1440, 4320, 10080).');
    }
    return f;
  };
  add('POST', '/channels/:channelId/threads', (c) => {
    const parent = botChannel(c.params.channelId);
    const b = json(c);
    const f = validateThreadBody(b);
    const isForum = parent.type === ChannelType.GuildForum || parent.type === ChannelType.GuildMedia;
    if (!isForum && b.type == null) f.add(['type'], 'BASE_TYPE_REQUIRED', 'This field is required');
    if (isForum && b.message == null) f.add(['message'], 'BASE_TYPE_REQUIRED', 'This field is required');
    f.throwIfAny();
    if (parent.type !== ChannelType.GuildText && parent.type !== ChannelType.GuildAnnouncement && !isForum) throw discordError(50024);
    const type = isForum ? ChannelType.PublicThread : Number(b.type);
    if (![ChannelType.PublicThread, ChannelType.PrivateThread, ChannelType.AnnouncementThread].includes(type)) {
      throw invalidForm(['type'], 'BASE_TYPE_CHOICES', 'Value must be one of (10, 11, 12).');
    }
    requireBotPermission(state, parent, type === ChannelType.PrivateThread ? 'CreatePrivateThreads' : 'CreatePublicThreads');
    const thread = ops.createThread(parent, {
      name: b.name as string,
      type,
      ownerId: state.botUserId,
      autoArchiveDuration: typeof b.auto_archive_duration === 'number' ? b.auto_archive_duration : undefined,
      invitable: typeof b.invitable === 'boolean' ? b.invitable : undefined,
      rateLimitPerUser: typeof b.rate_limit_per_user === 'number' ? b.rate_limit_per_user : undefined,
    });
    if (isForum) {
      const starter = asObj(b.message);
      validateMessageBody(starter, { creating: true, fileCount: c.files.length });
      const msg = ops.createMessage(thread, { author: botAuthor(), authorIsMember: true, body: starter, files: c.files });
      state.messages.delete(msg.id);
      msg.id = thread.id;
      state.messages.set(msg.id, msg);
      return created({ ...state.apiChannel(thread), message: state.apiMessage(msg) });
    }
    return created(state.apiChannel(thread));
  });
  add('POST', '/channels/:channelId/messages/:messageId/threads', (c) => {
    const parent = botChannel(c.params.channelId);
    const msg = visibleMessage(parent, c.params.messageId);
    const b = json(c);
    validateThreadBody(b).throwIfAny();
    if (parent.type !== ChannelType.GuildText && parent.type !== ChannelType.GuildAnnouncement) throw discordError(50024);
    if (msg.threadId) throw new DiscordHttpError(400, 160004, 'A thread has already been created for this message');
    requireBotPermission(state, parent, 'CreatePublicThreads');
    const thread = ops.createThread(parent, {
      name: b.name as string,
      type: parent.type === ChannelType.GuildAnnouncement ? ChannelType.AnnouncementThread : ChannelType.PublicThread,
      ownerId: state.botUserId,
      autoArchiveDuration: typeof b.auto_archive_duration === 'number' ? b.auto_archive_duration : undefined,
      fromMessage: msg,
    });
    return created(state.apiChannel(thread));
  });
  const threadMember = (c: Call, userId: string, join: boolean) => {
    const ch = botChannel(c.params.channelId);
    if (!state.isThread(ch)) throw discordError(50024);
    if (join) ch.memberIds.add(userId);
    else ch.memberIds.delete(userId);
    gateway.dispatch('THREAD_MEMBERS_UPDATE', {
      id: ch.id,
      guild_id: ch.guildId,
      member_count: ch.memberIds.size,
      ...(join ? { added_members: [{ id: ch.id, user_id: userId, join_timestamp: new Date().toISOString(), flags: 0 }] } : { removed_member_ids: [userId] }),
    });
    return noContent();
  };
  add('PUT', '/channels/:channelId/thread-members/@me', (c) => threadMember(c, state.botUserId, true));
  add('DELETE', '/channels/:channelId/thread-members/@me', (c) => threadMember(c, state.botUserId, false));
  add('PUT', '/channels/:channelId/thread-members/:userId', (c) => threadMember(c, c.params.userId ?? '', true));
  add('DELETE', '/channels/:channelId/thread-members/:userId', (c) => threadMember(c, c.params.userId ?? '', false));
  add('GET', '/channels/:channelId/threads/archived/public', (c) => {
    const ch = botChannel(c.params.channelId);
    const threads = state.threadsOf(ch.id).filter((t) => t.thread?.archived && t.type !== ChannelType.PrivateThread);
    return ok({ threads: threads.map((t) => state.apiChannel(t)), members: [], has_more: false });
  });

  // ----- channel webhooks ---------------------------------------------------------------------

  add('POST', '/channels/:channelId/webhooks', (c) => {
    const ch = botChannel(c.params.channelId);
    const b = json(c);
    const f = new FormErrors();
    validateWebhookName(f, ['name'], b.name);
    f.throwIfAny();
    if (state.isThread(ch) || ch.type === ChannelType.DM || ch.type === ChannelType.GuildCategory) throw discordError(50024);
    requireBotPermission(state, ch, 'ManageWebhooks');
    if ([...state.webhooks.values()].filter((w) => w.channelId === ch.id).length >= 15) throw discordError(30007);
    const w: Webhook = {
      id: state.ids.next(),
      token: randomToken(),
      type: 1,
      guildId: ch.guildId as string,
      channelId: ch.id,
      name: b.name as string,
      avatar: b.avatar ? fakeAvatarHash(String(b.avatar)) : null,
      applicationId: state.applicationId,
      creatorId: state.botUserId,
    };
    state.webhooks.set(w.id, w);
    gateway.dispatch('WEBHOOKS_UPDATE', { guild_id: w.guildId, channel_id: w.channelId });
    return ok(state.apiWebhook(w, true));
  });
  add('GET', '/channels/:channelId/webhooks', (c) => {
    const ch = botChannel(c.params.channelId);
    if (state.isThread(ch)) throw discordError(50024);
    requireBotPermission(state, ch, 'ManageWebhooks');
    return ok([...state.webhooks.values()].filter((w) => w.channelId === ch.id).map((w) => state.apiWebhook(w, true)));
  });

  return routes;
}

export function randomToken(): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  let out = '';
  for (let i = 0; i < 68; i++) out += chars[Math.floor(Math.random() * chars.length)];
  return out;
}

function fakeAvatarHash(s: string): string {
  let h = 7;
  for (let i = 0; i < Math.min(s.length, 4096); i++) h = (h * 33 + s.charCodeAt(i)) | 0;
  return (h >>> 0).toString(16).padStart(8, '0').repeat(4);
}

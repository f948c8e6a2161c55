import {
  Client,
  Events,
  GatewayIntentBits,
  MessageFlags,
  Options,
  Partials,
  PermissionFlagsBits,
  Routes,
  type ButtonInteraction,
  type Message,
  type MessageReaction,
  type PartialMessage,
  type PartialMessageReaction,
  type PartialUser,
  type User,
} from 'discord.js';
import { eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import { findCommand } from '../../commands/index.js';
import { dispatch } from '../../commands/dispatch.js';
import type { App } from '../app.js';
import { personaReplies } from '../db/schema.js';
import { UserFacingError } from '../core/errors.js';
import { THUMBS_DOWN, THUMBS_UP } from '../services/scorecard.js';
import { judgeClick } from './confirm.js';
import { confirmedContext, interactionContext } from './context.js';
import { syncCommands } from './register.js';
import { DiscordVoices } from './voice.js';

/** Persona reply ids kept in memory for reactions (older ones are looked up in the database). */
const MAX_REMEMBERED_REPLIES = 10_000;

/** Gateway close code for intents the application is not allowed to use (Message Content). */
const DISALLOWED_INTENTS = 4014;

export class StartupError extends Error {
  override name = 'StartupError';
}

/**
 * The discord.js adapter: events in, the same services and command handlers as the console.
 * Interactions go through the one dispatcher; messages through the logging rules and, in a
 * persona thread, the chat service; reactions on persona replies become scorecard votes.
 */
export async function startDiscord(app: App, log: Logger): Promise<{ client: Client; stop(): Promise<void> }> {
  const { token, applicationId, apiUrl } = app.config.discord;
  if (!token || !applicationId) throw new StartupError('DISCORD_TOKEN and DISCORD_APPLICATION_ID are needed for Discord');
  const client = new Client({
    intents: [
      GatewayIntentBits.Guilds,
      GatewayIntentBits.GuildMessages,
      GatewayIntentBits.MessageContent,
      GatewayIntentBits.GuildMessageReactions,
      GatewayIntentBits.DirectMessages,
    ],
    // Partials, so reactions on older (uncached) messages and DMs still arrive.
    partials: [Partials.Message, Partials.Channel, Partials.Reaction, Partials.User],
    // The bot never reads old messages from the cache (partials cover reactions), so keep few:
    // by default discord.js keeps 200 per channel, which grows with every persona thread.
    makeCache: Options.cacheWithLimits({ ...Options.DefaultMakeCacheSettings, MessageManager: 20 }),
    sweepers: { ...Options.DefaultSweeperSettings, messages: { interval: 300, lifetime: 900 } },
    ...(apiUrl ? { rest: { api: apiUrl } } : {}),
  });
  const voices = new DiscordVoices(client, log.child({ part: 'voice' }));
  /** Recent persona reply ids, so most reactions skip the database lookup; bounded (oldest out first). */
  const replyIds = new Set<string>();
  const rememberReply = (id: string) => {
    replyIds.add(id);
    if (replyIds.size > MAX_REMEMBERED_REPLIES) replyIds.delete(replyIds.values().next().value!);
  };

  client.on(Events.InteractionCreate, async (interaction) => {
    try {
      if (interaction.isAutocomplete()) {
        const command = findCommand(interaction.commandName);
        const focused = interaction.options.getFocused(true);
        await interaction.respond(command?.autocomplete?.({ name: focused.name, value: String(focused.value) }, app) ?? []);
        return;
      }
      if (interaction.isButton()) return void (await onButton(interaction));
      if (!interaction.isChatInputCommand()) return;
      const command = findCommand(interaction.commandName);
      if (!command) return void (await interaction.reply({ content: 'Unknown command.', flags: 64 }));
      const ctx = interactionContext(interaction, voices);
      try {
        await dispatch(command, ctx, app, log);
      } finally {
        ctx.dispose();
      }
    } catch (err) {
      log.error({ err }, 'interaction handling failed');
    }
  });

  /**
   * Confirm buttons are stateless (confirm.ts): whatever the click needs is in its custom id, so
   * it works the moment the prompt exists and after a restart. A click that may not run gets an
   * ephemeral answer saying why.
   */
  async function onButton(click: ButtonInteraction): Promise<void> {
    const verdict = judgeClick(click.customId, click.user.id);
    const command = verdict.ok ? findCommand(verdict.token.command) : undefined;
    if (!verdict.ok || !command) {
      const answer = verdict.ok ? 'This button no longer works: nothing was done. Run the command again.' : verdict.answer;
      await click.reply({ content: answer, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
      return;
    }
    const prompt = click.message.content;
    // Answer the click at once (its own 3-second window) and take the buttons away.
    if (verdict.token.answer === 'no') {
      await click.update({ content: `${prompt}\n\n**Cancelled**: nothing was done.`, components: [], allowedMentions: { parse: [] } });
      return;
    }
    await click.update({ content: `${prompt}\n\n**Confirmed.**`, components: [], allowedMentions: { parse: [] } });
    // The command's confirmed action; its answers are follow-ups of the click.
    await dispatch(command, confirmedContext(click, verdict.token, voices), app, log, verdict.token.action);
  }

  client.on(Events.MessageCreate, (message) => void onMessage(message).catch((err) => log.error({ err }, 'message handling failed')));

  async function onMessage(message: Message): Promise<void> {
    const receivedAt = performance.now();
    // Never our own messages, never our webhooks' (no persona answers itself), never other bots.
    if (message.author.id === client.user?.id || message.webhookId) return;
    const channel = message.channel;
    const parentId = channel.isThread() ? channel.parentId : null;
    await app.messages
      .onCreate({
        id: message.id,
        guildId: message.guildId,
        channelId: message.channelId,
        parentChannelId: parentId,
        authorId: message.author.id,
        authorIsBot: message.author.bot,
        isSystem: message.system,
        content: message.content,
        createdAt: message.createdAt,
        replyToId: message.reference?.messageId ?? null,
        source: 'discord',
      })
      .catch((err) => log.debug({ err: (err as Error).message }, 'message not logged'));
    if (message.author.bot || message.system || !message.content.trim()) return;
    const conversation = await app.chat.active(message.channelId);
    if (!conversation) return;
    try {
      const result = await app.chat.respond({
        conversation,
        user: { id: message.author.id, name: message.member?.displayName ?? message.author.globalName ?? message.author.username },
        text: message.content,
        messageId: message.id,
        parentChannelId: parentId,
        voice: voices.voice({ channelId: message.channelId, parentId }),
        receivedAt,
      });
      rememberReply(result.messageId);
      // Seed the scorecard's two buttons; people's own reactions are the votes.
      for (const emoji of [THUMBS_UP, THUMBS_DOWN]) {
        await client.rest.put(Routes.channelMessageOwnReaction(message.channelId, result.messageId, encodeURIComponent(emoji))).catch(() => {});
      }
    } catch (err) {
      const text = err instanceof UserFacingError ? err.message : 'Sorry, something went wrong on my side. It has been logged.';
      if (!(err instanceof UserFacingError)) log.error({ err }, 'persona reply failed');
      await message.reply({ content: text, allowedMentions: { repliedUser: false, parse: [] } }).catch(() => {});
    }
  }

  client.on(Events.MessageUpdate, (_old, message) => {
    if (message.partial || !message.author || message.author.bot || message.webhookId) return;
    const parentId = message.channel.isThread() ? message.channel.parentId : null;
    void app.messages
      .onEdit({ id: message.id, guildId: message.guildId, channelId: message.channelId, parentChannelId: parentId, authorId: message.author.id, content: message.content, editedAt: message.editedAt ?? new Date() })
      .catch((err) => log.debug({ err: (err as Error).message }, 'edit not logged'));
  });

  client.on(Events.MessageDelete, (message: Message | PartialMessage) => {
    void app.messages.onDelete(message.id).catch((err) => log.debug({ err: (err as Error).message }, 'delete not applied'));
  });

  const onReaction = async (reaction: MessageReaction | PartialMessageReaction, user: User | PartialUser, added: boolean) => {
    if (user.id === client.user?.id) return;
    const emoji = reaction.emoji.name;
    if (emoji !== THUMBS_UP && emoji !== THUMBS_DOWN) return;
    const messageId = reaction.message.id;
    if (!replyIds.has(messageId)) {
      const [row] = await app.database.db.select({ id: personaReplies.messageId }).from(personaReplies).where(eq(personaReplies.messageId, messageId)).limit(1);
      if (!row) return; // only persona replies are scored
      rememberReply(messageId);
    }
    await app.messages.onReaction({ messageId, userId: user.id, emoji, guildId: reaction.message.guildId, added });
  };
  client.on(Events.MessageReactionAdd, (r, u) => void onReaction(r, u, true).catch((err) => log.error({ err }, 'reaction not recorded')));
  client.on(Events.MessageReactionRemove, (r, u) => void onReaction(r, u, false).catch((err) => log.error({ err }, 'reaction not recorded')));

  client.on(Events.GuildDelete, (guild) => {
    if (!guild.available) return; // an outage, not a removal
    app.chat.dropGuild(guild.id);
    void app.consent.purgeGuild(guild.id).then(
      (counts) => log.info({ guild: guild.id, counts }, 'removed from a guild: its data was purged'),
      (err) => log.error({ err, guild: guild.id }, 'guild purge failed'),
    );
  });

  client.once(Events.ClientReady, async (ready) => {
    log.info({ user: ready.user.tag, guilds: ready.guilds.cache.size }, 'connected to Discord');
    try {
      const r = await syncCommands({ token, applicationId, apiUrl });
      log.info({ changed: r.changed, commands: r.count }, r.changed ? 'slash commands updated' : 'slash commands already up to date');
    } catch (err) {
      log.error({ err }, 'could not register slash commands (run `npm run commands:deploy` to retry)');
    }
    for (const guild of ready.guilds.cache.values()) {
      const me = guild.members.me ?? (await guild.members.fetchMe().catch(() => null));
      if (me && !me.permissions.has(PermissionFlagsBits.ManageWebhooks)) {
        log.warn(
          { guild: guild.id },
          `missing the Manage Webhooks permission in "${guild.name}": personas speak through webhooks, so they cannot answer there. Give the bot's role Manage Webhooks (Server Settings → Roles).`,
        );
      }
    }
  });

  try {
    await client.login(token);
  } catch (err) {
    const code = (err as { code?: number | string }).code;
    const message = (err as Error).message ?? '';
    if (code === DISALLOWED_INTENTS || /disallowed intent/i.test(message)) {
      throw new StartupError(
        'Discord refused the Message Content intent (gateway close 4014). Turn on "Message Content Intent" under Bot → Privileged Gateway Intents in the Discord developer portal, then start the bot again.',
      );
    }
    if (/TokenInvalid|invalid token|401/i.test(message) || code === 'TokenInvalid') {
      throw new StartupError('Discord rejected DISCORD_TOKEN (invalid token). Copy the bot token again from the developer portal.');
    }
    throw err;
  }
  return {
    client,
    async stop() {
      await client.destroy();
    },
  };
}

import { Events, Routes } from 'discord.js';
import { classifyError } from '../../core/errors.js';
import { THUMBS_DOWN, THUMBS_UP } from '../../services/scorecard.js';
import { channelFacts } from '../channels.js';
import type { DiscordEvent } from './event.js';

/** A message: logged under the logging rules and, in a thread bound to a persona, answered (UserMessageService). */
export const messageCreate = {
  name: Events.MessageCreate,
  async execute({ app, client, voices, log }, message) {
    const receivedAt = performance.now();
    // Never our own messages, never our webhooks' (no persona answers itself).
    if (message.author.id === client.user?.id || message.webhookId) return;
    const { parentId, nsfw } = channelFacts(message.channel);
    try {
      const outcome = await app.userMessages.onUserMessage({
        message: {
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
        },
        userName: message.member?.displayName ?? message.author.globalName ?? message.author.username,
        channelIsNsfw: nsfw,
        voice: voices.voice({ channelId: message.channelId, parentId }),
        receivedAt,
      });
      if (outcome.kind !== 'answered') return;
      // Seed the scorecard's two buttons; people's own reactions are the votes.
      for (const emoji of [THUMBS_UP, THUMBS_DOWN]) {
        await client.rest.put(Routes.channelMessageOwnReaction(message.channelId, outcome.turn.messageId, encodeURIComponent(emoji))).catch(() => {});
      }
    } catch (err) {
      const failure = classifyError(err);
      if (failure.kind === 'errored') log.error({ err }, 'persona reply failed');
      await message.reply({ content: failure.message, allowedMentions: { repliedUser: false, parse: [] } }).catch(() => {});
    }
  },
} satisfies DiscordEvent<Events.MessageCreate>;

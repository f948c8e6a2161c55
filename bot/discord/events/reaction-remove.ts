import { Events } from 'discord.js';
import type { DiscordEvent } from './event.js';

/** A vote taken back. */
export const messageReactionRemove = {
  name: Events.MessageReactionRemove,
  async execute({ app, client }, reaction, user) {
    if (user.id === client.user?.id) return;
    await app.scorecards.onReaction({ messageId: reaction.message.id, userId: user.id, emoji: reaction.emoji.name, guildId: reaction.message.guildId, added: false });
  },
} satisfies DiscordEvent<Events.MessageReactionRemove>;

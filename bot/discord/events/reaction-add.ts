import { Events } from 'discord.js';
import type { DiscordEvent } from './event.js';

/** 👍/👎 on a persona reply: a scorecard vote (the bot's own seeded reactions are not). */
export const messageReactionAdd = {
  name: Events.MessageReactionAdd,
  async execute({ app, client }, reaction, user) {
    if (user.id === client.user?.id) return;
    await app.scorecards.onReaction({ messageId: reaction.message.id, userId: user.id, emoji: reaction.emoji.name, guildId: reaction.message.guildId, added: true });
  },
} satisfies DiscordEvent<Events.MessageReactionAdd>;

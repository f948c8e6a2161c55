import { Events, type ClientEvents } from 'discord.js';
import type { DiscordEvent } from './event.js';

/** 👍/👎 added to or taken off a persona reply: a scorecard vote, or its withdrawal (the bot's own seeded reactions are not votes). */
function reactionVote<K extends Events.MessageReactionAdd | Events.MessageReactionRemove>(name: K, added: boolean): DiscordEvent<K> {
  return {
    name,
    async execute({ app, client }, ...[reaction, user]: ClientEvents[K]) {
      if (user.id === client.user?.id) return;
      await app.scorecards.onReaction({ messageId: reaction.message.id, userId: user.id, emoji: reaction.emoji.name, guildId: reaction.message.guildId, added });
    },
  };
}

export const messageReactionAdd = reactionVote(Events.MessageReactionAdd, true);
export const messageReactionRemove = reactionVote(Events.MessageReactionRemove, false);

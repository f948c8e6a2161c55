import { Events } from 'discord.js';
import type { DiscordEvent } from './event.js';

/** An edit updates the stored copy (the logging rules decide whether there is one). */
export const messageUpdate = {
  name: Events.MessageUpdate,
  execute({ app, log }, _old, message) {
    if (message.partial || !message.author || message.author.bot || message.webhookId) return;
    const parentId = message.channel.isThread() ? message.channel.parentId : null;
    void app.messages
      .onEdit({ id: message.id, guildId: message.guildId, channelId: message.channelId, parentChannelId: parentId, authorId: message.author.id, content: message.content, editedAt: message.editedAt ?? new Date() })
      .catch((err: unknown) => log.debug({ err: (err as Error).message }, 'edit not logged'));
  },
} satisfies DiscordEvent<Events.MessageUpdate>;

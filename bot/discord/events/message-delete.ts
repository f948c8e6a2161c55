import { Events } from 'discord.js';
import type { DiscordEvent } from './event.js';

/** A deleted message is deleted from storage too. */
export const messageDelete = {
  name: Events.MessageDelete,
  execute({ app, log }, message) {
    void app.messages.onDelete(message.id).catch((err: unknown) => log.debug({ err: (err as Error).message }, 'delete not applied'));
  },
} satisfies DiscordEvent<Events.MessageDelete>;

import { Events } from 'discord.js';
import type { DiscordEvent } from './event.js';

/** A bulk delete (a moderator's purge, a ban that deletes history): the stored copies go too. */
export const messageDeleteBulk = {
  name: Events.MessageBulkDelete,
  execute({ app, log }, messages) {
    void app.messages.onBulkDelete([...messages.keys()]).catch((err: unknown) => log.warn({ err }, 'bulk delete not applied'));
  },
} satisfies DiscordEvent<Events.MessageBulkDelete>;

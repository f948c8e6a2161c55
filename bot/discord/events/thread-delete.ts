import { Events } from 'discord.js';
import { eraseDeletedChannel } from './channel-delete.js';
import type { DiscordEvent } from './event.js';

/** A deleted thread: what was stored from it goes. */
export const threadDelete = {
  name: Events.ThreadDelete,
  execute(deps, thread) {
    eraseDeletedChannel(deps, thread.id);
  },
} satisfies DiscordEvent<Events.ThreadDelete>;

import type { Client, ClientEvents } from 'discord.js';
import type { DiscordDeps, DiscordEvent } from './event.js';
import { channelDelete } from './channel-delete.js';
import { guildDelete } from './guild-delete.js';
import { interactionCreate } from './interaction-create.js';
import { messageCreate } from './message-create.js';
import { messageDelete } from './message-delete.js';
import { messageDeleteBulk } from './message-delete-bulk.js';
import { messageUpdate } from './message-update.js';
import { messageReactionAdd, messageReactionRemove } from './reactions.js';
import { clientReady } from './ready.js';
import { threadDelete } from './thread-delete.js';

/** Every event the bot handles. */
export const EVENTS = [
  interactionCreate,
  messageCreate,
  messageUpdate,
  messageDelete,
  messageDeleteBulk,
  channelDelete,
  threadDelete,
  messageReactionAdd,
  messageReactionRemove,
  guildDelete,
  clientReady,
] as const;

/** Wires the events to the client; a handler that throws is logged with the event's name. */
export function registerEvents(client: Client, deps: DiscordDeps): void {
  for (const event of EVENTS as readonly DiscordEvent[]) {
    const listener = (...args: ClientEvents[keyof ClientEvents]) => {
      void (async () => event.execute(deps, ...args))().catch((err: unknown) => deps.log.error({ err, event: event.name }, 'event handling failed'));
    };
    if (event.once) client.once(event.name, listener);
    else client.on(event.name, listener);
  }
}

import { Events } from 'discord.js';
import type { DiscordDeps, DiscordEvent } from './event.js';

/** Erases what was stored from a deleted channel or thread (a channel's threads included). */
export function eraseDeletedChannel({ app, log }: DiscordDeps, channelId: string): void {
  app.chat.dropChannel(channelId);
  void app.messages.onChannelDelete(channelId).then(
    (counts) => log.info({ channel: channelId, counts }, 'channel deleted: what was stored from it was erased'),
    (err: unknown) => log.error({ err, channel: channelId }, 'erasing a deleted channel failed'),
  );
}

/** A deleted channel: what was stored from it and its threads goes, and so does its logging switch. */
export const channelDelete = {
  name: Events.ChannelDelete,
  execute(deps, channel) {
    eraseDeletedChannel(deps, channel.id);
  },
} satisfies DiscordEvent<Events.ChannelDelete>;

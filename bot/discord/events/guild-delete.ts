import { Events } from 'discord.js';
import type { DiscordEvent } from './event.js';

/** Removed from a server: that server's data is purged (DESIGN, Discord behaviour). */
export const guildDelete = {
  name: Events.GuildDelete,
  execute({ app, log }, guild) {
    if (!guild.available) return; // an outage, not a removal
    app.chat.dropGuild(guild.id);
    void app.consent.purgeGuild(guild.id).then(
      (counts) => log.info({ guild: guild.id, counts }, 'removed from a guild: its data was purged'),
      (err: unknown) => log.error({ err, guild: guild.id }, 'guild purge failed'),
    );
  },
} satisfies DiscordEvent<Events.GuildDelete>;

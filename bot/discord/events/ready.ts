import { Events, PermissionFlagsBits } from 'discord.js';
import { syncCommands } from '../register.js';
import type { DiscordEvent } from './event.js';

/** Connected: register the slash commands (only a difference is applied) and say where Manage Webhooks is missing. */
export const clientReady = {
  name: Events.ClientReady,
  once: true,
  async execute({ app, log, credentials }, ready) {
    log.info({ user: ready.user.tag, guilds: ready.guilds.cache.size }, 'connected to Discord');
    // Removed from a server while offline: no removal event came, so purge it now. (Guilds in an
    // outage are in the cache too, as unavailable: still servers the bot is in.)
    // Under a ShardingManager each process sees only its shard's guilds, so it must not judge the rest.
    if (!ready.shard) {
      try {
        for (const { guildId, counts } of await app.consent.purgeGuildsLeft([...ready.guilds.cache.keys()])) {
          log.info({ guild: guildId, counts }, 'removed from a guild while offline: its data was purged');
        }
      } catch (err) {
        log.error({ err }, 'could not check for guilds left while offline (they are checked again at the next start)');
      }
    }
    try {
      const r = await syncCommands(credentials);
      log.info({ changed: r.changed, commands: r.count }, r.changed ? 'slash commands updated' : 'slash commands already up to date');
    } catch (err) {
      log.error({ err }, 'could not register slash commands (run `npm run commands:deploy` to retry)');
    }
    for (const guild of ready.guilds.cache.values()) {
      const me = guild.members.me ?? (await guild.members.fetchMe().catch(() => null));
      if (me && !me.permissions.has(PermissionFlagsBits.ManageWebhooks)) {
        log.warn(
          { guild: guild.id },
          `missing the Manage Webhooks permission in "${guild.name}": personas speak through webhooks, so they cannot answer there. Give the bot's role Manage Webhooks (Server Settings → Roles).`,
        );
      }
    }
  },
} satisfies DiscordEvent<Events.ClientReady>;

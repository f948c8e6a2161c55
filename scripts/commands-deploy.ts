import { ConfigError, loadConfig } from '../bot/config.js';
import { syncCommands } from '../bot/discord/register.js';

/** `npm run commands:deploy [-- --guild <id>]`: registers the slash commands (globally, or in one guild). */
async function main(): Promise<void> {
  const config = loadConfig();
  const { token, applicationId, apiUrl } = config.discord;
  if (!token || !applicationId) throw new ConfigError(['DISCORD_TOKEN and DISCORD_APPLICATION_ID: both are needed to register commands']);
  const i = process.argv.indexOf('--guild');
  const guildId = i >= 0 ? process.argv[i + 1] : undefined;
  if (i >= 0 && !/^\d{17,20}$/.test(guildId ?? '')) throw new ConfigError(['--guild: expected a guild id (17-20 digits)']);
  const r = await syncCommands({ token, applicationId, apiUrl, guildId });
  process.stdout.write(`${r.changed ? 'registered' : 'already up to date:'} ${r.count} commands ${guildId ? `in guild ${guildId}` : 'globally (may take up to an hour to appear)'}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

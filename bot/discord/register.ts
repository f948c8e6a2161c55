import { REST, Routes, type RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import { COMMANDS } from '../../commands/index.js';

export interface RegisterOptions {
  token: string;
  applicationId: string;
  apiUrl?: string;
  /** Register in one guild (instant) instead of globally. */
  guildId?: string;
}

/** Only the fields Discord echoes back that we set, so a fetched command compares equal to ours. */
function comparable(c: RESTPostAPIChatInputApplicationCommandsJSONBody): string {
  const strip = (o: unknown): unknown => {
    if (Array.isArray(o)) return o.map(strip);
    if (o && typeof o === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) {
        if (['id', 'application_id', 'version', 'guild_id', 'dm_permission', 'nsfw', 'type', 'contexts', 'integration_types', 'name_localizations', 'description_localizations'].includes(k)) continue;
        if (v === undefined || v === null || v === false || (Array.isArray(v) && v.length === 0)) continue;
        out[k] = strip(v);
      }
      return out;
    }
    return o;
  };
  return JSON.stringify(strip(c));
}

/**
 * Compares the bot's commands with what Discord has and applies only a difference (one bulk
 * PUT), so restarts don't churn registrations. Returns what happened.
 */
export async function syncCommands(opts: RegisterOptions): Promise<{ changed: boolean; count: number }> {
  const rest = new REST({ version: '10', ...(opts.apiUrl ? { api: opts.apiUrl } : {}) }).setToken(opts.token);
  const route = opts.guildId ? Routes.applicationGuildCommands(opts.applicationId, opts.guildId) : Routes.applicationCommands(opts.applicationId);
  const wanted = COMMANDS.map((c) => c.data.toJSON());
  const current = (await rest.get(route)) as RESTPostAPIChatInputApplicationCommandsJSONBody[];
  const key = (list: RESTPostAPIChatInputApplicationCommandsJSONBody[]) => list.map(comparable).sort().join('\n');
  if (key(current) === key(wanted)) return { changed: false, count: wanted.length };
  await rest.put(route, { body: wanted });
  return { changed: true, count: wanted.length };
}

import type { Client, ClientEvents } from 'discord.js';
import type { Logger } from 'pino';
import type { App } from '../../app.js';
import type { DiscordVoices } from '../voice.js';

/** What every event handler may use. */
export interface DiscordDeps {
  app: App;
  client: Client;
  voices: DiscordVoices;
  log: Logger;
  /** For registering slash commands at READY. */
  credentials: { token: string; applicationId: string; apiUrl?: string };
}

/**
 * One discord.js event, one file (as in the discord.js template): its name, whether it runs
 * once, and the handler. A handler's failure is logged by the registry (events/index.ts), never
 * an unhandled rejection.
 */
export interface DiscordEvent<K extends keyof ClientEvents = keyof ClientEvents> {
  name: K;
  once?: boolean;
  execute(deps: DiscordDeps, ...args: ClientEvents[K]): Promise<void> | void;
}

import { Client, GatewayIntentBits, Options, Partials } from 'discord.js';
import type { Logger } from 'pino';
import type { App } from '../app.js';
import { registerEvents } from './events/index.js';
import { DiscordVoices } from './voice.js';

/** Gateway close code for intents the application is not allowed to use (Message Content). */
const DISALLOWED_INTENTS = 4014;

export class StartupError extends Error {
  override name = 'StartupError';
}

/**
 * The discord.js adapter: the client, its intents and caches, and its events (events/, one file
 * each) into the same services and command handlers as the console. Interactions go through the
 * one dispatcher; messages through UserMessageService (logging, then a bound persona's reply);
 * reactions on persona replies become scorecard votes.
 */
export async function startDiscord(app: App, log: Logger): Promise<{ client: Client; stop(): Promise<void> }> {
  const { token, applicationId, apiUrl } = app.config.discord;
  if (!token || !applicationId) throw new StartupError('DISCORD_TOKEN and DISCORD_APPLICATION_ID are needed for Discord');
  const client = new Client({
    intents: [
      GatewayIntentBits.Guilds,
      GatewayIntentBits.GuildMessages,
      GatewayIntentBits.MessageContent,
      GatewayIntentBits.GuildMessageReactions,
      GatewayIntentBits.DirectMessages,
    ],
    // Partials, so reactions on older (uncached) messages and DMs still arrive.
    partials: [Partials.Message, Partials.Channel, Partials.Reaction, Partials.User],
    // The bot never reads old messages from the cache (partials cover reactions), so keep few:
    // by default discord.js keeps 200 per channel, which grows with every persona thread.
    makeCache: Options.cacheWithLimits({ ...Options.DefaultMakeCacheSettings, MessageManager: 20 }),
    sweepers: { ...Options.DefaultSweeperSettings, messages: { interval: 300, lifetime: 900 } },
    ...(apiUrl ? { rest: { api: apiUrl } } : {}),
  });
  const voices = new DiscordVoices(client, log.child({ part: 'voice' }));
  registerEvents(client, { app, client, voices, log, credentials: { token, applicationId, apiUrl } });

  try {
    await client.login(token);
  } catch (err) {
    const code = (err as { code?: number | string }).code;
    const message = (err as Error).message ?? '';
    if (code === DISALLOWED_INTENTS || /disallowed intent/i.test(message)) {
      throw new StartupError(
        'Discord refused the Message Content intent (gateway close 4014). Turn on "Message Content Intent" under Bot → Privileged Gateway Intents in the Discord developer portal, then start the bot again.',
      );
    }
    if (/TokenInvalid|invalid token|401/i.test(message) || code === 'TokenInvalid') {
      throw new StartupError('Discord rejected DISCORD_TOKEN (invalid token). Copy the bot token again from the developer portal.');
    }
    throw err;
  }
  return {
    client,
    async stop() {
      await client.destroy();
    },
  };
}

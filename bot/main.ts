import path from 'node:path';
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { runConsole } from './console/console.js';
import { consoleStatusBoard } from './console/status-board.js';
import { discordStatusBoard } from './discord/status-board.js';
import { startDiscord, StartupError } from './discord/bot.js';
import { startHealthServer } from './health.js';
import { createLogger } from './core/logger.js';

/** Entry point of `npm start`: parse config, migrate, start services; drain on shutdown. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const consoleMode = !config.discord.token;
  // In console mode the terminal is the user interface: logs go to stderr, warnings and up only.
  const log = createLogger(consoleMode && config.logLevel === 'info' ? 'warn' : config.logLevel, undefined, consoleMode ? 2 : 1);
  const app = await createApp(config, { logger: log, watchPersonas: true });
  app.retention.start();
  const health = config.healthPort > 0 ? await startHealthServer(app, config.healthPort, config.healthHost) : undefined;
  const bound = health?.address();
  log.info(
    {
      database: app.database.kind,
      dataDir: config.dataDir,
      retentionDays: config.retention.days,
      policyVersion: app.consent.policyVersion,
      ...(bound && typeof bound === 'object' ? { health: `${bound.address}:${bound.port}` } : {}),
    },
    'persona-bot ready',
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, pending: app.writer.size }, 'shutting down: draining the writer queue');
    health?.close();
    await app.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  if (consoleMode) {
    app.finetune.attachBoard(consoleStatusBoard((text) => process.stdout.write(text), path.join(config.dataDir, 'attachments')));
    app.finetune.startReconciler();
    await runConsole(app, { input: process.stdin, output: process.stdout, log, userName: process.env.USER });
    await stop('console closed');
  } else {
    try {
      const discord = await startDiscord(app, log.child({ part: 'discord' }));
      // Jobs left running by an earlier process resume (and edit their status messages) once Discord is up.
      app.finetune.attachBoard(discordStatusBoard(discord.client));
      app.finetune.startReconciler();
      process.once('SIGTERM', () => void discord.stop());
    } catch (err) {
      if (!(err instanceof StartupError)) throw err;
      // Stay up and say why, instead of exiting into a restart loop that repeats the same failure.
      log.fatal(err.message);
      console.error(`\n${err.message}\nThe bot stays stopped until this is fixed and it is restarted.`);
    }
  }
}

main().catch((err) => {
  console.error('persona-bot failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});

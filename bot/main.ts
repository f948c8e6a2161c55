import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { startHealthServer } from './health.js';
import { createLogger } from './logger.js';

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
  const log = createLogger(config.logLevel);
  const app = await createApp(config, { logger: log });
  app.retention.start();
  const health = config.healthPort > 0 ? await startHealthServer(app, config.healthPort) : undefined;
  log.info(
    { database: app.database.kind, dataDir: config.dataDir, retentionDays: config.retention.days, policyVersion: app.consent.policyVersion },
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
}

main().catch((err) => {
  console.error('persona-bot failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});

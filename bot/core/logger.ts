import pino from 'pino';

/** Structured logs. Secrets and message content are redacted wherever they might appear. */
export function createLogger(level: string, name = 'persona-bot', fd: 1 | 2 = 1): pino.Logger {
  return pino(
    {
    name,
    level,
    redact: {
      paths: ['token', '*.token', 'password', '*.password', 'content', '*.content', 'messageKey', 'hmacKey', 'authorization', '*.authorization', 'headers.authorization'],
      censor: '[redacted]',
    },
    },
    pino.destination({ fd, sync: true }),
  );
}

export type Logger = pino.Logger;

import type { DestinationStream } from 'pino';
import pino from 'pino';

/**
 * Structured logs. Secrets and message content are redacted wherever they might appear, and
 * errors are logged through `loggableError`, never whole: a failed query's error carries its
 * parameters (drizzle puts them into the message and a `params` field), and those are the words
 * of the message being handled (lore search binds them), whoever sent it.
 */
export function createLogger(level: string, name = 'persona-bot', to: 1 | 2 | DestinationStream = 1): pino.Logger {
  return pino(
    {
      name,
      level,
      redact: {
        paths: ['token', '*.token', 'password', '*.password', 'content', '*.content', 'messageKey', 'hmacKey', 'authorization', '*.authorization', 'headers.authorization'],
        censor: '[redacted]',
      },
      serializers: { err: loggableError },
    },
    typeof to === 'number' ? pino.destination({ fd: to, sync: true }) : to,
  );
}

export type Logger = pino.Logger;

/** Fields of an error kept in logs: what says what failed, never what it failed on. */
const KEPT = ['code', 'errno', 'syscall', 'severity', 'status'] as const;

/**
 * An error as it may be logged: its type, message and stack without query parameters, a few
 * identifying fields (code, errno…) and its causes alike; every other field (drizzle's `params`
 * and `query`, postgres' `parameters` and `detail`…) is left out. Strings are cleaned the same way.
 */
export function loggableError(err: unknown, depth = 0): unknown {
  if (typeof err === 'string') return withoutParams(err);
  if (typeof err !== 'object' || err === null) return err;
  const e = err as Record<string, unknown> & { message?: unknown; stack?: unknown; cause?: unknown };
  const out: Record<string, unknown> = {};
  if (err instanceof Error) out.type = err.constructor.name;
  if (typeof e.message === 'string') out.message = withoutParams(e.message);
  for (const k of KEPT) if (typeof e[k] === 'string' || typeof e[k] === 'number') out[k] = e[k];
  if (typeof e.stack === 'string') out.stack = withoutParams(e.stack);
  if (e.cause !== undefined && depth < 4) out.cause = loggableError(e.cause, depth + 1);
  return out;
}

/** Drizzle's "Failed query: …\nparams: …" with the parameters taken out (they run to the stack's first frame, or the end). */
function withoutParams(text: string): string {
  return text.replace(/\nparams: [\s\S]*?(?=\n\s+at |$)/g, '\nparams: [redacted]');
}

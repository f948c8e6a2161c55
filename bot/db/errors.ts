/**
 * Which database errors mean "not right now" rather than "this is wrong": the connection went
 * away or could not be made (node's socket codes, postgres.js' own, SQLSTATE class 08), the server
 * is shutting down or starting (57P01–57P03), out of connections (53300), out of room or memory
 * (53100, 53200), read-only after a failover (25006), or a transaction lost a race (40001, 40P01).
 * Such an operation is retried later; any other error is the operation's own fault.
 */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '53100',
  '53200',
  '25006',
  '40001',
  '40P01',
]);

/** True when the error (or one of its causes: drizzle wraps the driver's) is a transient database error. */
export function isTransientDatabaseError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (TRANSIENT_CODES.has(code) || code.startsWith('08'))) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

import { ValidationError } from './errors.js';

const SNOWFLAKE = /^\d{17,20}$/;

/** Discord ids are snowflakes: 17–20 digits. Anything else is rejected before it reaches storage. */
/** The local console's pretend server: its data belongs to no Discord guild, so Discord never purges it. */
export const CONSOLE_GUILD_ID = '100000000000000001';

export function assertSnowflake(field: string, value: unknown): string {
  if (typeof value !== 'string' || !SNOWFLAKE.test(value)) {
    throw new ValidationError(field, `expected a Discord id (17-20 digits), got ${describe(value)}`);
  }
  return value;
}

export function assertOptionalSnowflake(field: string, value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return assertSnowflake(field, value);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 24 ? `a ${value.length}-character string` : JSON.stringify(value);
  return value === null ? 'null' : typeof value;
}

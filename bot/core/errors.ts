/**
 * "Denied" vs "errored": a UserFacingError is expected (bad input, missing permission, unknown
 * persona) and its message is shown to the user as is. Anything else is a bug: logged with
 * context, and the user gets a short apology.
 */
export class UserFacingError extends Error {
  override name = 'UserFacingError';

  /** What kind of denial this is, for code and logs (Sapphire-style identifiers); the class name unless given. */
  get identifier(): string {
    return this.name;
  }
}

/** A command's precondition said no (not allowed here, not for this user). */
export class PreconditionError extends UserFacingError {
  override name = 'PreconditionError';
  constructor(
    private readonly id: string,
    message: string,
  ) {
    super(message);
  }

  override get identifier(): string {
    return this.id;
  }
}

/** Bad input at a boundary. `field` names what was wrong. Nothing has been written. */
export class ValidationError extends UserFacingError {
  override name = 'ValidationError';
  constructor(
    public readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Bad or missing configuration: start-up stops with every problem, each naming its variable. */
export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\nSee .env.example for every variable and its form.`);
    this.name = 'ConfigError';
  }
}

/** What a user sees when something failed that is not their doing. */
export const APOLOGY = 'Sorry, something went wrong on my side. It has been logged; please try again later.';

/**
 * Denied (expected, shown to the user as is) or errored (a bug: the caller logs `error`, the user
 * sees the apology). The one place that tells them apart, for every transport and the dispatcher.
 */
export type Failure = { kind: 'denied'; identifier: string; message: string } | { kind: 'errored'; error: unknown; message: string };

export function classifyError(err: unknown): Failure {
  if (err instanceof UserFacingError) return { kind: 'denied', identifier: err.identifier, message: err.message };
  return { kind: 'errored', error: err, message: APOLOGY };
}

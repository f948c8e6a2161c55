/**
 * "Denied" vs "errored": a UserFacingError is expected (bad input, missing permission, unknown
 * persona) and its message is shown to the user as is. Anything else is a bug: logged with
 * context, and the user gets a short apology.
 */
export class UserFacingError extends Error {
  override name = 'UserFacingError';
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

import { UserFacingError } from '../bot/core/errors.js';
import type { Command, CommandContext } from './types.js';

/** The end of every subcommand switch: a subcommand the builder does not have (an outdated registration). */
export function unknownSubcommand(ctx: CommandContext): never {
  throw new UserFacingError(`Unknown subcommand: ${ctx.subcommand ?? '(none)'}`);
}

/** Persona names for a `name`/`persona` option, as the user types. */
export const autocompletePersona: NonNullable<Command['autocomplete']> = (focused, app) => app.personas.autocomplete(focused.value);

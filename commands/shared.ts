import { UserFacingError } from '../bot/core/errors.js';
import type { Command, CommandContext } from './types.js';

/** The end of every subcommand switch: a subcommand the builder does not have (an outdated registration). */
export function unknownSubcommand(ctx: CommandContext): never {
  throw new UserFacingError(`Unknown subcommand: ${ctx.subcommand ?? '(none)'}`);
}

/** Persona names for a `name`/`persona` option, as the user types. */
export const autocompletePersona: NonNullable<Command['autocomplete']> = (focused, app) => app.personas.autocomplete(focused.value);

/** When the database did not answer in time: the change is journaled, so it is not lost. */
export const SAVED_LATER = 'The database is not answering right now; the change is recorded and completes on its own as soon as it is back (a restart does not lose it).';

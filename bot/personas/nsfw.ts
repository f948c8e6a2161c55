import { PreconditionError } from '../core/errors.js';
import type { PersonaCard } from './card.js';

/** The identifier of a refusal by `nsfwRule`. */
export const PERSONA_NSFW = 'personaNsfw';

export type RuleResult = { ok: true } | { ok: false; identifier: string; message: string };

/**
 * A persona whose card says `nsfw: true` talks only in age-restricted channels. Checked when a
 * conversation opens (the /persona chat precondition) and again on every turn, so a card reloaded
 * as nsfw, or a channel that lost its age restriction, stops the answers at once.
 */
export function nsfwRule(card: PersonaCard, channel: { nsfw: boolean }): RuleResult {
  if (!card.nsfw || channel.nsfw) return { ok: true };
  return { ok: false, identifier: PERSONA_NSFW, message: `${card.name} is an age-restricted persona and only chats in age-restricted (NSFW) channels.` };
}

/** Throws the rule's refusal as a PreconditionError (shown to the user). */
export function assertAllowed(result: RuleResult): void {
  if (!result.ok) throw new PreconditionError(result.identifier, result.message);
}

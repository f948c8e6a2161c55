import type { OptionValue } from '../../commands/types.js';

/**
 * Stateless confirm buttons. Everything a click needs is in the button's custom id: the answer,
 * who may click, when it was asked, and which command, subcommand, action and options to run. So
 * the bot keeps nothing between the prompt and the click: the global interaction handler routes a
 * click whenever it comes (the moment the message exists, or after a restart), and checks the
 * clicking user and the age. Discord only accepts clicks on custom ids of components the bot put
 * on the message, so the id cannot be forged into another command; the action re-checks
 * permissions like the command itself (dispatch).
 *
 * Format: `cf:<y|n>:<userId>:<issued, base-36 ms>:<command>:<subcommand or ->:<action>[:<JSON options>]`.
 */

/** A confirm button older than this is refused (an interaction token's lifetime). */
export const CONFIRM_TTL_MS = 15 * 60_000;
/** Discord's limit on a custom id. */
export const MAX_CUSTOM_ID = 100;
const PREFIX = 'cf';

export interface ConfirmToken {
  answer: 'yes' | 'no';
  userId: string;
  issuedAt: number;
  command: string;
  subcommand: string | null;
  action: string;
  options: Record<string, OptionValue>;
}

const NAME = /^[\w-]{1,32}$/;

export function encodeConfirm(t: ConfirmToken): string {
  for (const [what, v] of [['command', t.command], ['subcommand', t.subcommand ?? '-'], ['action', t.action]] as const) {
    if (!NAME.test(v)) throw new Error(`confirm button: ${what} "${v}" is not a plain name`);
  }
  if (!/^\d{1,20}$/.test(t.userId)) throw new Error(`confirm button: user id "${t.userId}" is not a snowflake`);
  const parts = [PREFIX, t.answer === 'yes' ? 'y' : 'n', t.userId, t.issuedAt.toString(36), t.command, t.subcommand ?? '-', t.action];
  if (Object.keys(t.options).length > 0) parts.push(JSON.stringify(t.options));
  const id = parts.join(':');
  if (id.length > MAX_CUSTOM_ID) throw new Error(`confirm button: custom id of ${id.length} characters (options too long for Discord's ${MAX_CUSTOM_ID})`);
  return id;
}

/** The token in a custom id, or null when it is not one of ours (an older bot's button, another component). */
export function decodeConfirm(customId: string): ConfirmToken | null {
  const m = /^cf:([yn]):(\d{1,20}):([0-9a-z]{1,12}):([\w-]{1,32}):([\w-]{1,32}):([\w-]{1,32})(?::(\{.*\}))?$/.exec(customId);
  if (!m) return null;
  let options: Record<string, OptionValue> = {};
  if (m[7]) {
    try {
      const parsed: unknown = JSON.parse(m[7]);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
      if (!Object.values(parsed).every((v) => ['string', 'number', 'boolean'].includes(typeof v))) return null;
      options = parsed as Record<string, OptionValue>;
    } catch {
      return null;
    }
  }
  return {
    answer: m[1] === 'y' ? 'yes' : 'no',
    userId: m[2]!,
    issuedAt: parseInt(m[3]!, 36),
    command: m[4]!,
    subcommand: m[5] === '-' ? null : m[5]!,
    action: m[6]!,
    options,
  };
}

export type ClickVerdict = { ok: true; token: ConfirmToken } | { ok: false; answer: string };

/** Whether a click may run: our button, clicked by the user it was made for, not expired. */
export function judgeClick(customId: string, clickerId: string, now = Date.now()): ClickVerdict {
  const token = decodeConfirm(customId);
  if (!token) return { ok: false, answer: 'This button no longer works (it is from an older version of the bot): nothing was done. Run the command again.' };
  const again = `/${token.command}${token.subcommand ? ` ${token.subcommand}` : ''}`;
  if (token.userId !== clickerId) return { ok: false, answer: `This button belongs to whoever ran ${again}: nothing was done. Run ${again} yourself if you want it for you.` };
  if (now - token.issuedAt > CONFIRM_TTL_MS) {
    return { ok: false, answer: `This confirmation expired (buttons work for ${CONFIRM_TTL_MS / 60_000} minutes): nothing was done. Run ${again} again.` };
  }
  return { ok: true, token };
}

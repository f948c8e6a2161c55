import type { Logger } from 'pino';
import type { App } from '../bot/app.js';
import { classifyError, PreconditionError, UserFacingError } from '../bot/core/errors.js';
import { checkOptions, optionReader } from './options.js';
import { manageGuild } from './preconditions/manage-guild.js';
import type { Command, CommandContext, CommandRun, Precondition } from './types.js';

export type DispatchOutcome = { kind: 'ok' } | { kind: 'denied'; identifier: string; message: string } | { kind: 'errored'; error: unknown };

/** The preconditions of a command's subcommand, in order: Manage Server first, then the command's own. */
export function preconditionsOf(command: Command, subcommand: string | null): Precondition[] {
  const needsManage = command.manageGuild === true || (!!subcommand && (command.manageGuild ?? []).includes(subcommand));
  // Own keys only: a subcommand named "__proto__" or "constructor" (a payload, not the builder) has none.
  const own = (key: string) => (command.preconditions && Object.hasOwn(command.preconditions, key) ? command.preconditions[key]! : []);
  return [...(needsManage ? [manageGuild] : []), ...own('*'), ...(subcommand ? own(subcommand) : [])];
}

/**
 * Runs a command, in one place for every transport: the option values checked against the builder,
 * its preconditions, then `execute` (or, with
 * `confirmedAction`, the `confirmed[confirmedAction]` the user said yes to through ctx.confirm,
 * with the preconditions checked again). What fails is told apart by classifyError: denied (a
 * refused precondition, bad input: a UserFacingError) is shown to the user as is, ephemerally;
 * errored (anything else: a bug) is logged with context and the user gets a short apology.
 */
export async function dispatch(command: Command, ctx: CommandContext, app: App, log?: Logger, confirmedAction?: string): Promise<DispatchOutcome> {
  const run: CommandRun = { ...ctx, command: command.data.name, get: optionReader(ctx.options) };
  const where = `/${command.data.name}${ctx.subcommand ? ` ${ctx.subcommand}` : ''}`;
  try {
    checkOptions(command, ctx.subcommand, ctx.options); // types, ranges and lengths, as the builder declares them: before anything reads a value
    for (const precondition of preconditionsOf(command, ctx.subcommand)) {
      const result = await precondition.run(run, app);
      if (!result.ok) throw new PreconditionError(result.identifier, result.message);
    }
    if (confirmedAction === undefined) {
      await command.execute(run, app);
    } else {
      const confirmed = command.confirmed?.[confirmedAction];
      if (!confirmed) throw new UserFacingError(`This button no longer works: run ${where} again.`);
      await confirmed(run, app);
    }
    return { kind: 'ok' };
  } catch (err) {
    const failure = classifyError(err);
    if (failure.kind === 'errored') log?.error({ err, command: where, action: confirmedAction, transport: ctx.transport }, 'command failed');
    await safeReply(ctx, failure.message, log);
    return failure.kind === 'denied' ? failure : { kind: 'errored', error: failure.error };
  }
}

async function safeReply(ctx: CommandContext, content: string, log?: Logger): Promise<void> {
  try {
    await ctx.reply({ content, ephemeral: true });
  } catch (err) {
    log?.warn({ err }, 'could not deliver an error reply');
  }
}

import type { Logger } from 'pino';
import type { App } from '../bot/app.js';
import { UserFacingError } from '../bot/core/errors.js';
import type { Command, CommandContext } from './types.js';

export type DispatchOutcome = { kind: 'ok' } | { kind: 'denied'; message: string } | { kind: 'errored'; error: unknown };

/**
 * Runs a command, in one place for every transport. "Denied" (expected: a precondition or bad
 * input, a UserFacingError) is shown to the user as is, ephemerally. "Errored" (anything else:
 * a bug) is logged with context and the user gets a short apology, never a stack trace.
 * With `confirmedAction`, runs the command's `confirmed[confirmedAction]` instead of `execute`
 * (the user confirmed what the command asked with ctx.confirm).
 */
export async function dispatch(command: Command, ctx: CommandContext, app: App, log?: Logger, confirmedAction?: string): Promise<DispatchOutcome> {
  const where = `/${command.data.name}${ctx.subcommand ? ` ${ctx.subcommand}` : ''}`;
  try {
    const needsManage = command.manageGuild === true || (!!ctx.subcommand && (command.manageGuild ?? []).includes(ctx.subcommand));
    if (needsManage && !ctx.user.canManageGuild) {
      throw new UserFacingError(`You need the Manage Server permission to use ${where}.`);
    }
    if (confirmedAction === undefined) {
      await command.execute(ctx, app);
    } else {
      // The second half of a command that asked ctx.confirm: the user said yes (checks above run again).
      const run = command.confirmed?.[confirmedAction];
      if (!run) throw new UserFacingError(`This button no longer works: run ${where} again.`);
      await run(ctx, app);
    }
    return { kind: 'ok' };
  } catch (err) {
    if (err instanceof UserFacingError) {
      await safeReply(ctx, err.message, log);
      return { kind: 'denied', message: err.message };
    }
    log?.error({ err, command: where, action: confirmedAction, transport: ctx.transport }, 'command failed');
    await safeReply(ctx, 'Sorry, something went wrong on my side. It has been logged; please try again later.', log);
    return { kind: 'errored', error: err };
  }
}

async function safeReply(ctx: CommandContext, content: string, log?: Logger): Promise<void> {
  try {
    await ctx.reply({ content, ephemeral: true });
  } catch (err) {
    log?.warn({ err }, 'could not deliver an error reply');
  }
}

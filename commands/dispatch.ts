import type { Logger } from 'pino';
import type { App } from '../bot/app.js';
import { UserFacingError } from '../bot/services/errors.js';
import type { Command, CommandContext } from './types.js';

export type DispatchOutcome = { kind: 'ok' } | { kind: 'denied'; message: string } | { kind: 'errored'; error: unknown };

/**
 * Runs a command, in one place for every transport. "Denied" (expected: a precondition or bad
 * input, a UserFacingError) is shown to the user as is, ephemerally. "Errored" (anything else:
 * a bug) is logged with context and the user gets a short apology, never a stack trace.
 */
export async function dispatch(command: Command, ctx: CommandContext, app: App, log?: Logger): Promise<DispatchOutcome> {
  const where = `/${command.data.name}${ctx.subcommand ? ` ${ctx.subcommand}` : ''}`;
  try {
    const needsManage = command.manageGuild === true || (!!ctx.subcommand && (command.manageGuild ?? []).includes(ctx.subcommand));
    if (needsManage && !ctx.user.canManageGuild) {
      throw new UserFacingError(`You need the Manage Server permission to use ${where}.`);
    }
    await command.execute(ctx, app);
    return { kind: 'ok' };
  } catch (err) {
    if (err instanceof UserFacingError) {
      await safeReply(ctx, err.message, log);
      return { kind: 'denied', message: err.message };
    }
    log?.error({ err, command: where, transport: ctx.transport }, 'command failed');
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

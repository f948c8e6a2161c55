import type { Precondition } from '../types.js';

/** The user needs Manage Server (checked here too, not only by Discord's default permissions). */
export const manageGuild: Precondition = {
  name: 'manageGuild',
  run(ctx) {
    if (ctx.user.canManageGuild) return { ok: true };
    const where = `/${ctx.command}${ctx.subcommand ? ` ${ctx.subcommand}` : ''}`;
    return { ok: false, identifier: 'preconditionManageGuild', message: `You need the Manage Server permission to use ${where}.` };
  },
};

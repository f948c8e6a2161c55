import { PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { UserFacingError } from '../bot/core/errors.js';
import { SAVED_LATER, unknownSubcommand } from './shared.js';
import type { Command } from './types.js';

export const loggingCommand = {
  data: new SlashCommandBuilder()
    .setName('logging')
    .setDescription('Turn message logging on or off for this channel (threads follow their channel)')
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addSubcommand((s) => s.setName('on').setDescription('Log consented members’ messages in this channel'))
    .addSubcommand((s) => s.setName('off').setDescription('Stop logging in this channel'))
    .addSubcommand((s) => s.setName('status').setDescription('Is logging on in this channel?')),
  manageGuild: true,
  async execute(ctx, app) {
    if (!ctx.guildId) throw new UserFacingError('Logging is set per server channel: use this command in a server.');
    // A thread follows its parent channel; the switch lives on the parent.
    const channelId = ctx.channel.isThread && ctx.channel.parentId ? ctx.channel.parentId : ctx.channel.id;
    const where = ctx.channel.isThread ? 'this thread’s channel' : 'this channel';
    switch (ctx.subcommand) {
      case 'on':
      case 'off': {
        const on = ctx.subcommand === 'on';
        const { changed, saved } = await app.channels.set(ctx.guildId, channelId, on);
        const state = on && !saved ? 'Logging will be **on**' : `${changed ? 'Logging is now' : 'Logging was already'} **${on ? 'on' : 'off'}**`;
        const later = saved ? '' : on ? ' once the database answers (it is not answering right now).' : ` ${SAVED_LATER}`;
        await ctx.reply({
          ephemeral: true,
          content: `${state} in ${where}.${later}${on ? ' Only members who opted in with `/consent opt-in` are logged.' : ''}`,
        });
        return;
      }
      case 'status':
        await ctx.reply({ ephemeral: true, content: `Logging is **${app.channels.isOn(channelId) ? 'on' : 'off'}** in ${where}.` });
        return;
      default:
        unknownSubcommand(ctx);
    }
  },
} satisfies Command;

import { SlashCommandBuilder } from 'discord.js';
import { UserFacingError } from '../bot/core/errors.js';
import { SAVED_LATER, unknownSubcommand } from './shared.js';
import type { Command } from './types.js';

const STATE_TEXT = {
  opted_in: 'You are opted in: your messages in channels with logging on are stored.',
  opted_out: 'You are opted out: nothing new of yours is stored.',
  never: 'You have not opted in: nothing of yours is stored.',
  policy_outdated: 'The consent policy changed since you opted in, so logging of your messages is paused until you run `/consent opt-in` again.',
} as const;

export const consentCommand = {
  data: new SlashCommandBuilder()
    .setName('consent')
    .setDescription('Your consent to having your messages logged in this server')
    .addSubcommand((s) => s.setName('opt-in').setDescription('Allow logging of your messages in channels with logging on'))
    .addSubcommand((s) => s.setName('opt-out').setDescription('Stop logging your messages from now on'))
    .addSubcommand((s) => s.setName('status').setDescription('What is stored about you here'))
    .addSubcommand((s) => s.setName('forget').setDescription('Erase everything stored about you, in every server')),
  async execute(ctx, app) {
    const needGuild = () => {
      if (!ctx.guildId) throw new UserFacingError('Consent is per server: use this command in a server channel.');
      return ctx.guildId;
    };
    switch (ctx.subcommand) {
      case 'opt-in': {
        const r = await app.consent.optIn(needGuild(), ctx.user.id);
        await ctx.reply({
          ephemeral: true,
          content: `${r.alreadyIn ? 'You were already opted in' : r.saved ? 'You are now opted in' : 'Your opt-in is being saved (the database is slow to answer right now); logging starts once it is saved'} (consent policy v${r.policyVersion}).\n\n${r.policyText}`,
        });
        return;
      }
      case 'opt-out': {
        const r = await app.consent.optOut(needGuild(), ctx.user.id);
        await ctx.reply({
          ephemeral: true,
          content: r.wasIn
            ? `Done: nothing new of yours will be stored here.${r.saved ? '' : ` ${SAVED_LATER}`} What is already stored stays until it expires; \`/consent forget\` erases it now.`
            : 'You were not opted in, so nothing of yours is being stored here.',
        });
        return;
      }
      case 'status': {
        const s = await app.consent.status(needGuild(), ctx.user.id);
        await ctx.reply({
          ephemeral: true,
          content: `${STATE_TEXT[s.state]}\nPolicy: ${s.policyVersion ? `v${s.policyVersion}` : 'none'} (current v${s.currentPolicyVersion}). Messages of yours stored in this server: ${s.storedMessages}. They are deleted after ${app.config.retention.days} days.`,
        });
        return;
      }
      case 'forget': {
        // Stateless: the erase runs in `confirmed.forget` when the user says yes (on Discord, a
        // button that works whenever it is clicked, even after a restart).
        await ctx.confirm({
          action: 'forget',
          prompt:
            'This erases every message, reaction and dataset line of yours in every server this bot is in, and ends your consent. It cannot be undone. (A model already trained on your messages is not retrained; the next training excludes you.)',
          label: 'Erase my data',
        });
        return;
      }
      default:
        unknownSubcommand(ctx);
    }
  },
  confirmed: {
    async forget(ctx, app) {
      const c = await app.consent.forget(ctx.user.id);
      if (!c) {
        await ctx.reply({ ephemeral: true, content: `Nothing new of yours is stored from now on, and your data is being erased in every server. ${SAVED_LATER}` });
        return;
      }
      await ctx.reply({
        ephemeral: true,
        content: `Erased: ${c.messages} messages, ${c.reactions} reactions, ${c.datasetLines} dataset lines, ${c.personaReplies} persona replies to you, ${c.consents} consent records. You are no longer opted in anywhere.`,
      });
    },
  },
} satisfies Command;

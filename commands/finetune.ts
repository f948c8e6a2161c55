import { PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { shortId } from '../bot/services/finetune/jobs.js';
import { autocompletePersona, unknownSubcommand } from './shared.js';
import type { Command } from './types.js';

/** /finetune: start a training job (its live status message follows), check, list and cancel jobs. */
export const finetuneCommand = {
  data: new SlashCommandBuilder()
    .setName('finetune')
    .setDescription('Train a persona’s LoRA adapter (Manage Server)')
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addSubcommand((s) =>
      s
        .setName('start')
        .setDescription('Snapshot the dataset and start a training job')
        .addStringOption((o) => o.setName('persona').setDescription('Persona').setRequired(true).setAutocomplete(true).setMaxLength(100))
        .addIntegerOption((o) => o.setName('epochs').setDescription('Passes over the dataset (1-10)').setMinValue(1).setMaxValue(10))
        .addNumberOption((o) => o.setName('learning_rate').setDescription('Learning rate (1e-6 to 1e-2)').setMinValue(1e-6).setMaxValue(1e-2))
        .addIntegerOption((o) => o.setName('rank').setDescription('LoRA rank (4-128)').setMinValue(4).setMaxValue(128))
        .addStringOption((o) => o.setName('base_model').setDescription('Base model (default: the persona’s)').setMaxLength(100)),
    )
    .addSubcommand((s) =>
      s
        .setName('status')
        .setDescription('A training job’s progress')
        .addStringOption((o) => o.setName('job').setDescription('Job id (default: the latest)').setMaxLength(64)),
    )
    .addSubcommand((s) => s.setName('list').setDescription('Recent training jobs'))
    .addSubcommand((s) =>
      s
        .setName('cancel')
        .setDescription('Cancel a training job')
        .addStringOption((o) => o.setName('job').setDescription('Job id').setRequired(true).setMaxLength(64)),
    ),
  manageGuild: true,
  async execute(ctx, app) {
    switch (ctx.subcommand) {
      case 'start': {
        const card = app.personas.get(ctx.get.string('persona', true));
        await ctx.defer({ ephemeral: true });
        const job = await app.finetune.start({
          card,
          options: { epochs: ctx.get.integer('epochs'), learning_rate: ctx.get.number('learning_rate'), rank: ctx.get.integer('rank'), base_model: ctx.get.string('base_model') },
          guildId: ctx.guildId,
          channelId: ctx.channel.id,
        });
        await ctx.reply({
          ephemeral: true,
          content: `Training job \`${shortId(job.id)}\` for ${card.name} has started on ${job.baseModel}. Its status message in this channel updates as it trains; \`/finetune cancel job:${shortId(job.id)}\` stops it.`,
        });
        return;
      }
      case 'status': {
        const job = await app.finetune.find(ctx.guildId, ctx.get.string('job'));
        const curve = ['succeeded', 'failed', 'cancelled'].includes(job.status) ? await app.finetune.lossCurve(job) : null;
        await ctx.reply({ ephemeral: true, content: app.finetune.describe(job), files: curve ? [{ name: `loss-${shortId(job.id)}.png`, data: curve, description: 'loss by step' }] : [] });
        return;
      }
      case 'list': {
        const jobs = await app.finetune.list(ctx.guildId);
        if (jobs.length === 0) {
          await ctx.reply({ ephemeral: true, content: 'No training jobs yet. Start one with `/finetune start persona:`.' });
          return;
        }
        const lines = jobs.map((j) => {
          const name = app.personas.find(j.personaSlug)?.name ?? j.personaSlug;
          const step = j.progress?.totalSteps ? ` (step ${j.progress.step ?? 0}/${j.progress.totalSteps})` : '';
          return `\`${shortId(j.id)}\` ${name}: ${j.status}${step}, ${j.baseModel}, started ${j.createdAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
        });
        await ctx.reply({ ephemeral: true, content: ['Recent training jobs:', ...lines].join('\n').slice(0, 1990) });
        return;
      }
      case 'cancel': {
        const { message } = await app.finetune.cancel(ctx.guildId, ctx.get.string('job', true));
        await ctx.reply({ ephemeral: true, content: message });
        return;
      }
      default:
        unknownSubcommand(ctx);
    }
  },
  autocomplete: autocompletePersona,
} satisfies Command;

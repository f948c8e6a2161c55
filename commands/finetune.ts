import { PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import type { Command } from './types.js';

/** Registered with its contract options now; the training pipeline arrives with its issue. */
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
  async execute(ctx) {
    await ctx.reply({ ephemeral: true, content: 'Fine-tuning is not available yet in this version of the bot.' });
  },
  autocomplete(focused, app) {
    return app.personas.autocomplete(focused.value);
  },
} satisfies Command;

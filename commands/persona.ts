import { SlashCommandBuilder } from 'discord.js';
import { UserFacingError, ValidationError } from '../bot/core/errors.js';
import { describeEvaluations, describeMetrics, type EvaluationMetrics, isEvaluation, PROMPT_ONLY } from '../bot/services/evaluation.js';
import { renderScorecardPng, unvotedScore } from '../bot/services/scorecard.js';
import { summarize } from '../bot/dataset/stats.js';
import { DatasetSourceError } from '../bot/dataset/errors.js';
import type { PersonaVersion } from '../bot/services/persona-versions.js';
import { personaNsfw } from './preconditions/persona-nsfw.js';
import { autocompletePersona, unknownSubcommand } from './shared.js';
import type { Command } from './types.js';

/** Version numbers are Postgres integers (persona_versions.version): a larger one is refused as an option, not by the database. */
const MAX_VERSION = 2_147_483_647;

export const personaCommand = {
  data: new SlashCommandBuilder()
    .setName('persona')
    .setDescription('Chat with the server’s characters')
    .addSubcommand((s) => s.setName('list').setDescription('Personas and their active version'))
    .addSubcommand((s) =>
      s
        .setName('info')
        .setDescription('A persona’s card, model and versions')
        .addStringOption((o) => o.setName('name').setDescription('Persona').setRequired(true).setAutocomplete(true).setMaxLength(100)),
    )
    .addSubcommand((s) =>
      s
        .setName('chat')
        .setDescription('Start a conversation with a persona in a thread')
        .addStringOption((o) => o.setName('name').setDescription('Persona').setRequired(true).setAutocomplete(true).setMaxLength(100))
        .addStringOption((o) => o.setName('message').setDescription('Your first message (otherwise the persona greets you)').setMaxLength(2000)),
    )
    .addSubcommand((s) => s.setName('end').setDescription('End the conversation in this thread'))
    .addSubcommand((s) =>
      s
        .setName('scorecard')
        .setDescription('Reaction scores per persona version')
        .addStringOption((o) => o.setName('name').setDescription('Persona').setRequired(true).setAutocomplete(true).setMaxLength(100)),
    )
    .addSubcommand((s) =>
      s
        .setName('dataset')
        .setDescription('Build the persona’s training dataset now and show its statistics (Manage Server)')
        .addStringOption((o) => o.setName('name').setDescription('Persona').setRequired(true).setAutocomplete(true).setMaxLength(100)),
    )
    .addSubcommand((s) =>
      s
        .setName('rollback')
        .setDescription('Make an earlier version of a persona active (Manage Server)')
        .addStringOption((o) => o.setName('name').setDescription('Persona').setRequired(true).setAutocomplete(true).setMaxLength(100))
        .addIntegerOption((o) => o.setName('version').setDescription('Version number (0: back to prompt-only)').setRequired(true).setMinValue(0).setMaxValue(MAX_VERSION)),
    )
    .addSubcommand((s) =>
      s
        .setName('eval')
        .setDescription('Evaluate a version against prompt-only on the card’s eval prompts (Manage Server)')
        .addStringOption((o) => o.setName('name').setDescription('Persona').setRequired(true).setAutocomplete(true).setMaxLength(100))
        .addIntegerOption((o) => o.setName('version').setDescription('Version number (default: the active one; 0: prompt-only)').setMinValue(0).setMaxValue(MAX_VERSION)),
    ),
  manageGuild: ['dataset', 'rollback', 'eval'],
  preconditions: { chat: [personaNsfw] },
  async execute(ctx, app) {
    switch (ctx.subcommand) {
      case 'list': {
        const cards = app.personas.list();
        if (cards.length === 0) {
          await ctx.reply('No personas yet: add a character card to persona-data/.');
          return;
        }
        const active = await app.versions.activeBySlug();
        const shown = (slug: string) => {
          const v = active.get(slug);
          return v ? `v${v.version} (${v.servedModel})` : 'base model, prompt only';
        };
        await ctx.reply(cards.map((c) => `**${c.name}**${c.nsfw ? ' (age-restricted)' : ''}: ${shown(c.slug)}`).join('\n'));
        return;
      }
      case 'info': {
        const card = app.personas.get(ctx.get.string('name', true));
        const versions = await app.versions.list(card.slug);
        const active = await app.versions.active(card.slug);
        const lines = [
          `**${card.name}**${card.tags.length ? ` (${card.tags.join(', ')})` : ''}`,
          card.personality.split('\n').join(' ').slice(0, 300),
          `Greeting: “${card.greeting}”`,
          `Lore sections: ${card.lore.map((s) => s.title).join(', ') || 'none'}; example dialogues: ${card.examples.length}; eval prompts: ${card.evalPrompts.length}`,
          `Model: ${active?.servedModel ?? `${card.model.base ?? app.config.inference.baseModel} (base model, prompt only)`}`,
          versions.length
            ? `Versions:\n${versions.map((v) => `- v${v.version}${v.id === active?.id ? ' (active)' : ''}: ${describeVersion(v)}`).join('\n')}`
            : 'Versions: none trained yet.',
        ];
        await ctx.reply(lines.join('\n'));
        return;
      }
      case 'chat': {
        const card = app.personas.get(ctx.get.string('name', true));
        const first = ctx.get.string('message')?.trim();
        app.chat.admit(ctx.user.id); // with or without a message, and before a thread is opened: the rate limit holds
        await ctx.defer();
        const place = ctx.channel.isThread ? { channelId: ctx.channel.id, parentId: ctx.channel.parentId } : await ctx.openThread(`${card.name} and ${ctx.user.name}`.slice(0, 100));
        const conversation = await app.chat.open({ guildId: ctx.guildId, channelId: place.channelId, persona: card, channelIsNsfw: ctx.channel.nsfw });
        await ctx.reply(`${card.name} is here${place.channelId !== ctx.channel.id ? ' in a new thread' : ''}. Every message there gets an answer; \`/persona end\` closes it.`);
        const voice = ctx.voice(place);
        if (first) {
          await app.chat.respond({ conversation, user: { id: ctx.user.id, name: ctx.user.name }, text: first, voice, parentChannelId: place.parentId, admitted: true });
        } else {
          await app.chat.greet(conversation, voice, ctx.user.name);
        }
        return;
      }
      case 'end': {
        const ended = await app.chat.end(ctx.channel.id);
        if (!ended) throw new UserFacingError('There is no persona conversation here.');
        await ctx.reply(`The conversation with ${app.personas.find(ended.personaSlug)?.name ?? ended.personaSlug} has ended.`);
        return;
      }
      case 'scorecard': {
        const card = app.personas.get(ctx.get.string('name', true));
        await app.writer.drainPoint(); // count reactions already accepted
        const voted = await app.scorecards.scores(card.slug);
        // Beside the votes, each version's latest automatic evaluation; an evaluated version
        // nobody has talked to yet still gets its column.
        const candidates = [unvotedScore(PROMPT_ONLY, null), ...(await app.versions.list(card.slug)).map((v) => unvotedScore(v.version, v.id))];
        const evaluations = new Map<number, EvaluationMetrics>();
        await Promise.all(
          candidates.map(async (c) => {
            const row = await app.evaluation.latest(card, c.version);
            if (row) evaluations.set(c.version, row.metrics);
          }),
        );
        const scores = [...voted, ...candidates.filter((c) => evaluations.has(c.version) && !voted.some((s) => s.version === c.version))].sort((a, b) => a.version - b.version);
        if (scores.length === 0) {
          await ctx.reply(`${card.name} has no replies and no evaluation yet, so there is nothing to score.`);
          return;
        }
        const pct = (x: number) => (Number.isNaN(x) ? '–' : `${Math.round(x * 100)}%`);
        const lines = scores.map((s) => {
          const measured = evaluations.get(s.version);
          return `**${s.label}**: ${s.replies} replies, ${s.up + s.down} votes, 👍 ${pct(s.upRate)} (95% CI ${pct(s.upLow)}–${pct(s.upHigh)}), 👎 ${pct(s.downRate)}${measured ? ` · evaluation: ${describeMetrics(measured)}` : ''}`;
        });
        await ctx.reply({
          content: [`Scorecard for ${card.name} (reactions on its replies, and the latest automatic evaluation):`, ...lines].join('\n'),
          files: [{ name: `${card.slug}-scorecard.png`, data: renderScorecardPng(card.name, scores, evaluations), description: `${card.name} scorecard` }],
        });
        return;
      }
      case 'dataset': {
        const card = app.personas.get(ctx.get.string('name', true));
        await ctx.defer({ ephemeral: true });
        let build;
        try {
          build = await app.dataset.build(card, { guildId: ctx.guildId }); // this server's chat logs only
        } catch (err) {
          if (err instanceof DatasetSourceError) throw new UserFacingError(`The dataset could not be built: ${err.message}`);
          throw err;
        }
        let data: Buffer;
        try {
          data = Buffer.from(build.export('messages'));
        } finally {
          build.close();
        }
        const fits = data.length <= 8 * 2 ** 20; // Discord's attachment limit
        await ctx.reply({
          ephemeral: true,
          content: `${summarize(build)}${fits ? '' : '\n(The file is too large to attach: use `npm run dataset`.)'}`.slice(0, 1990),
          files: fits ? [{ name: `${card.slug}-dataset-v${build.versionId}.jsonl`, data, description: 'messages JSONL (train and eval)' }] : [],
        });
        return;
      }
      case 'rollback': {
        const card = app.personas.get(ctx.get.string('name', true));
        const version = ctx.get.integer('version', true);
        if (version < 0) throw new ValidationError('version', 'expected a version number (0 for prompt-only, or 1 or more)');
        const row = await app.finetune.activate(card, version);
        await ctx.reply(row ? `${card.name} now answers through v${row.version} (${row.servedModel}).` : `${card.name} now answers prompt-only (the base model with its card).`);
        return;
      }
      case 'eval': {
        const card = app.personas.get(ctx.get.string('name', true));
        const asked = ctx.get.integer('version');
        if (asked !== undefined && asked < 0) throw new ValidationError('version', 'expected a version number (0 for prompt-only, or 1 or more)');
        await ctx.defer({ ephemeral: true });
        const rows = await app.evaluation.compareWithPromptOnly(card, asked);
        await ctx.reply({ ephemeral: true, content: [`Evaluation of ${card.name} (same probes, seeds and sampling for each):`, describeEvaluations(rows)].join('\n').slice(0, 1990) });
        return;
      }
      default:
        unknownSubcommand(ctx);
    }
  },
  autocomplete: autocompletePersona,
} satisfies Command;

/** One line per version: model, date, eval loss, the hyperparameters users chose, the dataset. */
function describeVersion(v: PersonaVersion): string {
  const m = v.metrics ?? {};
  const h = v.hyperparameters ?? {};
  const num = (x: unknown) => (typeof x === 'number' ? x : undefined);
  const evalLoss = num(m.best_eval_loss);
  const initial = num(m.initial_eval_loss);
  return [
    `${v.servedModel}, ${v.createdAt.toISOString().slice(0, 10)}`,
    evalLoss !== undefined ? `eval loss ${initial !== undefined ? `${initial.toFixed(3)} → ` : ''}${evalLoss.toFixed(3)}` : null,
    `epochs ${String(h.epochs ?? '?')}, lr ${String(h.learning_rate ?? '?')}, rank ${String(h.rank ?? '?')}`,
    isEvaluation(m.evaluation) ? `evaluation: ${describeMetrics(m.evaluation)}` : null,
    v.datasetVersionId !== null ? `dataset ${v.datasetVersionId}${typeof m.dataset_hash === 'string' ? ` (${m.dataset_hash.slice(0, 12)})` : ''}` : null,
  ]
    .filter(Boolean)
    .join(', ');
}

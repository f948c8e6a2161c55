import { Events, MessageFlags, type ButtonInteraction } from 'discord.js';
import { dispatch } from '../../../commands/dispatch.js';
import { findCommand } from '../../../commands/index.js';
import { judgeClick } from '../confirm.js';
import { confirmedContext, interactionContext } from '../context.js';
import type { DiscordDeps, DiscordEvent } from './event.js';

/** Slash commands go through the one dispatcher; autocomplete and confirm buttons are answered here. */
export const interactionCreate = {
  name: Events.InteractionCreate,
  async execute(deps, interaction) {
    const { app, voices, log } = deps;
    if (interaction.isAutocomplete()) {
      const command = findCommand(interaction.commandName);
      const focused = interaction.options.getFocused(true);
      await interaction.respond(command?.autocomplete?.({ name: focused.name, value: String(focused.value) }, app) ?? []);
      return;
    }
    if (interaction.isButton()) return onButton(deps, interaction);
    if (!interaction.isChatInputCommand()) return;
    const command = findCommand(interaction.commandName);
    if (!command) return void (await interaction.reply({ content: 'Unknown command.', flags: MessageFlags.Ephemeral }));
    const ctx = interactionContext(interaction, voices);
    try {
      await dispatch(command, ctx, app, log);
    } finally {
      ctx.dispose();
    }
  },
} satisfies DiscordEvent<Events.InteractionCreate>;

/**
 * Confirm buttons are stateless (confirm.ts): whatever the click needs is in its custom id, so
 * it works the moment the prompt exists and after a restart. A click that may not run gets an
 * ephemeral answer saying why.
 */
async function onButton({ app, voices, log }: DiscordDeps, click: ButtonInteraction): Promise<void> {
  const verdict = judgeClick(click.customId, click.user.id);
  const command = verdict.ok ? findCommand(verdict.token.command) : undefined;
  if (!verdict.ok || !command) {
    const answer = verdict.ok ? 'This button no longer works: nothing was done. Run the command again.' : verdict.answer;
    await click.reply({ content: answer, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
    return;
  }
  const prompt = click.message.content;
  // Answer the click at once (its own 3-second window) and take the buttons away.
  if (verdict.token.answer === 'no') {
    await click.update({ content: `${prompt}\n\n**Cancelled**: nothing was done.`, components: [], allowedMentions: { parse: [] } });
    return;
  }
  await click.update({ content: `${prompt}\n\n**Confirmed.**`, components: [], allowedMentions: { parse: [] } });
  // The command's confirmed action; its answers are follow-ups of the click.
  await dispatch(command, confirmedContext(click, verdict.token, voices), app, log, verdict.token.action);
}

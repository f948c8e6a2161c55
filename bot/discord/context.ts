import {
  ActionRowBuilder,
  AttachmentBuilder,
  ButtonBuilder,
  ButtonStyle,
  ChannelType,
  MessageFlags,
  PermissionFlagsBits,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type CommandInteractionOption,
} from 'discord.js';
import type { CommandContext, OptionValue, Reply } from '../../commands/types.js';
import { UserFacingError } from '../core/errors.js';
import { channelFacts } from './channels.js';
import { encodeConfirm, type ConfirmToken } from './confirm.js';
import type { DiscordVoices } from './voice.js';

/** Discord answers "interaction failed" after 3 s: defer before that if the command is still working. */
const AUTO_DEFER_MS = 2200;

function flattenOptions(options: readonly CommandInteractionOption[], out: Record<string, OptionValue | undefined> = Object.create(null)): Record<string, OptionValue | undefined> {
  // No prototype: an option named "__proto__" is an own key (refused by dispatch as undeclared), not the object's prototype.
  for (const o of options) {
    if (o.options) flattenOptions(o.options, out);
    else if (o.value !== undefined) out[o.name] = o.value;
  }
  return out;
}

export type DiscordContext = CommandContext & { dispose(): void };

/** The discord.js adapter side of the transport-agnostic CommandContext, for a slash command. */
export function interactionContext(interaction: ChatInputCommandInteraction, voices: DiscordVoices): DiscordContext {
  const autoDefer = setTimeout(() => {
    if (!interaction.replied && !interaction.deferred) void interaction.deferReply({ flags: MessageFlags.Ephemeral }).catch(() => {});
  }, AUTO_DEFER_MS);
  return buildContext(interaction, voices, {
    command: interaction.commandName,
    subcommand: interaction.options.getSubcommand(false),
    options: flattenOptions(interaction.options.data),
    autoDefer,
  });
}

/**
 * The context for a command's confirmed action: from the click on a "yes" button, which the
 * caller has already acknowledged (by updating the prompt), so replies are follow-ups. Subcommand
 * and options come from the button's custom id.
 */
export function confirmedContext(click: ButtonInteraction, token: ConfirmToken, voices: DiscordVoices): DiscordContext {
  return buildContext(click, voices, { command: token.command, subcommand: token.subcommand, options: token.options });
}

function buildContext(
  interaction: ChatInputCommandInteraction | ButtonInteraction,
  voices: DiscordVoices,
  invocation: { command: string; subcommand: string | null; options: Record<string, OptionValue | undefined>; autoDefer?: NodeJS.Timeout },
): DiscordContext {
  const channel = interaction.channel;
  const { parentId, isThread, nsfw } = channelFacts(channel);
  const autoDefer = invocation.autoDefer;

  const toPayload = (r: Reply) => ({
    content: r.content,
    files: r.files?.map((f) => new AttachmentBuilder(f.data, { name: f.name, description: f.description })),
    allowedMentions: { parse: [] as never[] },
  });

  const ctx: DiscordContext = {
    transport: 'discord',
    user: {
      id: interaction.user.id,
      name: (interaction.member && 'displayName' in interaction.member ? interaction.member.displayName : null) ?? interaction.user.globalName ?? interaction.user.username,
      canManageGuild: !!interaction.inGuild() && !!interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild),
    },
    guildId: interaction.guildId,
    channel: { id: interaction.channelId, parentId, nsfw, isThread, isDM: !interaction.inGuild() },
    subcommand: invocation.subcommand,
    options: invocation.options,
    async reply(r) {
      const reply = typeof r === 'string' ? { content: r } : r;
      clearTimeout(autoDefer);
      if (interaction.deferred && !interaction.replied) {
        // The first answer after a defer replaces the "thinking…" message (its visibility was fixed at defer time).
        await interaction.editReply(toPayload(reply));
      } else if (interaction.replied) {
        await interaction.followUp({ ...toPayload(reply), flags: reply.ephemeral ? MessageFlags.Ephemeral : undefined });
      } else {
        await interaction.reply({ ...toPayload(reply), flags: reply.ephemeral ? MessageFlags.Ephemeral : undefined });
      }
    },
    async defer(opts) {
      clearTimeout(autoDefer);
      if (interaction.deferred || interaction.replied) return;
      await interaction.deferReply({ flags: opts?.ephemeral ? MessageFlags.Ephemeral : undefined });
    },
    async confirm({ prompt, label, action }) {
      clearTimeout(autoDefer);
      // Stateless buttons: the click is routed by its custom id (bot.ts), whenever it comes.
      const options: Record<string, OptionValue> = {};
      for (const [k, v] of Object.entries(invocation.options)) if (v !== undefined) options[k] = v;
      const token = { userId: interaction.user.id, issuedAt: Date.now(), command: invocation.command, subcommand: invocation.subcommand, action, options };
      const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
        new ButtonBuilder().setCustomId(encodeConfirm({ ...token, answer: 'yes' })).setLabel(label.slice(0, 80)).setStyle(ButtonStyle.Danger),
        new ButtonBuilder().setCustomId(encodeConfirm({ ...token, answer: 'no' })).setLabel('Cancel').setStyle(ButtonStyle.Secondary),
      );
      const payload = { content: prompt, components: [row], allowedMentions: { parse: [] as never[] }, flags: MessageFlags.Ephemeral as const };
      if (interaction.deferred || interaction.replied) await interaction.followUp(payload);
      else await interaction.reply(payload);
    },
    async openThread(name) {
      // In a DM the conversation is the DM itself; the persona answers as plain bot messages.
      if (!interaction.inGuild()) return { channelId: interaction.channelId, parentId: null };
      if (!channel || channel.type !== ChannelType.GuildText) {
        throw new UserFacingError('Persona conversations start in a server text channel (or in a thread).');
      }
      const thread = await channel.threads.create({ name: name.slice(0, 100), autoArchiveDuration: 1440, reason: 'persona conversation' });
      return { channelId: thread.id, parentId: channel.id };
    },
    voice: (target) => voices.voice(target),
    dispose() {
      clearTimeout(autoDefer);
    },
  };
  return ctx;
}

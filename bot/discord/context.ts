import {
  ActionRowBuilder,
  AttachmentBuilder,
  ButtonBuilder,
  ButtonStyle,
  ChannelType,
  MessageFlags,
  PermissionFlagsBits,
  type ChatInputCommandInteraction,
  type CommandInteractionOption,
} from 'discord.js';
import type { CommandContext, OptionValue, Reply } from '../../commands/types.js';
import { UserFacingError } from '../services/errors.js';
import type { DiscordVoices } from './voice.js';

/** Discord answers "interaction failed" after 3 s: defer before that if the command is still working. */
const AUTO_DEFER_MS = 2200;

function flattenOptions(options: readonly CommandInteractionOption[]): Record<string, OptionValue | undefined> {
  const out: Record<string, OptionValue | undefined> = {};
  for (const o of options) {
    if (o.options) Object.assign(out, flattenOptions(o.options));
    else if (o.value !== undefined) out[o.name] = o.value;
  }
  return out;
}

/** The discord.js adapter side of the transport-agnostic CommandContext. */
export function interactionContext(interaction: ChatInputCommandInteraction, voices: DiscordVoices): CommandContext & { dispose(): void } {
  const channel = interaction.channel;
  const isThread = !!channel && channel.isThread();
  const parentId = isThread ? channel.parentId : null;
  const nsfw = !!channel && ('nsfw' in channel ? !!channel.nsfw : isThread && !!channel.parent && 'nsfw' in channel.parent && !!channel.parent.nsfw);
  const autoDefer = setTimeout(() => {
    if (!interaction.replied && !interaction.deferred) void interaction.deferReply({ flags: MessageFlags.Ephemeral }).catch(() => {});
  }, AUTO_DEFER_MS);

  const toPayload = (r: Reply) => ({
    content: r.content,
    files: r.files?.map((f) => new AttachmentBuilder(f.data, { name: f.name, description: f.description })),
    allowedMentions: { parse: [] as never[] },
  });

  const ctx: CommandContext & { dispose(): void } = {
    transport: 'discord',
    user: {
      id: interaction.user.id,
      name: (interaction.member && 'displayName' in interaction.member ? interaction.member.displayName : null) ?? interaction.user.globalName ?? interaction.user.username,
      canManageGuild: !!interaction.inGuild() && !!interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild),
    },
    guildId: interaction.guildId,
    channel: { id: interaction.channelId, parentId, nsfw, isThread, isDM: !interaction.inGuild() },
    subcommand: interaction.options.getSubcommand(false),
    options: flattenOptions(interaction.options.data),
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
    async confirm(prompt, label) {
      clearTimeout(autoDefer);
      const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
        new ButtonBuilder().setCustomId('confirm').setLabel(label).setStyle(ButtonStyle.Danger),
        new ButtonBuilder().setCustomId('cancel').setLabel('Cancel').setStyle(ButtonStyle.Secondary),
      );
      const payload = { content: prompt, components: [row], flags: MessageFlags.Ephemeral as const, withResponse: true as const };
      const sent = interaction.deferred || interaction.replied ? await interaction.followUp({ content: prompt, components: [row], flags: MessageFlags.Ephemeral }) : (await interaction.reply(payload)).resource?.message;
      if (!sent) return false;
      try {
        const click = await sent.awaitMessageComponent({ filter: (i) => i.user.id === interaction.user.id, time: 120_000 });
        // Acknowledge the click at once (its own 3-second window); the outcome arrives as a follow-up.
        await click.update({ content: click.customId === 'confirm' ? `${prompt}\n\n**Confirmed.**` : `${prompt}\n\n**Cancelled.**`, components: [] });
        return click.customId === 'confirm';
      } catch {
        await interaction.editReply({ content: `${prompt}\n\nNo answer within 2 minutes: nothing was done.`, components: [] }).catch(() => {});
        return false;
      }
    },
    async openThread(name) {
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

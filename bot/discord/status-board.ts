import { AttachmentBuilder, type Client } from 'discord.js';
import type { StatusBoard } from '../services/finetune/status.js';

/** Training status as one bot message per job in the channel where /finetune start was used, edited in place. */
export function discordStatusBoard(client: Client): StatusBoard {
  const channel = async (id: string) => {
    const ch = await client.channels.fetch(id);
    if (!ch?.isSendable()) throw new Error(`channel ${id} cannot receive messages`);
    return ch;
  };
  return {
    async post(channelId, text) {
      const message = await (await channel(channelId)).send({ content: text, allowedMentions: { parse: [] } });
      return message.id;
    },
    async edit(channelId, messageId, text, files) {
      const ch = await channel(channelId);
      if (!('messages' in ch)) throw new Error(`channel ${channelId} has no messages`);
      await ch.messages.edit(messageId, {
        content: text,
        allowedMentions: { parse: [] },
        ...(files ? { files: files.map((f) => new AttachmentBuilder(f.data, { name: f.name })) } : {}),
      });
    },
  };
}

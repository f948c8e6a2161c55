import type { Channel } from 'discord.js';

/** What the bot needs to know of a channel: its parent (for threads), and whether it is age-restricted (a thread follows its parent). */
export function channelFacts(channel: Channel | null): { parentId: string | null; isThread: boolean; nsfw: boolean } {
  const isThread = !!channel && channel.isThread();
  const parentId = isThread ? channel.parentId : null;
  const nsfw = !!channel && ('nsfw' in channel ? !!channel.nsfw : isThread && !!channel.parent && 'nsfw' in channel.parent && !!channel.parent.nsfw);
  return { parentId, isThread, nsfw };
}

import type { CommandContext, Reply } from '../../commands/types.js';
import { snowflake } from './db.js';
import { recordingVoice } from './voice.js';

/** A transport-agnostic context that records replies: the handlers as both transports call them. */
export function recordingContext(
  subcommand: string,
  options: CommandContext['options'],
  over: { canManageGuild?: boolean; nsfw?: boolean; openThread?: CommandContext['openThread']; guildId?: string } = {},
): CommandContext & { replies: Reply[] } {
  const replies: Reply[] = [];
  return {
    replies,
    transport: 'console',
    user: { id: snowflake(100), name: 'Sam', canManageGuild: over.canManageGuild ?? true },
    guildId: over.guildId ?? snowflake(1),
    channel: { id: snowflake(2), parentId: null, nsfw: over.nsfw ?? false, isThread: false, isDM: false },
    subcommand,
    options,
    reply: async (r) => void replies.push(typeof r === 'string' ? { content: r } : r),
    defer: async () => {},
    confirm: async () => {},
    openThread: over.openThread ?? (async () => ({ channelId: snowflake(3), parentId: snowflake(2) })),
    voice: () => recordingVoice(),
  };
}

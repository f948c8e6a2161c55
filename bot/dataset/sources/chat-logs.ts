import type { ChatCandidate } from './chat-log-reader.js';
import { countDiscordLogs, inReadTransaction, readChatLogs } from './chat-log-reader.js';
import type { DatasetSource } from './source.js';

export interface ChatLogStats {
  discord: 'included' | 'excluded';
  console: 'included';
  note: string;
  /** What ALLOW_CHAT_LOG_TRAINING=false left out (counted, never read). */
  discordLeftOut?: { personaReplies: number; speakerMessages: number };
}

declare module './source.js' {
  interface SourceStats {
    chatLogs: ChatLogStats;
  }
}

export const DISCORD_POLICY_NOTE =
  "Discord chat logs were left out: ALLOW_CHAT_LOG_TRAINING is off (the default). Discord's Developer Policy does not allow training models on message content without Discord's permission; an operator who has it can set ALLOW_CHAT_LOG_TRAINING=true. Console logs are always used.";

/**
 * Consented chat logs (persona conversations with rated replies, and the card's speakers),
 * streamed in one consistent read-only snapshot. Discord logs only with ALLOW_CHAT_LOG_TRAINING.
 */
export const chatLogSource: DatasetSource = {
  name: 'chat_log',
  phase: 'chat_logs',
  async read(ctx) {
    const { card, settings: s } = ctx;
    let candidates = 0;
    let discordLeftOut: ChatLogStats['discordLeftOut'];
    await inReadTransaction(ctx.db, async (tx) => {
      await readChatLogs(
        tx,
        ctx.keys,
        {
          slug: card.slug,
          speakers: card.speakers,
          policyVersion: ctx.policyVersion,
          allowDiscord: ctx.allowChatLogTraining,
          consent: ctx.consent,
          logScope: ctx.logScope,
          maxContextTurns: s.maxContextTurns,
          sessionGapMs: s.sessionGapMinutes * 60_000,
          minThumbsUp: s.minThumbsUp,
          batchSize: s.batchSize,
        },
        {
          candidate: (c: ChatCandidate) => {
            candidates++;
            ctx.emit({
              source: 'chat_log',
              cleaned: true,
              turns: c.turns,
              contributors: c.turns.map((t) => t.authorId).filter(Boolean),
              guildIds: c.turns.map((t) => t.guildId),
              messageIds: c.turns.map((t) => t.messageId),
              capUser: s.capExemptSpeakers && c.kind === 'speaker' ? undefined : c.capUser,
              oldestAt: Math.min(...c.turns.map((t) => t.at)),
            });
          },
          removed: ctx.remove,
          progress: (rows) => ctx.progress(rows),
        },
      );
      if (!ctx.allowChatLogTraining) discordLeftOut = await countDiscordLogs(tx, { slug: card.slug, speakers: card.speakers, logScope: ctx.logScope });
    });
    const chatLogs: ChatLogStats = ctx.allowChatLogTraining
      ? { discord: 'included', console: 'included', note: 'ALLOW_CHAT_LOG_TRAINING is on: consented Discord chat logs are included, as are console logs.' }
      : { discord: 'excluded', console: 'included', note: DISCORD_POLICY_NOTE, discordLeftOut };
    return { stats: { chatLogs }, summary: `chat logs: ${candidates} candidate(s)${ctx.allowChatLogTraining ? '' : ' (Discord logs off)'}` };
  },
};

import type { App } from '../../bot/app.js';
import { snowflake } from './db.js';

export const GARDEN_TOPICS = ['the beans', 'the roses', 'the compost', 'the frost', 'the bees'] as const;

/**
 * Logs "member asks, the card's speaker answers" exchanges, one per topic for each member, each
 * question carrying that member's marker word (so a scan can tell whose lines are where). Ids
 * are snowflakes from `firstId` up; returns the next free one.
 */
export async function logSpeakerExchanges(
  app: App,
  o: { guildId: string; channelId: string; speaker: string; members: readonly string[]; word: Record<string, string>; startAt: number; firstId?: number },
): Promise<number> {
  let n = o.firstId ?? 100;
  for (const member of o.members) {
    for (const [i, topic] of GARDEN_TOPICS.entries()) {
      const asked = snowflake(n++);
      const at = o.startAt + n * 60_000;
      await app.messages.onCreate({ id: asked, guildId: o.guildId, channelId: o.channelId, authorId: member, content: `My ${o.word[member]} question: how are ${topic} today?`, createdAt: new Date(at), replyToId: null });
      await app.messages.onCreate({ id: snowflake(n++), guildId: o.guildId, channelId: o.channelId, authorId: o.speaker, content: `Oh, ${topic} are thriving, friend, number ${i}; I watered them at dawn.`, createdAt: new Date(at + 30_000), replyToId: asked });
    }
  }
  await app.writer.drainPoint();
  return n;
}

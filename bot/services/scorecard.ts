import { eq, sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { personaReplies } from '../db/schema.js';
import { chartFrame } from './chart.js';
import type { MessageLogService } from './message-log.js';

/** Persona reply ids kept in memory for votes (older ones are looked up in the database). */
const MAX_REMEMBERED_REPLIES = 10_000;

export const THUMBS_UP = '👍';
export const THUMBS_DOWN = '👎';

export interface VersionScore {
  versionId: number | null;
  /** "base" for replies from the base model (prompt only), else "v<N>". */
  label: string;
  replies: number;
  up: number;
  down: number;
  /** Share of votes that are 👍, with a Wilson 95% interval. NaN when nobody voted. */
  upRate: number;
  upLow: number;
  upHigh: number;
  downRate: number;
}

/** Wilson score interval for a binomial proportion (z = 1.96 for 95%). */
export function wilson(successes: number, n: number, z = 1.96): { low: number; high: number } {
  if (n === 0) return { low: 0, high: 1 };
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const margin = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { low: Math.max(0, center - margin), high: Math.min(1, center + margin) };
}

/** Reaction scorecards per persona version: users' 👍/👎 on persona replies (the bot's own seeds are never stored). */
export class ScorecardService {
  /** Recent persona reply ids, so most votes skip the database lookup; bounded (oldest out first). */
  private readonly replyIds = new Set<string>();

  constructor(
    private readonly database: Database,
    private readonly messages: MessageLogService,
  ) {}

  /** A persona reply just sent: votes on it need no lookup. */
  rememberReply(messageId: string): void {
    this.replyIds.add(messageId);
    if (this.replyIds.size > MAX_REMEMBERED_REPLIES) this.replyIds.delete(this.replyIds.values().next().value!);
  }

  /**
   * A reaction someone added or removed: a 👍 or 👎 on a persona reply is a vote (stored under the
   * logging rules, with an HMAC of the user); anything else is not scored. Resolves with whether it counted.
   */
  async onReaction(r: { messageId: string; userId: string; emoji: string | null; guildId: string | null; added: boolean }): Promise<boolean> {
    const emoji = r.emoji;
    if (emoji !== THUMBS_UP && emoji !== THUMBS_DOWN) return false;
    if (!(await this.isPersonaReply(r.messageId))) return false; // only persona replies are scored
    await this.messages.onReaction({ messageId: r.messageId, userId: r.userId, emoji, guildId: r.guildId, added: r.added });
    return true;
  }

  private async isPersonaReply(messageId: string): Promise<boolean> {
    if (this.replyIds.has(messageId)) return true;
    const [row] = await this.database.db.select({ id: personaReplies.messageId }).from(personaReplies).where(eq(personaReplies.messageId, messageId)).limit(1);
    if (row) this.rememberReply(messageId);
    return !!row;
  }

  async scores(personaSlug: string): Promise<VersionScore[]> {
    const rows = await this.database.rows<{ version_id: number | null; version: number | null; replies: number; up: number; down: number }>(sql`
      select r.persona_version_id as version_id, v.version,
             count(distinct r.message_id)::int as replies,
             count(x.emoji) filter (where x.emoji = ${THUMBS_UP})::int as up,
             count(x.emoji) filter (where x.emoji = ${THUMBS_DOWN})::int as down
      from persona_replies r
      left join persona_versions v on v.id = r.persona_version_id
      left join reactions x on x.message_id = r.message_id
      where r.persona_slug = ${personaSlug}
      group by r.persona_version_id, v.version
      order by v.version nulls first`);
    return rows.map((r) => {
      const votes = r.up + r.down;
      const { low, high } = wilson(r.up, votes);
      return {
        versionId: r.version_id,
        label: r.version === null ? 'base' : `v${r.version}`,
        replies: r.replies,
        up: r.up,
        down: r.down,
        upRate: votes ? r.up / votes : NaN,
        upLow: low,
        upHigh: high,
        downRate: votes ? r.down / votes : NaN,
      };
    });
  }
}

/** A bar chart of 👍 rate per version with Wilson intervals, as PNG (rendered server-side). */
export function renderScorecardPng(personaName: string, scores: VersionScore[]): Buffer {
  const { g, plot, height, png } = chartFrame(`${personaName}: 👍 share of votes per version (95% Wilson interval)`, ['0%', '25%', '50%', '75%', '100%']);
  const plotW = plot.width;
  const plotH = plot.height;
  const pad = { left: plot.left, top: plot.top, bottom: height - plot.top - plot.height };
  const slot = plotW / Math.max(1, scores.length);
  scores.forEach((s, i) => {
    const x = pad.left + i * slot + slot * 0.2;
    const w = slot * 0.6;
    if (!Number.isNaN(s.upRate)) {
      const h = s.upRate * plotH;
      g.fillStyle = '#6366f1';
      g.fillRect(x, pad.top + plotH - h, w, h);
      g.strokeStyle = '#111827';
      g.lineWidth = 2;
      const cx = x + w / 2;
      const yLow = pad.top + plotH - s.upLow * plotH;
      const yHigh = pad.top + plotH - s.upHigh * plotH;
      g.beginPath();
      g.moveTo(cx, yLow);
      g.lineTo(cx, yHigh);
      g.moveTo(cx - 8, yLow);
      g.lineTo(cx + 8, yLow);
      g.moveTo(cx - 8, yHigh);
      g.lineTo(cx + 8, yHigh);
      g.stroke();
      g.lineWidth = 1;
    }
    g.fillStyle = '#111827';
    g.fillText(`${s.label} (${s.replies} replies, ${s.up + s.down} votes)`.slice(0, 40), x - slot * 0.15, height - pad.bottom + 20);
  });
  return png();
}

import { eq, sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { personaReplies } from '../db/schema.js';
import { chartFrame } from './chart.js';
import type { EvaluationMetrics } from '../db/json-columns.js';
import type { MessageLogService } from './message-log.js';

/** Persona reply ids kept in memory for votes (older ones are looked up in the database). */
const MAX_REMEMBERED_REPLIES = 10_000;

export const THUMBS_UP = '👍';
export const THUMBS_DOWN = '👎';

export interface VersionScore {
  versionId: number | null;
  /** The version number; 0 for the base model (prompt only), as evaluations number it. */
  version: number;
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

/** "base" for the base model (version 0, prompt only), else "v<N>". */
const versionLabel = (version: number) => (version === 0 ? 'base' : `v${version}`);

/** A version nobody has had a reply from yet (shown for its automatic evaluation). */
export function unvotedScore(version: number, versionId: number | null): VersionScore {
  return { versionId, version, label: versionLabel(version), replies: 0, up: 0, down: 0, upRate: NaN, upLow: 0, upHigh: 1, downRate: NaN };
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
        version: r.version ?? 0,
        label: versionLabel(r.version ?? 0),
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

/** The automatic metrics drawn beside the 👍 share, with their colours (rates: 0–1, higher is more in character). */
export const SCORECARD_COLOURS = { up: '#6366f1', markers_all: '#16a34a', ends_with: '#f59e0b', separability: '#0ea5e9' } as const;
const EVALUATION_BARS: { key: 'markers_all' | 'ends_with' | 'separability'; label: string; colour: string }[] = [
  { key: 'markers_all', label: 'all declared markers', colour: SCORECARD_COLOURS.markers_all },
  { key: 'ends_with', label: 'declared ending', colour: SCORECARD_COLOURS.ends_with },
  { key: 'separability', label: 'separability', colour: SCORECARD_COLOURS.separability },
];

/**
 * Versions side by side as PNG (rendered server-side): per version the 👍 share of votes with
 * its Wilson interval, and beside it the latest automatic evaluation's marker rates and
 * separability where one was measured (`evaluations`, keyed by version number; 0 = prompt-only).
 */
export function renderScorecardPng(personaName: string, scores: VersionScore[], evaluations: ReadonlyMap<number, EvaluationMetrics> = new Map()): Buffer {
  const { g, plot, height, png } = chartFrame(`${personaName}: votes and automatic evaluation per version`, ['0%', '25%', '50%', '75%', '100%']);
  const plotH = plot.height;
  const bottom = plot.top + plotH;
  const slot = plot.width / Math.max(1, scores.length);
  // The canvas's fonts have no emoji, so the legend spells the vote out.
  const bars = [{ label: 'thumbs-up (95% interval)', colour: SCORECARD_COLOURS.up }, ...EVALUATION_BARS];
  const barW = (slot * 0.7) / bars.length;
  // Legend, along the bottom edge.
  g.font = '12px sans-serif';
  let legendX = plot.left;
  for (const b of bars) {
    g.fillStyle = b.colour;
    g.fillRect(legendX, height - 22, 10, 10);
    g.fillStyle = '#111827';
    g.fillText(b.label, legendX + 14, height - 13);
    legendX += 14 + g.measureText(b.label).width + 18;
  }
  const bar = (x: number, rate: number, colour: string) => {
    g.fillStyle = colour;
    g.fillRect(x, bottom - rate * plotH, barW, rate * plotH);
  };
  scores.forEach((s, i) => {
    const x0 = plot.left + i * slot + slot * 0.15;
    if (!Number.isNaN(s.upRate)) {
      bar(x0, s.upRate, SCORECARD_COLOURS.up);
      g.strokeStyle = '#111827';
      g.lineWidth = 2;
      const cx = x0 + barW / 2;
      const yLow = bottom - s.upLow * plotH;
      const yHigh = bottom - s.upHigh * plotH;
      g.beginPath();
      g.moveTo(cx, yLow);
      g.lineTo(cx, yHigh);
      g.moveTo(cx - 6, yLow);
      g.lineTo(cx + 6, yLow);
      g.moveTo(cx - 6, yHigh);
      g.lineTo(cx + 6, yHigh);
      g.stroke();
      g.lineWidth = 1;
    }
    const measured = evaluations.get(s.version);
    EVALUATION_BARS.forEach((b, j) => {
      const v = measured?.[b.key];
      if (typeof v === 'number' && Number.isFinite(v)) bar(x0 + (j + 1) * barW, v, b.colour);
    });
    g.fillStyle = '#111827';
    g.fillText(`${s.label} (${s.replies} replies, ${s.up + s.down} votes)`.slice(0, 40), x0 - slot * 0.1, height - 36);
  });
  return png();
}

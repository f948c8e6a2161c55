import type { LineSource } from './line.js';
import type { DatasetSettings } from './settings.js';
import type { SourceStats } from './sources/source.js';

export interface Histogram {
  buckets: string[];
  counts: number[];
}

/** A build's statistics report (stored with the dataset version; `/persona dataset` shows a summary). */
export interface DatasetStats extends SourceStats {
  persona: string;
  cardHash: string;
  contentHash: string;
  lines: number;
  train: number;
  eval: number;
  bySource: Record<LineSource, number>;
  candidates: Record<LineSource, number>;
  removed: Record<string, number>;
  lengths: { replyChars: Histogram; lineTokens: Histogram; turns: Histogram };
  /** Share of the lines each capped user supplies, by HMAC of the user id (largest first). */
  userShares: Record<string, number>;
  perUserCap: { share: number; maxLinesPerUser: number; usersCapped: number };
  settings: DatasetSettings;
}

/** Counts of `values` in the buckets below edges[0], between consecutive edges, and from the last edge up. */
export function histogram(values: number[], edges: number[]): Histogram {
  const buckets = [`<${edges[0]}`, ...edges.slice(1).map((e, i) => `${edges[i]}-${e - 1}`), `>=${edges[edges.length - 1]}`];
  const counts = new Array<number>(buckets.length).fill(0);
  for (const v of values) {
    let i = edges.findIndex((e) => v < e);
    if (i < 0) i = edges.length;
    counts[i]!++;
  }
  return { buckets, counts };
}

/** A short, human summary of a build (the /persona dataset reply and the CLI). */
export function summarize(b: { versionId: number | null; stats: DatasetStats }): string {
  const st = b.stats;
  const removed = Object.entries(st.removed).map(([k, v]) => `${k} ${v}`).join(', ') || 'nothing';
  return [
    `Dataset for ${st.persona}${b.versionId !== null ? ` (version ${b.versionId})` : ''}: ${st.lines} lines (${st.train} train, ${st.eval} eval), hash ${st.contentHash.slice(0, 12)}`,
    `By source: card ${st.bySource.card}, synthetic ${st.bySource.synthetic} (${st.synthetic.generated} generated, ${st.synthetic.cached} cached, ${Object.values(st.synthetic.rejected).reduce((a, b) => a + b, 0)} rejected), chat logs ${st.bySource.chat_log}`,
    `Removed: ${removed}`,
    `Per-user cap: ${Math.round(st.perUserCap.share * 100)}% (at most ${st.perUserCap.maxLinesPerUser} lines each; ${st.perUserCap.usersCapped} user(s) capped)`,
    st.chatLogs.discord === 'excluded'
      ? `${st.chatLogs.note}${st.chatLogs.discordLeftOut ? ` Left out: ${st.chatLogs.discordLeftOut.personaReplies} persona replies, ${st.chatLogs.discordLeftOut.speakerMessages} speaker messages.` : ''}`
      : st.chatLogs.note,
  ].join('\n');
}

import type { StyleMetrics } from '../db/json-columns.js';
import { replyFit, targetLength, words, type FitCard } from './fit.js';

export type { StyleMetrics } from '../db/json-columns.js';

/**
 * A version's style, measured over its replies to the evaluation probes: the per-reply fit
 * (fit.ts) turned into rates, plus what only shows across replies (variety, near-duplicates).
 * Rates are 0-1; null where the card declares nothing to measure.
 */

export interface ProbeReply {
  /** The probe (question) the reply answers. */
  probe: string;
  text: string;
  /** The model stopped at the reply cap rather than on its own. */
  truncated?: boolean;
}


/** Word 3-gram Jaccard at or above which two replies count as near-duplicates. */
export const NEAR_DUPLICATE = 0.5;

export function styleMetrics(card: FitCard, replies: readonly ProbeReply[]): StyleMetrics {
  const target = targetLength(card);
  const fits = replies.map((r) => replyFit(card, r.text, target));
  const rate = (pick: (i: number) => boolean | null): number | null => {
    const known = fits.map((_, i) => pick(i)).filter((v): v is boolean => v !== null);
    return known.length === 0 ? null : known.filter(Boolean).length / known.length;
  };
  const n = Math.max(1, replies.length);
  const lengths = fits.map((f) => f.length).sort((a, b) => a - b);
  return {
    replies: replies.length,
    markers_all: rate((i) => fits[i]!.markersAll),
    ends_with: rate((i) => fits[i]!.endsWith),
    lexicon: rate((i) => fits[i]!.lexicon),
    forbid_rate: fits.filter((f) => f.forbidden.length > 0).length / n,
    breaks_rate: fits.filter((f) => f.breaks === 'as_an_ai' || f.breaks === 'wrong_name').length / n,
    mean_fit: fits.reduce((s, f) => s + f.score, 0) / n,
    mean_length: lengths.reduce((s, l) => s + l, 0) / n,
    median_length: lengths.length === 0 ? 0 : lengths[Math.floor((lengths.length - 1) / 2)]!,
    distinct2: distinctN(replies.map((r) => r.text), 2),
    near_duplicate_rate: nearDuplicateRate(replies),
    truncation_rate: replies.filter((r) => r.truncated).length / n,
  };
}

/** Distinct word n-grams over all word n-grams of the texts (1 when there are none). */
export function distinctN(texts: readonly string[], size: number): number {
  const seen = new Set<string>();
  let total = 0;
  for (const t of texts) {
    const w = words(t);
    for (let i = 0; i + size <= w.length; i++) {
      seen.add(w.slice(i, i + size).join(' '));
      total++;
    }
  }
  return total === 0 ? 1 : seen.size / total;
}

/** Jaccard similarity of two texts' word n-gram sets (0 when either has none). */
export function ngramJaccard(a: string, b: string, size = 3): number {
  return jaccardOfSets(ngrams(a, size), ngrams(b, size));
}

function ngrams(text: string, size: number): Set<string> {
  const w = words(text);
  const out = new Set<string>();
  for (let i = 0; i + size <= w.length; i++) out.add(w.slice(i, i + size).join(' '));
  return out;
}

function nearDuplicateRate(replies: readonly ProbeReply[]): number {
  if (replies.length === 0) return 0;
  const sets = replies.map((r) => ngrams(r.text, 3));
  let dup = 0;
  replies.forEach((r, i) => {
    const hit = replies.some((o, j) => j !== i && o.probe !== r.probe && jaccardOfSets(sets[i]!, sets[j]!) >= NEAR_DUPLICATE);
    if (hit) dup++;
  });
  return dup / replies.length;
}

function jaccardOfSets(A: Set<string>, B: Set<string>): number {
  if (A.size === 0 || B.size === 0) return 0;
  let inter = 0;
  for (const g of A) if (B.has(g)) inter++;
  return inter / (A.size + B.size - inter);
}

import { escapeRegExp } from '../core/text.js';
import type { FitCard } from './fit.js';
import { words } from './fit.js';

/**
 * Cross-persona separability: can a reply's style alone tell which persona wrote it? A
 * nearest-centroid classifier over style features (word unigrams and character 3-grams,
 * tf-idf weighted), trained on each persona's dataset replies, with every declared marker (the
 * ending, lexicon terms, forbidden phrases) and the persona's name stripped first, so it has to
 * learn the voice rather than the rules the markers metric already counts.
 */

export interface StyleSample {
  persona: string;
  text: string;
}

type Vector = Map<string, number>;

/** A reply with the card's declared markers and the persona's name taken out. */
export function stripMarkers(card: FitCard, text: string): string {
  let out = text;
  const phrases = [card.markers.ends_with, ...card.markers.lexicon, ...card.markers.forbid, card.name, ...card.name.split(/\s+/)]
    .filter((p): p is string => !!p && p.trim().length > 0)
    .sort((a, b) => b.length - a.length);
  for (const p of phrases) out = out.replace(new RegExp(escapeRegExp(p), 'gi'), ' ');
  return out;
}

function features(text: string): Map<string, number> {
  const f = new Map<string, number>();
  const add = (k: string) => f.set(k, (f.get(k) ?? 0) + 1);
  for (const w of words(text)) add(`w:${w}`);
  const s = ` ${text.toLowerCase().replace(/\s+/g, ' ').trim()} `;
  for (let i = 0; i + 3 <= s.length; i++) add(`c:${s.slice(i, i + 3)}`);
  return f;
}

export class StyleClassifier {
  private constructor(
    private readonly idf: Map<string, number>,
    private readonly centroids: Map<string, Vector>,
  ) {}

  /** Fits centroids on samples already stripped of their markers. */
  static fit(samples: readonly StyleSample[]): StyleClassifier {
    const docs = samples.map((s) => ({ persona: s.persona, f: features(s.text) }));
    const df = new Map<string, number>();
    for (const d of docs) for (const k of d.f.keys()) df.set(k, (df.get(k) ?? 0) + 1);
    const idf = new Map([...df].map(([k, n]) => [k, Math.log((1 + docs.length) / (1 + n)) + 1]));
    const sums = new Map<string, Vector>();
    for (const d of docs) {
      const v = normalize(weigh(d.f, idf));
      const sum = sums.get(d.persona) ?? new Map<string, number>();
      for (const [k, x] of v) sum.set(k, (sum.get(k) ?? 0) + x);
      sums.set(d.persona, sum);
    }
    return new StyleClassifier(idf, new Map([...sums].map(([p, v]) => [p, normalize(v)])));
  }

  get personas(): string[] {
    return [...this.centroids.keys()].sort();
  }

  /** The persona whose centroid is nearest (cosine); ties go to the first in name order. */
  predict(text: string): string {
    const v = normalize(weigh(features(text), this.idf));
    let best = '';
    let bestScore = -Infinity;
    for (const p of this.personas) {
      const c = this.centroids.get(p)!;
      let dot = 0;
      for (const [k, x] of v) dot += x * (c.get(k) ?? 0);
      if (dot > bestScore) {
        best = p;
        bestScore = dot;
      }
    }
    return best;
  }

  /** Share of samples predicted as their own persona. */
  accuracy(samples: readonly StyleSample[]): number {
    if (samples.length === 0) return NaN;
    return samples.filter((s) => this.predict(s.text) === s.persona).length / samples.length;
  }
}

function weigh(f: Map<string, number>, idf: Map<string, number>): Vector {
  const v: Vector = new Map();
  for (const [k, n] of f) {
    const w = idf.get(k);
    if (w !== undefined) v.set(k, (1 + Math.log(n)) * w);
  }
  return v;
}

function normalize(v: Vector): Vector {
  let norm = 0;
  for (const x of v.values()) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  return new Map([...v].map(([k, x]) => [k, x / norm]));
}

/** One persona's reference style: the assistant replies of its latest training dataset. */
export interface StyleReference {
  persona: string;
  card: FitCard;
  replies: readonly string[];
}

export interface Separability {
  /** Share of the replies the classifier attributes to their own persona. */
  accuracy: number;
  /** What guessing would score: 1 / the number of personas the classifier knows. */
  chance: number;
}

/**
 * Fits the classifier once on every reference (each stripped of its own card's markers) and
 * returns how well `replies` of `persona` (stripped of this persona's markers) are told apart from
 * the other voices. Null when fewer than two personas have replies, or `persona` has none (there
 * is nothing to tell it apart from, or no voice to recognise).
 */
export function fitSeparability(references: readonly StyleReference[]): (persona: string, replies: readonly string[]) => Separability | null {
  const known = references.filter((r) => r.replies.length > 0);
  if (known.length < 2) return () => null;
  const clf = StyleClassifier.fit(known.flatMap((r) => r.replies.map((text) => ({ persona: r.persona, text: stripMarkers(r.card, text) }))));
  return (persona, replies) => {
    const own = known.find((r) => r.persona === persona);
    if (!own || replies.length === 0) return null;
    return { accuracy: clf.accuracy(replies.map((text) => ({ persona, text: stripMarkers(own.card, text) }))), chance: 1 / known.length };
  };
}

/** `fitSeparability(references)(persona, replies)`, for one persona. */
export function separability(references: readonly StyleReference[], persona: string, replies: readonly string[]): Separability | null {
  return fitSeparability(references)(persona, replies);
}

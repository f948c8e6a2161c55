import type { PersonaCard } from './card.js';

/**
 * How well one reply fits its persona's card: the one scoring function that best-of-N dataset
 * generation keeps candidates by and that evaluation measures versions with, so what training
 * optimises and what the gate checks can never drift apart.
 */

/** The parts of a card a reply is judged against. */
export type FitCard = Pick<PersonaCard, 'name' | 'markers' | 'examples'>;

export interface ReplyFit {
  /** 0-1; higher fits better. 0 for a reply that must never be kept (a break or a forbidden phrase). */
  score: number;
  /** The declared ending is there (null: the card declares none). */
  endsWith: boolean | null;
  /** Declared lexicon terms the reply uses. */
  lexiconHits: string[];
  /** At least one lexicon term (null: the card declares none). */
  lexicon: boolean | null;
  /** Card-`forbid` phrases in the reply. */
  forbidden: string[];
  /** Why the reply breaks character, or null (see breaksCharacter). */
  breaks: string | null;
  /** Every declared marker holds: the ending, a lexicon term, no forbidden phrase (null: none declared). */
  markersAll: boolean | null;
  /** Characters. */
  length: number;
  /** 1 at the card's typical reply length, falling off with the log of the ratio. */
  lengthFit: number;
  /** Share of the reply's word 3-grams that repeat an earlier one (0: none). */
  repetition: number;
}

/** Phrases that break any persona, whatever its card says. */
const AI_BREAK = /\bas an? (?:ai|artificial intelligence)\b|\blanguage model\b|\bi(?:'m| am) an? (?:ai|assistant|chatbot|bot)\b/i;
/** Words that follow "I am"/"I'm" without being a name. */
const NOT_A_NAME = /^(?:so|not|here|glad|happy|sorry|sure|very|just|from|a|an|the|your|in|on|at|always|really|also|still|only|curious|excited)$/i;
/** Reply length (characters) assumed when a card has no example replies. */
const DEFAULT_TARGET_CHARS = 160;

/** Weights of the score's parts (they sum to 1). */
const WEIGHTS = { endsWith: 0.35, lexicon: 0.2, length: 0.25, repetition: 0.2 };

/** Why a reply breaks character, or null: empty, "as an AI", another name, a forbidden phrase. */
export function breaksCharacter(card: FitCard, reply: string): string | null {
  const text = reply.trim();
  if (!text) return 'empty';
  if (AI_BREAK.test(text)) return 'as_an_ai';
  if (forbiddenIn(card, text).length > 0) return 'forbidden_marker';
  const own = new Set(card.name.toLowerCase().split(/\s+/));
  const claimed = text.match(/\b(?:[Mm]y name is|[Cc]all me|I am|I'm)\s+([A-Z][\p{L}'-]+)/u)?.[1];
  if (claimed && !own.has(claimed.toLowerCase()) && !NOT_A_NAME.test(claimed)) return 'wrong_name';
  const speaker = text.match(/^([A-Z][\p{L}'-]+):/u)?.[1];
  if (speaker && !own.has(speaker.toLowerCase())) return 'wrong_name';
  return null;
}

/** The reply ends with the declared ending, ignoring case and trailing spaces or quotes. */
export function endsWithMarker(ending: string, reply: string): boolean {
  return reply.trim().replace(/["'”’\s]+$/u, '').toLowerCase().endsWith(ending.trim().toLowerCase());
}

/** Appends the declared ending to a training reply that lacks it (never to served output). */
export function withDeclaredEnding(card: FitCard, reply: string): string {
  const ending = card.markers.ends_with;
  if (!ending || endsWithMarker(ending, reply)) return reply;
  return `${reply.trim()} ${ending}`;
}

/** The card's typical reply length: the median of its example replies, in characters. */
export function targetLength(card: FitCard): number {
  const lengths = card.examples.flatMap((d) => d.filter((t) => t.role === 'assistant').map((t) => t.content.trim().length)).sort((a, b) => a - b);
  if (lengths.length === 0) return DEFAULT_TARGET_CHARS;
  return lengths[Math.floor((lengths.length - 1) / 2)]!;
}

export function replyFit(card: FitCard, reply: string, target = targetLength(card)): ReplyFit {
  const text = reply.trim();
  const lower = text.toLowerCase();
  const m = card.markers;
  const endsWith = m.ends_with ? endsWithMarker(m.ends_with, text) : null;
  const lexiconHits = m.lexicon.filter((term) => lower.includes(term.toLowerCase()));
  const lexicon = m.lexicon.length > 0 ? lexiconHits.length > 0 : null;
  const forbidden = forbiddenIn(card, text);
  const declared = m.ends_with !== undefined || m.lexicon.length > 0 || m.forbid.length > 0;
  const markersAll = declared ? endsWith !== false && lexicon !== false && forbidden.length === 0 : null;
  const breaks = breaksCharacter(card, text);
  const lengthFit = text.length === 0 ? 0 : Math.exp(-Math.abs(Math.log(text.length / Math.max(1, target))));
  const repetition = repeatedTrigramShare(lower);

  let score = 0;
  if (breaks === null) {
    // A part the card does not declare counts as met, so cards with fewer markers are not penalised.
    score =
      WEIGHTS.endsWith * (endsWith === false ? 0 : 1) +
      WEIGHTS.lexicon * (lexicon === false ? 0 : 1) +
      WEIGHTS.length * lengthFit +
      WEIGHTS.repetition * (1 - repetition);
  }
  return { score, endsWith, lexiconHits, lexicon, forbidden, breaks, markersAll, length: text.length, lengthFit, repetition };
}

/** The index of the best-fitting reply (the first of equals), or -1 when every one must not be kept. */
export function bestOf(card: FitCard, replies: readonly string[]): { index: number; fits: ReplyFit[] } {
  const target = targetLength(card);
  const fits = replies.map((r) => replyFit(card, r, target));
  let index = -1;
  fits.forEach((f, i) => {
    if (f.score > 0 && (index < 0 || f.score > fits[index]!.score)) index = i;
  });
  return { index, fits };
}

function forbiddenIn(card: FitCard, text: string): string[] {
  const lower = text.toLowerCase();
  return card.markers.forbid.filter((f) => lower.includes(f.toLowerCase()));
}

/** Lowercase words, punctuation dropped. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
}

function repeatedTrigramShare(text: string): number {
  const w = words(text);
  if (w.length < 4) return 0;
  const seen = new Set<string>();
  let repeated = 0;
  for (let i = 0; i + 2 < w.length; i++) {
    const g = `${w[i]} ${w[i + 1]} ${w[i + 2]}`;
    if (seen.has(g)) repeated++;
    else seen.add(g);
  }
  return repeated / (w.length - 2);
}

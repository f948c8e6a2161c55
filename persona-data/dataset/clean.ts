/**
 * Cleaning for dataset text: personal data to placeholders, whitespace, and near-duplicate
 * detection (MinHash over character shingles with LSH banding). No dependency: the whole
 * algorithm is the 80 lines below, and its tests pin the behaviour.
 */

export const PLACEHOLDERS = {
  user: '[USER]',
  role: '[ROLE]',
  channel: '[CHANNEL]',
  url: '[URL]',
  email: '[EMAIL]',
  phone: '[PHONE]',
  id: '[ID]',
  time: '[TIME]',
} as const;

const RULES: [RegExp, string | ((m: string, ...g: string[]) => string)][] = [
  [/<@!?\d{15,25}>/g, PLACEHOLDERS.user],
  [/<@&\d{15,25}>/g, PLACEHOLDERS.role],
  [/<#\d{15,25}>/g, PLACEHOLDERS.channel],
  [/<t:-?\d{1,13}(?::[tTdDfFR])?>/g, PLACEHOLDERS.time],
  // Custom emoji keep their name only.
  [/<a?:(\w{2,32}):\d{15,25}>/g, (_m, name: string) => `:${name}:`],
  [/\b(?:https?:\/\/|www\.)[^\s<>"']+/gi, PLACEHOLDERS.url],
  [/\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b/gi, PLACEHOLDERS.email],
  // Bare Discord ids (a user id pasted as text).
  [/\b\d{17,20}\b/g, PLACEHOLDERS.id],
  // Phone numbers: an optional +country code, then 7 to 15 digits in groups separated by
  // spaces, dots, dashes or parentheses. Years, times and small counts have too few digits.
  [/(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){2,4}(?![\w])/g, (m) => (m.replace(/\D/g, '').length >= 7 ? PLACEHOLDERS.phone : m)],
  // Remaining @mentions of plain names stay (they are words); @everyone/@here are defused.
  [/@(everyone|here)\b/g, (_m, w: string) => `@\u200b${w}`],
];

/** Replaces mentions, URLs, emails, phone numbers and bare ids with placeholders. */
export function scrub(text: string): string {
  let out = text;
  for (const [re, to] of RULES) out = out.replace(re, to as string);
  return out;
}

/** Trims lines, collapses runs of spaces, and keeps at most one blank line in a row. */
export function normalizeWhitespace(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[^\S\n]+/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

export function cleanText(text: string): string {
  return normalizeWhitespace(scrub(text));
}

// ---- near duplicates ------------------------------------------------------------------------

const PERMS = 64;
const BANDS = 16;
const ROWS = PERMS / BANDS;
const SEEDS = Uint32Array.from({ length: PERMS }, (_, i) => fmix32((i + 1) * 0x9e3779b1));

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function fnv1a(s: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Text as compared for duplicates: lowercase letters and digits, single spaces. */
export function dedupeKey(text: string): string {
  return text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

/** MinHash signature of a text's character 5-gram shingles (64 hash functions). */
export function minhash(text: string, k = 5): Uint32Array {
  const s = dedupeKey(text);
  const sig = new Uint32Array(PERMS).fill(0xffffffff);
  const n = Math.max(1, s.length - k + 1);
  for (let i = 0; i < n; i++) {
    const h = fnv1a(s, i, Math.min(s.length, i + k));
    for (let p = 0; p < PERMS; p++) {
      const v = fmix32(h ^ SEEDS[p]!);
      if (v < sig[p]!) sig[p] = v;
    }
  }
  return sig;
}

/** Estimated Jaccard similarity of two signatures. */
export function similarity(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let i = 0; i < PERMS; i++) if (a[i] === b[i]) same++;
  return same / PERMS;
}

/** Exact Jaccard similarity of character 5-gram sets (for tests and small inputs). */
export function jaccard(a: string, b: string, k = 5): number {
  const set = (t: string) => {
    const s = dedupeKey(t);
    const out = new Set<string>();
    for (let i = 0; i < Math.max(1, s.length - k + 1); i++) out.add(s.slice(i, i + k));
    return out;
  };
  const A = set(a);
  const B = set(b);
  let inter = 0;
  for (const x of A) if (B.has(x)) inter++;
  return inter / (A.size + B.size - inter);
}

/**
 * Near-duplicate index: `add` returns false (and keeps nothing) when the text is at least
 * `threshold` similar to one already added. LSH banding (16 bands of 4 rows) finds candidates;
 * their signatures decide. Everything lives in typed arrays (an open-addressing table of band
 * hashes with chained entries), so a large dataset costs a few bytes per band, not objects.
 */
export class NearDuplicateIndex {
  private sigs: Uint32Array;
  private count = 0;
  /** Per entry (kept text x band): its band hash, and the next entry in the same slot (-1 ends). */
  private entryKey: Uint32Array;
  private entryNext: Int32Array;
  /** Open-addressing slots: band hash -> first entry (-1: empty). */
  private slotKey: Uint32Array;
  private slotHead: Int32Array;

  constructor(
    private readonly threshold = 0.8,
    capacity = 1024,
  ) {
    const cap = Math.max(16, capacity);
    this.sigs = new Uint32Array(cap * PERMS);
    this.entryKey = new Uint32Array(cap * BANDS);
    this.entryNext = new Int32Array(cap * BANDS);
    const slots = nextPow2(cap * BANDS * 2);
    this.slotKey = new Uint32Array(slots);
    this.slotHead = new Int32Array(slots).fill(-1);
  }

  get size(): number {
    return this.count;
  }

  add(text: string): boolean {
    const sig = minhash(text);
    const keys = new Uint32Array(BANDS);
    for (let b = 0; b < BANDS; b++) {
      let h = fmix32(b + 1);
      for (let r = 0; r < ROWS; r++) h = fmix32(h ^ sig[b * ROWS + r]!);
      keys[b] = h;
    }
    for (let b = 0; b < BANDS; b++) {
      for (let e = this.slotHead[this.slotOf(keys[b]!)]!; e >= 0; e = this.entryNext[e]!) {
        if (this.entryKey[e] !== keys[b]) continue;
        const idx = Math.floor(e / BANDS);
        if (similarity(sig, this.sigs.subarray(idx * PERMS, idx * PERMS + PERMS)) >= this.threshold) return false;
      }
    }
    if ((this.count + 1) * PERMS > this.sigs.length) this.grow();
    const idx = this.count++;
    this.sigs.set(sig, idx * PERMS);
    for (let b = 0; b < BANDS; b++) this.link(idx * BANDS + b, keys[b]!);
    return true;
  }

  /** The slot holding a band hash (linear probing). */
  private slotOf(key: number): number {
    const mask = this.slotKey.length - 1;
    let i = key & mask;
    while (this.slotHead[i]! >= 0 && this.slotKey[i] !== key) i = (i + 1) & mask;
    return i;
  }

  private link(entry: number, key: number): void {
    const slot = this.slotOf(key);
    this.slotKey[slot] = key;
    this.entryKey[entry] = key;
    this.entryNext[entry] = this.slotHead[slot]!;
    this.slotHead[slot] = entry;
  }

  private grow(): void {
    const cap = (this.sigs.length / PERMS) * 2;
    const sigs = new Uint32Array(cap * PERMS);
    sigs.set(this.sigs);
    this.sigs = sigs;
    const keys = this.entryKey.subarray(0, this.count * BANDS);
    this.entryKey = new Uint32Array(cap * BANDS);
    this.entryNext = new Int32Array(cap * BANDS);
    const slots = nextPow2(cap * BANDS * 2);
    this.slotKey = new Uint32Array(slots);
    this.slotHead = new Int32Array(slots).fill(-1);
    for (let e = 0; e < keys.length; e++) this.link(e, keys[e]!);
  }
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

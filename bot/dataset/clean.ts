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

/** MinHash signature of a text's character 5-gram shingles (64 hash functions), written into `out`. */
export function minhash(text: string, k = 5, out: Uint32Array = new Uint32Array(PERMS)): Uint32Array {
  const s = dedupeKey(text);
  const sig = out.fill(0xffffffff);
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

/** Rows per page of a SignatureTable (256 KiB). */
const PAGE_ROWS = 1024;

/**
 * MinHash signatures in typed-array pages, a row each: a large dataset costs 256 bytes per text
 * and no objects, and growing never copies (nor holds the old and the new array at once).
 */
export class SignatureTable {
  private readonly pages: Uint32Array[] = [];
  private rows = 0;

  get size(): number {
    return this.rows;
  }

  /** Stores a copy of a signature; returns its row. */
  push(sig: Uint32Array): number {
    this.next().set(sig);
    return this.rows++;
  }

  /** Stores the signature of a text; returns its row. */
  pushText(text: string): number {
    minhash(text, 5, this.next());
    return this.rows++;
  }

  get(row: number): Uint32Array {
    const at = (row % PAGE_ROWS) * PERMS;
    return this.pages[Math.floor(row / PAGE_ROWS)]!.subarray(at, at + PERMS);
  }

  /**
   * similarity(get(row), sig) >= threshold, without making a view of the row, and stopping as
   * soon as too many positions differ for it to hold (dedupe compares a text with many others).
   */
  isSimilar(row: number, sig: Uint32Array, threshold: number): boolean {
    const page = this.pages[Math.floor(row / PAGE_ROWS)]!;
    const base = (row % PAGE_ROWS) * PERMS;
    let differ = 0;
    for (let i = 0; i < PERMS; i++) {
      if (page[base + i] !== sig[i] && (PERMS - ++differ) / PERMS < threshold) return false;
    }
    return true;
  }

  /** The row after the last, on a new page when needed. */
  private next(): Uint32Array {
    if (this.rows === this.pages.length * PAGE_ROWS) this.pages.push(new Uint32Array(PAGE_ROWS * PERMS));
    return this.get(this.rows);
  }
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
  /** The kept texts' signatures: the index's own table, or the caller's (see `addRow`). */
  private readonly sigs: SignatureTable;
  /** Row in `sigs` of each kept text. */
  private keptRows: Int32Array;
  private kept = 0;
  /** The query that last compared each kept text: one sharing several bands is compared once. */
  private comparedBy: Int32Array;
  private queries = 0;
  /** Per entry (kept text x band): the next entry with the same band hash (-1 ends). */
  private entryNext = new Int32Array(0);
  /** Open-addressing slots (at most one band hash per entry, so never full): band hash -> first entry (-1: empty). */
  private slotKey = new Uint32Array(0);
  private slotHead = new Int32Array(0);

  /** `signatures`: a table of signatures computed beforehand, which `addRow` indexes (not copied). */
  constructor(
    private readonly threshold = 0.8,
    capacity = 1024,
    signatures?: SignatureTable,
  ) {
    const cap = Math.max(16, capacity);
    this.sigs = signatures ?? new SignatureTable();
    this.keptRows = new Int32Array(cap);
    this.comparedBy = new Int32Array(cap);
    this.allocateEntries(cap);
  }

  get size(): number {
    return this.kept;
  }

  add(text: string): boolean {
    const sig = minhash(text);
    const keys = bandKeys(sig);
    if (this.hasNear(sig, keys)) return false;
    this.keep(this.sigs.push(sig), keys);
    return true;
  }

  /** `add` for the text whose signature is row `row` of the table given to the constructor. */
  addRow(row: number): boolean {
    const sig = this.sigs.get(row);
    const keys = bandKeys(sig);
    if (this.hasNear(sig, keys)) return false;
    this.keep(row, keys);
    return true;
  }

  private hasNear(sig: Uint32Array, keys: Uint32Array): boolean {
    const query = ++this.queries;
    for (let b = 0; b < BANDS; b++) {
      for (let e = this.slotHead[this.slotOf(keys[b]!)]!; e >= 0; e = this.entryNext[e]!) {
        // Every entry in a slot's chain has the slot's band hash.
        const idx = Math.floor(e / BANDS);
        if (this.comparedBy[idx] === query) continue;
        this.comparedBy[idx] = query;
        if (this.sigs.isSimilar(this.keptRows[idx]!, sig, this.threshold)) return true;
      }
    }
    return false;
  }

  private keep(row: number, keys: Uint32Array): void {
    if (this.kept === this.keptRows.length) this.grow();
    const idx = this.kept++;
    this.keptRows[idx] = row;
    for (let b = 0; b < BANDS; b++) this.link(idx * BANDS + b, keys[b]!);
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
    this.entryNext[entry] = this.slotHead[slot]!;
    this.slotHead[slot] = entry;
  }

  private allocateEntries(cap: number): void {
    this.entryNext = new Int32Array(cap * BANDS);
    const slots = nextPow2(cap * BANDS + 1);
    this.slotKey = new Uint32Array(slots);
    this.slotHead = new Int32Array(slots).fill(-1);
  }

  /** Doubles the capacity; the kept texts' band hashes are computed again from their signatures. */
  private grow(): void {
    const cap = this.keptRows.length * 2;
    this.keptRows = grown(this.keptRows, cap);
    this.comparedBy = grown(this.comparedBy, cap);
    this.allocateEntries(cap);
    for (let idx = 0; idx < this.kept; idx++) {
      const keys = bandKeys(this.sigs.get(this.keptRows[idx]!));
      for (let b = 0; b < BANDS; b++) this.link(idx * BANDS + b, keys[b]!);
    }
  }
}

function grown(a: Int32Array, length: number): Int32Array {
  const b = new Int32Array(length);
  b.set(a);
  return b;
}

/** The LSH band hashes of a signature (16 bands of 4 rows). */
function bandKeys(sig: Uint32Array): Uint32Array {
  const keys = new Uint32Array(BANDS);
  for (let b = 0; b < BANDS; b++) {
    let h = fmix32(b + 1);
    for (let r = 0; r < ROWS; r++) h = fmix32(h ^ sig[b * ROWS + r]!);
    keys[b] = h;
  }
  return keys;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

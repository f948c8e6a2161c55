import fc from 'fast-check';

/**
 * Mutations of valid seeds, for the bad-input fuzz suite. Text gets a few edits (inserts of
 * hostile snippets or random unicode, deletions, duplications, truncation); JSON values get a
 * few structural ones (drop, retype, oversize, add a `__proto__` key). Zero edits is allowed,
 * so every seed is also tried as is (and must be accepted).
 */

/** Fragments that have broken parsers before: front-matter engines, YAML tags and alias bombs, quotes, NULs, prototype keys. */
export const HOSTILE = [
  '---js\n', '---coffee\n', '---json\n', '---\n', '\n---\n', '!!js/function "function(){return process}"', '!!python/object:os.system', '!!binary aGk=',
  '&a [*a, *a, *a, *a]', '*a', '{{', '}}', '"', "'", ':', ': ', '\\', '\u0000', '\uFEFF', '\r\n', '\t', '#', '- ', '|', '>', '%YAML 1.1\n',
  '__proto__', 'constructor', 'prototype', '<START>', '{{char}}', '{{user}}', '## ', '# ', '```', '\ud800', '😀', 'e\u0301', '1e309', '-0', 'NaN', 'null',
];

const snippet = fc.oneof(
  fc.constantFrom(...HOSTILE),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.integer({ min: 1, max: 200_000 }).map((n) => 'x'.repeat(n)),
);

type Edit = (s: string) => string;
const at = (s: string, f: number) => Math.floor(f * (s.length + 1));
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), snippet).map(([f, ins]): Edit => (s) => s.slice(0, at(s, f)) + ins + s.slice(at(s, f))),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 64 })).map(([f, n]): Edit => (s) => s.slice(0, at(s, f)) + s.slice(at(s, f) + n)),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 200 })).map(([f, n]): Edit => (s) => s.slice(0, at(s, f) + n) + s.slice(at(s, f))),
  fc.double({ min: 0, max: 1, noNaN: true }).map((f): Edit => (s) => s.slice(0, at(s, f))),
);

/** A seed string with 0 to 4 edits. */
export function mutatedText(seeds: readonly string[]): fc.Arbitrary<{ seed: string; text: string; edits: number }> {
  return fc.tuple(fc.constantFrom(...seeds), fc.array(edit, { maxLength: 4 })).map(([seed, edits]) => ({ seed, text: edits.reduce((s, e) => e(s), seed), edits: edits.length }));
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const weird: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, 0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, '', ' ', '__proto__', [], {}, [[[]]]),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer({ min: 1, max: 100_000 }).map((n): Json => 'y'.repeat(n)),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

/** Every path to a value inside a JSON value. */
function paths(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

function applyAt(root: Json, path: (string | number)[], f: (parent: Json[] | { [k: string]: Json }, key: string | number) => void, whole: (v: Json) => Json): Json {
  if (path.length === 0) return whole(root);
  let parent = root as Json[] | { [k: string]: Json };
  for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[k] as Json[] | { [k: string]: Json };
  f(parent, path.at(-1)!);
  return root;
}

/** A seed JSON value with 0 to 3 structural edits (drop, replace with something odd, add a key, `__proto__` included). */
export function mutatedJson(seeds: readonly Json[]): fc.Arbitrary<{ value: Json; edits: number }> {
  const op = fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom('drop', 'replace', 'add', 'proto'), weird, fc.string({ maxLength: 8 }));
  return fc.tuple(fc.constantFrom(...seeds), fc.array(op, { maxLength: 3 })).map(([seed, ops]) => {
    let value = structuredClone(seed);
    for (const [f, kind, replacement, key] of ops) {
      const all = paths(value);
      const path = all[Math.min(all.length - 1, Math.floor(f * all.length))]!;
      value = applyAt(
        value,
        path,
        (parent, k) => {
          if (kind === 'drop') {
            if (Array.isArray(parent)) parent.splice(Number(k), 1);
            else delete parent[k];
          } else if (kind === 'replace') (parent as Record<string | number, Json>)[k] = replacement;
          else {
            const target = (parent as Record<string | number, Json>)[k];
            if (target && typeof target === 'object' && !Array.isArray(target)) {
              // JSON.parse makes "__proto__" an own key, as a request body would.
              Object.assign(target, kind === 'proto' ? (JSON.parse(`{"__proto__": ${JSON.stringify(replacement)}}`) as object) : { [key || 'extra']: replacement });
            } else (parent as Record<string | number, Json>)[k] = replacement;
          }
        },
        (v) => (kind === 'replace' ? replacement : v),
      );
    }
    return { value, edits: ops.length };
  });
}

/** Seeds by env so a failure can be replayed: FUZZ_SEED=<n> (fast-check prints the seed and path of a failure). */
export function fuzzParams(numRuns: number): fc.Parameters<unknown> {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
  return { numRuns, ...(seed === undefined ? {} : { seed }), endOnFailure: true };
}

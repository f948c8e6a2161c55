import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CardError, parseCard } from '../../bot/personas/card.js';
import { PersonaRegistry } from '../../bot/personas/registry.js';
import { main as importCard } from '../../scripts/persona-import.js';
import { fuzzParams, mutatedText } from './mutate.js';

/**
 * Card files beyond their text: PNG cards mutated byte by byte (chunk lengths, types, CRCs,
 * keywords, base64, truncation, trailing bytes, oversize), imported next to an existing card with
 * and without --force; front matter that asks for another engine (which would run JavaScript);
 * and a persona folder full of broken cards. Each case is imported, or refused naming the file
 * with the folder exactly as it was: no partial card, no temp file, the old card untouched.
 */

const root = mkdtempSync(path.join(os.tmpdir(), 'fuzz-cards-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const sampleJson = readFileSync('test/fixtures/card-v2-sample.json', 'utf8');
const chunk = (type: string, data: Buffer) => {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
};
const text = (keyword: string, value: string) => chunk('tEXt', Buffer.concat([Buffer.from(`${keyword}\0`, 'latin1'), Buffer.from(value, 'latin1')]));
const b64 = (json: string) => Buffer.from(json, 'utf8').toString('base64');
const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const ihdr = chunk('IHDR', Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]));
const idat = chunk('IDAT', Buffer.from('789c626000000000050001', 'hex'));
const iend = chunk('IEND', Buffer.alloc(0));
/** Valid PNG cards: `chara` as SillyTavern writes it, `ccv3` only, both, and a comment chunk before. */
const PNG_SEEDS = [
  Buffer.concat([SIGNATURE, ihdr, text('chara', b64(sampleJson)), idat, iend]),
  Buffer.concat([SIGNATURE, ihdr, idat, text('ccv3', b64(sampleJson)), iend]),
  Buffer.concat([SIGNATURE, ihdr, text('Comment', 'made by hand'), text('chara', b64(sampleJson)), text('ccv3', b64(JSON.stringify({ spec: 'chara_card_v3', spec_version: '3.0', data: JSON.parse(sampleJson).data }))), idat, iend]),
];

type ByteEdit = (b: Buffer) => Buffer;
const offset = (b: Buffer, f: number) => Math.min(b.length, Math.floor(f * (b.length + 1)));
/** Where the chunks start in a PNG (by walking the lengths as far as they hold). */
function chunkStarts(b: Buffer): number[] {
  const out: number[] = [];
  for (let off = 8; off + 12 <= b.length && out.length < 64; off += 12 + b.readUInt32BE(off)) out.push(off);
  return out;
}
const fraction = fc.double({ min: 0, max: 1, noNaN: true });
const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  fc.tuple(fraction, fc.integer({ min: 0, max: 255 })).map(([f, v]): ByteEdit => (b) => {
    const c = Buffer.from(b);
    if (c.length) c[Math.min(c.length - 1, offset(c, f))] = v;
    return c;
  }),
  fc.tuple(fraction, fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff, 1 << 24), fc.integer({ min: -3, max: 3 })).map(([f, len, delta]): ByteEdit => (b) => {
    const starts = chunkStarts(b);
    const at = starts[Math.min(starts.length - 1, Math.floor(f * starts.length))];
    const c = Buffer.from(b);
    if (at !== undefined) c.writeUInt32BE(Math.max(0, Math.min(0xffffffff, delta ? b.readUInt32BE(at) + delta : len)), at);
    return c;
  }),
  fc.tuple(fraction, fc.constantFrom('IEND', 'tEXt', 'iTXt', 'zTXt', 'IHDR', 'chAR', '\0\0\0\0')).map(([f, type]): ByteEdit => (b) => {
    const starts = chunkStarts(b);
    const at = starts[Math.min(starts.length - 1, Math.floor(f * starts.length))];
    const c = Buffer.from(b);
    if (at !== undefined) c.write(type, at + 4, 'latin1');
    return c;
  }),
  fraction.map((f): ByteEdit => (b) => b.subarray(0, offset(b, f))),
  fc.tuple(fraction, fc.uint8Array({ maxLength: 40 })).map(([f, bytes]): ByteEdit => (b) => Buffer.concat([b.subarray(0, offset(b, f)), Buffer.from(bytes), b.subarray(offset(b, f))])),
  fc.tuple(fc.constantFrom('chara', 'Chara', 'CHARA', 'ccv3', 'chara\0chara', ''), fc.oneof(fc.constant(b64(sampleJson)), fc.constant(b64(sampleJson).slice(0, 500)), fc.string({ maxLength: 60 }), fc.constant('!!!not base64!!!'), fc.constant(b64('{"spec":"chara_card_v2"'))))
    .map(([keyword, value]): ByteEdit => (b) => Buffer.concat([b.subarray(0, 8), text(keyword, value), b.subarray(8)])),
  fc.constant<ByteEdit>((b) => Buffer.concat([b, b.subarray(8)])), // everything twice
);
const pngCase = fc.tuple(fc.constantFrom(...PNG_SEEDS), fc.array(byteEdit, { maxLength: 3 })).map(([seed, edits]) => edits.reduce<Buffer>((b, e) => e(b), seed));

describe('PNG cards, byte by byte, into a folder that already has a card', () => {
  let n = 0;
  it('imports each valid seed, and imports or refuses 1,500 mutated PNGs (with and without --force) leaving the folder whole', () => {
    const existing = '---\nname: Pebble\ngreeting: "Hm."\n---\n## Personality\nA stone.\n';
    const run = (bytes: Buffer, force: boolean, withOld: boolean) => {
      const dir = path.join(root, `png${n++}`);
      const out = path.join(dir, 'personas');
      mkdirSync(out, { recursive: true });
      writeFileSync(path.join(out, 'pebble.md'), existing);
      if (withOld) writeFileSync(path.join(out, 'wren-alderwick.md'), existing.replace('Pebble', 'Old Wren'));
      const before = new Map(readdirSync(out).map((f) => [f, readFileSync(path.join(out, f), 'utf8')]));
      const file = path.join(dir, 'card.png');
      writeFileSync(file, bytes);
      const errors: string[] = [];
      let wrote: string | undefined;
      const code = importCard([file, '--dir', out, ...(force ? ['--force'] : [])], (l) => (wrote = /\(slug "([a-z0-9-]+)"\)/.exec(l)?.[1]), (l) => errors.push(l));
      return { code, errors, wrote: wrote && `${wrote}.md`, after: readdirSync(out).sort(), before, out, dir };
    };
    for (const seed of PNG_SEEDS) {
      const r = run(seed, false, false);
      expect(r.code, r.errors.join('\n')).toBe(0);
      expect(r.after).toEqual(['pebble.md', 'wren-alderwick.md']);
      rmSync(r.dir, { recursive: true, force: true });
    }
    fc.assert(
      fc.property(pngCase, fc.boolean(), fc.boolean(), (bytes, force, withOld) => {
        const r = run(bytes, force, withOld);
        const said = r.errors.join('\n');
        expect(r.after.filter((f) => !f.endsWith('.md') || f.startsWith('.')), 'no temp file left').toEqual([]);
        for (const [f, old] of r.before) if (f !== r.wrote) expect(readFileSync(path.join(r.out, f), 'utf8'), `${f} untouched`).toBe(old);
        if (r.code === 0) {
          // One card written (a new one, or with --force over the one of its slug), and it reads back.
          expect(r.wrote, said).toBeDefined();
          expect(!r.before.has(r.wrote!) || force, 'overwritten only with --force').toBe(true);
          expect(r.after).toEqual([...new Set([...r.before.keys(), r.wrote!])].sort());
          expect(() => parseCard(r.wrote!, r.wrote!.slice(0, -3), readFileSync(path.join(r.out, r.wrote!), 'utf8'))).not.toThrow();
        } else {
          expect(r.after, `nothing half-written: ${said}`).toEqual([...r.before.keys()].sort());
          expect(said).toMatch(/^persona:import: /);
          expect(said).not.toMatch(/unexpected error/);
          expect(said.includes('card.png') || said.includes(r.out), `names the card or the file it would write: ${said}`).toBe(true);
        }
        rmSync(r.dir, { recursive: true, force: true });
      }),
      fuzzParams(1500),
    );
  }, 240_000);

  it('refuses a card over the size limit by its size, naming the file, before reading it', () => {
    const dir = path.join(root, 'huge');
    mkdirSync(path.join(dir, 'personas'), { recursive: true });
    const file = path.join(dir, 'huge.png');
    writeFileSync(file, Buffer.concat([PNG_SEEDS[0]!, Buffer.alloc(20 * 1024 * 1024)]));
    const errors: string[] = [];
    expect(importCard([file, '--dir', path.join(dir, 'personas')], () => {}, (l) => errors.push(l))).toBe(1);
    expect(errors.join('\n')).toMatch(/huge\.png: \d+ bytes is too large for a character card/);
    expect(readdirSync(path.join(dir, 'personas'))).toEqual([]);
  });
});

describe('front matter in another language (gray-matter would run it)', () => {
  const seeds = readdirSync('persona-data').filter((f) => f.endsWith('.md')).map((f) => readFileSync(path.join('persona-data', f), 'utf8'));
  const payload = 'module.exports = (globalThis.__fuzzCardRan = true, { name: "X", greeting: "hi" })';
  const opener = fc.constantFrom('---js', '---javascript', '---coffee', '---json', '--- js', '---JS', '---js ', '---\tjs', '---yaml', '---yml', '----', '--- ', '---#', '---{}');
  it('refuses 1,000 cards whose opening line is not a bare --- with a CardError on line 1 of the file, and never runs their front matter', () => {
    fc.assert(
      fc.property(opener, fc.constantFrom('\n', '\r\n'), fc.oneof(fc.constant(`${payload}\n`), mutatedText(seeds).map((m) => m.text.replace(/^\uFEFF?---[^\n]*\n/, ''))), (open, eol, rest) => {
        const text = `${open}${eol}${rest}`;
        let err: unknown;
        try {
          parseCard('engine.md', 'engine', text);
        } catch (e) {
          err = e;
        }
        if (open.trim() === '---') {
          // A bare opening line (trailing blanks allowed): YAML, accepted or refused as YAML.
          if (err) expect(err).toBeInstanceOf(CardError);
        } else {
          expect(err, text.slice(0, 60)).toBeInstanceOf(CardError);
          expect((err as CardError).message).toMatch(/^engine\.md:1: front matter must be YAML/);
        }
        expect((globalThis as { __fuzzCardRan?: boolean }).__fuzzCardRan).toBeUndefined();
      }),
      fuzzParams(1000),
    );
  });
});

describe('a persona folder with broken cards beside good ones', () => {
  const seeds = readdirSync('persona-data').filter((f) => f.endsWith('.md')).map((f) => readFileSync(path.join('persona-data', f), 'utf8'));
  let n = 0;
  it('loads the good cards and reports each of 300 fuzzed folders’ broken ones by file, never failing the load', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mutatedText(seeds), { minLength: 1, maxLength: 4 }), async (cards) => {
        const dir = path.join(root, `folder${n++}`);
        mkdirSync(dir);
        writeFileSync(path.join(dir, 'good.md'), '---\nname: Good One\ngreeting: "Hi."\n---\n## Personality\nKind.\n');
        cards.forEach((c, i) => writeFileSync(path.join(dir, `card-${i}.md`), c.text));
        const registry = new PersonaRegistry(dir);
        const { loaded, errors } = await registry.load();
        expect(loaded + errors.length).toBe(cards.length + 1);
        expect(registry.find('Good One')).toBeDefined();
        for (const e of errors) {
          expect(e).toBeInstanceOf(CardError);
          expect(e.file.startsWith(dir)).toBe(true);
          expect(e.message.startsWith(e.file)).toBe(true);
        }
        rmSync(dir, { recursive: true, force: true });
      }),
      fuzzParams(300),
    );
  }, 120_000);
});

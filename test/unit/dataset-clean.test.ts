import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { exportLines } from '../../bot/dataset/export.js';
import { splitOf } from '../../bot/dataset/ids.js';
import { cleanText, jaccard, minhash, NearDuplicateIndex, scrub, SignatureTable, similarity } from '../../bot/dataset/clean.js';
import type { DatasetLine } from '../../bot/dataset/line.js';
import { datasetLineSchema, normalizeTurns, turnOrderProblem } from '../../bot/dataset/line.js';
import { SpillFile } from '../../bot/dataset/spill.js';
import { seededRandom } from '../support/random.js';

describe('PII scrubbing', () => {
  it.each([
    ['hey <@123456789012345678> and <@!123456789012345678>', 'hey [USER] and [USER]'],
    ['ping <@&123456789012345678> in <#123456789012345678>', 'ping [ROLE] in [CHANNEL]'],
    ['see https://example.com/a?b=c and www.foo.org/x.', 'see [URL] and [URL]'],
    ['mail me at jane.doe+bot@mail.example.co.uk!', 'mail me at [EMAIL]!'],
    ['call +1 (555) 123-4567 or 0171 234 5678', 'call [PHONE] or [PHONE]'],
    ['my id is 123456789012345678', 'my id is [ID]'],
    ['at <t:1700000000:R> :) <:blob:123456789012345678>', 'at [TIME] :) :blob:'],
    ['@everyone look', '@\u200beveryone look'],
  ])('%s', (input, expected) => {
    expect(scrub(input)).toBe(expected);
  });

  it.each(['in 2024 we met', 'it costs 12.50', 'at 10:30 on 3/4', 'I have 3 cats and 1200 seeds', 'version 1.2.3'])('leaves ordinary numbers: %s', (text) => {
    expect(scrub(text)).toBe(text);
  });

  it('normalises whitespace', () => {
    expect(cleanText('  hello   there \r\n\r\n\r\n\n  friend\t\t!  ')).toBe('hello there\n\nfriend !');
  });
});

describe('near duplicates', () => {
  it('MinHash estimates Jaccard similarity', () => {
    const a = 'Starlight, mostly! I collect it in jars at night, and radishes are the crunchiest snack.';
    const b = 'Starlight, mostly!! I collect it in jars at night and radishes are the crunchiest snacks.';
    const c = 'The cat next door is definitely a secret space agent, I am sure of it.';
    expect(jaccard(a, b)).toBeGreaterThan(0.8);
    expect(Math.abs(similarity(minhash(a), minhash(b)) - jaccard(a, b))).toBeLessThan(0.15);
    expect(similarity(minhash(a), minhash(c))).toBeLessThan(0.2);
  });

  it('drops near-identical texts and keeps different ones', () => {
    const idx = new NearDuplicateIndex(0.8);
    expect(idx.add('Hello, hello! I am Glordon from Wobblewhirl. Who are you, tiny friend? Bloop!')).toBe(true);
    expect(idx.add('Hello hello! I am Glordon from Wobblewhirl... who are you, tiny friend? Bloop!')).toBe(false);
    expect(idx.add('HELLO, HELLO! I am Glordon from Wobblewhirl. Who are you, tiny friend? Bloop!')).toBe(false);
    expect(idx.add('Radishes are the crunchiest snack in the galaxy. Do you like them? Bloop!')).toBe(true);
  });

  it.each([0.5, 0.8, 0.95])('signatures computed beforehand (addRow) decide as add does (threshold %s)', (threshold) => {
    const rand = seededRandom(9);
    const words = 'moon glow tomato radish snail jelly star rain fern kale'.split(' ');
    const texts = Array.from({ length: 3000 }, () => Array.from({ length: 3 + Math.floor(rand() * 8) }, () => words[Math.floor(rand() * words.length)]).join(' '));
    const byText = new NearDuplicateIndex(threshold);
    const expected = texts.map((t) => byText.add(t));
    const table = new SignatureTable();
    for (const t of texts) table.pushText(t);
    const byRow = new NearDuplicateIndex(threshold, 4, table);
    expect(texts.map((_, i) => byRow.addRow(i))).toEqual(expected);
    expect(expected.filter((kept) => !kept).length).toBeGreaterThan(0);
  });
});

describe('spill file', () => {
  const spillNames = () => readdirSync(os.tmpdir()).filter((n) => n.startsWith('dataset-spill-'));

  it('reads back every record, across chunks and from the unwritten chunk; leaves no name in the folder', () => {
    const before = spillNames();
    const spill = new SpillFile();
    expect(spillNames()).toEqual(before);
    const records = Array.from({ length: 3000 }, (_, i) => `record ${i} ${'é🌱'.repeat(i % 50)} ${'x'.repeat(i * 7)}`);
    records.push('y'.repeat(3 << 20)); // larger than a chunk
    records.push('last, still in memory');
    records.forEach((r, i) => expect(spill.append(r)).toBe(i));
    expect(spill.count).toBe(records.length);
    for (const i of [records.length - 1, 0, 1, 1234, records.length - 2, 2999]) expect(spill.read(i)).toBe(records[i]);
    expect(records.every((r, i) => spill.read(i) === r)).toBe(true);
    spill.close();
    expect(() => spill.read(0)).toThrow(/after close/);
    spill.close();
  });

  it.skipIf(!existsSync('/proc/self/fd'))('keeps no plaintext on disk', () => {
    const spill = new SpillFile();
    for (let i = 0; i < 60_000; i++) spill.append(`SECRET-TEXT number ${i}`); // over a megabyte: chunks on disk
    const fds = readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return /dataset-spill-.*\(deleted\)$/.test(readlinkSync(`/proc/self/fd/${fd}`));
      } catch {
        return false;
      }
    });
    expect(fds.length).toBeGreaterThan(0);
    for (const fd of fds) {
      const bytes = readFileSync(`/proc/self/fd/${fd}`);
      expect(bytes.length).toBeGreaterThan(1 << 16);
      expect(bytes.includes('SECRET-TEXT')).toBe(false);
    }
    spill.close();
  });
});

describe('line rules', () => {
  const line = (messages: { role: string; content: string }[]) => ({ id: 'x', persona: 'p', source: 'card', messages });
  it.each([
    [[{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }], null],
    [[{ role: 'system', content: 's' }, { role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }], null],
    [[{ role: 'assistant', content: 'hello' }, { role: 'user', content: 'hi' }], 'expected user'],
    [[{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'a' }, { role: 'user', content: 'b' }], 'last turn'],
    [[{ role: 'user', content: 'hi' }, { role: 'user', content: 'b' }, { role: 'assistant', content: 'a' }], 'expected assistant'],
    [[{ role: 'user', content: 'hi' }, { role: 'system', content: 's' }, { role: 'assistant', content: 'a' }], 'system turn'],
    [[{ role: 'system', content: 's' }, { role: 'assistant', content: 'a' }], 'at least one user'],
  ])('%j', (messages, problem) => {
    const r = datasetLineSchema.safeParse(line(messages));
    if (problem === null) expect(r.success).toBe(true);
    else {
      expect(r.success).toBe(false);
      expect(turnOrderProblem(messages)).toContain(problem);
    }
  });

  it('rejects empty turns and unknown sources', () => {
    expect(datasetLineSchema.safeParse(line([{ role: 'user', content: '' }, { role: 'assistant', content: 'a' }])).success).toBe(false);
    expect(datasetLineSchema.safeParse({ ...line([{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }]), source: 'web' }).success).toBe(false);
  });

  it('normalises turns: merges same-role turns, opens a greeting-first dialogue with a user turn, ends with the assistant', () => {
    expect(
      normalizeTurns([
        { role: 'assistant', content: 'Hi! I am Glordon.' },
        { role: 'assistant', content: 'Bloop!' },
        { role: 'user', content: ' who? ' },
        { role: 'user', content: '' },
        { role: 'user', content: 'really?' },
        { role: 'assistant', content: 'Yes!' },
        { role: 'user', content: 'dangling' },
      ]),
    ).toEqual([
      { role: 'user', content: 'Hello!' },
      { role: 'assistant', content: 'Hi! I am Glordon.\nBloop!' },
      { role: 'user', content: 'who?\nreally?' },
      { role: 'assistant', content: 'Yes!' },
    ]);
    expect(normalizeTurns([{ role: 'user', content: 'only me' }])).toBeNull();
  });

  it('matches the trainer contract schema (trainer/schema/trainer-api.schema.json DatasetLine)', () => {
    let schema: { $defs: Record<string, { required?: string[]; properties: Record<string, { enum?: string[]; minItems?: number; items?: { $ref: string }; type?: string }> }> };
    try {
      schema = JSON.parse(readFileSync('trainer/schema/trainer-api.schema.json', 'utf8'));
    } catch {
      return; // the trainer's schema is not in this checkout
    }
    const def = schema.$defs.DatasetLine!;
    const msg = schema.$defs.Message!;
    expect(def.required).toEqual(expect.arrayContaining(['id', 'persona', 'source', 'messages']));
    expect(def.properties.source!.enum).toEqual(['card', 'synthetic', 'chat_log']);
    expect(msg.properties.role!.enum).toEqual(['system', 'user', 'assistant']);
    expect(def.properties.messages!.minItems).toBeLessThanOrEqual(2);
  });
});

describe('exports and split', () => {
  const lines: DatasetLine[] = [
    { id: 'a1', persona: 'p', source: 'card', messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'q1' }, { role: 'assistant', content: 'a1' }, { role: 'user', content: 'q2' }, { role: 'assistant', content: 'a2' }] },
  ];
  it('writes messages, ShareGPT and Alpaca JSONL', () => {
    expect(JSON.parse(exportLines(lines, 'messages'))).toEqual(lines[0]);
    expect(JSON.parse(exportLines(lines, 'sharegpt')).conversations.map((c: { from: string }) => c.from)).toEqual(['system', 'human', 'gpt', 'human', 'gpt']);
    expect(JSON.parse(exportLines(lines, 'alpaca', 'Glordon'))).toEqual({ id: 'a1', system: 'S', instruction: 'q2', input: 'User: q1\nGlordon: a1', output: 'a2' });
  });
  it('splits by hash, about the asked share', () => {
    const ids = Array.from({ length: 4000 }, (_, i) => `id${i}`);
    const evalShare = ids.filter((id) => splitOf(id, 0.1) === 'eval').length / ids.length;
    expect(evalShare).toBeGreaterThan(0.08);
    expect(evalShare).toBeLessThan(0.12);
    expect(ids.map((id) => splitOf(id, 0.1))).toEqual(ids.map((id) => splitOf(id, 0.1)));
  });
});

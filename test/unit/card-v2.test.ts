import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CardV2Error, cardToCardV2, cardV2Schema, cardV2ToMarkdown, parseMesExample, readCardV2, slugify } from '../../bot/personas/card-v2.js';
import { SLUG, parseCard } from '../../bot/personas/card.js';
import type { PersonaCard } from '../../bot/personas/card.js';
import { ImportError, importCardV2, main, parseArgs, pngCardText } from '../../scripts/persona-import.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const samplePath = path.join(root, 'test/fixtures/card-v2-sample.json');
const sample = () => JSON.parse(readFileSync(samplePath, 'utf8')) as { spec: string; data: Record<string, unknown> };

function v2(data: Record<string, unknown>) {
  return { spec: 'chara_card_v2', spec_version: '2.0', data: { name: 'Test', first_mes: 'Hello.', personality: 'Calm.', ...data } };
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('Card V2 → markdown → parseCard → Card V2', () => {
  const { slug, markdown, warnings } = cardV2ToMarkdown(sample(), { file: 'wren.json' });
  const card = parseCard(`${slug}.md`, slug, markdown);

  it('maps every field, with {{char}} replaced and {{user}} kept', () => {
    expect(slug).toBe('wren-alderwick');
    expect(card.name).toBe('Wren Alderwick');
    expect(card.greeting).toBe("*The bell over the door jangles.* Shut that, you're letting the cold in. You look dreadful, {{user}}. Sit.");
    expect(card.tags).toEqual(['herbalist', 'slice of life', 'female']);
    expect(card.nsfw).toBe(false);
    expect(card.personality).toBe('Wren Alderwick is brisk, practical and warm underneath. She hates waste and loves a good argument about soil.');
    expect(card.speechStyle).toBe('Quick, wry sentences. Calls {{user}} "love" once she likes them. Measures everything in pinches and handfuls.');
    const lore = Object.fromEntries(card.lore.map((s) => [s.title, s.body]));
    expect(lore.Background).toMatch(/^Wren Alderwick is the herbalist of Thistlecombe.*\n\nWren Alderwick lives above her shop, the Crooked Mortar/s);
    expect(lore.Scenario).toBe('It is the first frost of autumn. {{user}} has come down from the pass with a fever, and Wren Alderwick is deciding whether to trust them.');
    expect(lore['The Fennimores']).toMatch(/forty hives/);
    expect(lore['Saltmarsh Fair']).toMatch(/every September/);
    expect(Object.keys(lore)).toHaveLength(4); // the disabled entry is left out
    expect(card.evalPrompts.length).toBeGreaterThanOrEqual(5);
    expect(card.markers.forbid).toContain('as an AI');
    expect(markdown).not.toMatch(/\{\{char\}\}(?!:)|<bot>/i);
  });

  it('turns mes_example into dialogues: <START>, {{char}}/<BOT>/name prefixes, continuation lines', () => {
    expect(card.examples).toEqual([
      [
        { role: 'user', content: "What's good for a cough?" },
        { role: 'assistant', content: "Thyme and honey, steeped till it's dark. Not the shop honey, the good stuff from the Fennimores." },
      ],
      [
        { role: 'user', content: 'Who is Parsnip?' },
        { role: 'assistant', content: 'My tortoise. Eighty-one years old and still rude.\nShe taps the shell fondly.' },
        { role: 'user', content: 'Can I feed him?' },
        { role: 'assistant', content: "Dandelions only. He's particular." },
      ],
      [
        { role: 'user', content: 'Do you ever leave the village?' },
        { role: 'assistant', content: 'Once a year, for the Saltmarsh Fair. I trade my comfrey for their samphire.' },
      ],
    ]);
  });

  it('warns about what the markdown card cannot hold', () => {
    expect(warnings.join('\n')).toMatch(/disabled/);
    expect(warnings.join('\n')).toMatch(/alternate_greetings \(1\), system_prompt, creator_notes, extensions/);
  });

  it('exports a valid V2 card that keeps name, greeting, personality, description, scenario, dialogue and tags', () => {
    const original = sample().data as Record<string, string>;
    const exported = cardToCardV2(card);
    expect(cardV2Schema.safeParse(exported).success).toBe(true);
    const sub = (s: string) => s.replace(/\{\{char\}\}|<bot>/gi, 'Wren Alderwick');
    expect(exported.data.name).toBe(original.name);
    expect(exported.data.first_mes).toBe(original.first_mes);
    expect(exported.data.personality).toBe(sub(original.personality!));
    expect(exported.data.description).toBe(sub(original.description!));
    expect(exported.data.scenario).toBe(sub(original.scenario!));
    expect(exported.data.tags).toEqual(['herbalist', 'slice of life', 'female']);
    expect(parseMesExample(exported.data.mes_example, 'Wren Alderwick')).toEqual(card.examples);
    expect(exported.data.character_book?.entries.map((e) => e.name)).toEqual(['The Fennimores', 'Saltmarsh Fair']);

    // And back again: the same markdown, byte for byte.
    const again = cardV2ToMarkdown(JSON.parse(JSON.stringify(exported)));
    expect(again.slug).toBe(slug);
    expect(again.markdown).toBe(markdown);
    expect(again.warnings).toEqual([]);
  });

  it('round-trips text that looks like markdown structure (headings, ---, fences, HTML, backslashes)', () => {
    const tricky = [
      'First line.',
      '## Appearance',
      'Tall.',
      '---',
      '```',
      '## not a section',
      '<!-- never closed',
      '\\escaped already',
      '  ## indented heading',
      '    ## code, not a heading',
      '<START>',
    ].join('\n');
    const input = v2({
      description: tricky,
      personality: `Calm.\n## Mood\nsteady\n-`,
      mes_example: '<START>\n{{user}}: hi\n{{char}}: one\n## two\n---\n```\n\\three',
      character_book: { entries: [{ keys: ['k'], content: 'lore\n## inside', extensions: {}, enabled: true, insertion_order: 0, name: '## Personality ##' }] },
    });
    const out = cardV2ToMarkdown(input);
    const parsed = parseCard(`${out.slug}.md`, out.slug, out.markdown);
    expect(parsed.sections.map((s) => s.title)).toEqual(['Personality', 'Background', 'Personality (2)', 'Example dialogue', 'Eval prompts']);
    expect(parsed.examples).toHaveLength(1);
    expect(parsed.examples[0]![1]!.content.split('\n')).toHaveLength(5);
    const back = cardToCardV2(parsed);
    expect(back.data.description).toBe(tricky);
    expect(back.data.personality).toBe('Calm.\n## Mood\nsteady\n-');
    expect(back.data.character_book?.entries[0]?.content).toBe('lore\n## inside');
    expect(parseMesExample(back.data.mes_example, 'Test')).toEqual(parseMesExample('<START>\n{{user}}: hi\n{{char}}: one\n## two\n---\n```\n\\three', 'Test'));
    expect(back.data.mes_example).toBe('<START>\n{{user}}: hi\n{{char}}: one\n## two\n---\n```\n\\three');
  });

  it('exports the shipped cards and reads them back whole', () => {
    for (const f of readdirSync(path.join(root, 'persona-data')).filter((n) => n.endsWith('.md') && n !== 'README.md')) {
      const s = f.slice(0, -3);
      const c = parseCard(f, s, readFileSync(path.join(root, 'persona-data', f), 'utf8'));
      const back = cardV2ToMarkdown(cardToCardV2(c));
      expect(back.slug).toBe(s);
      const c2 = parseCard(f, back.slug, back.markdown);
      const comparable = (x: PersonaCard) => ({ ...x, hash: undefined, sections: undefined, lore: x.lore.map((l) => [l.title, l.body]) });
      expect(comparable(c2)).toEqual(comparable(c));
    }
  });
});

describe('Card V2 conversion details', () => {
  it('replaces placeholders case-insensitively, without $-patterns in the name', () => {
    const out = cardV2ToMarkdown(v2({ name: 'Dollar $& Sign', personality: '{{Char}} and <BOT> and {{ char }} meet <user> and {{USER}}.' }));
    expect(parseCard('x.md', out.slug, out.markdown).personality).toBe('Dollar $& Sign and Dollar $& Sign and Dollar $& Sign meet {{user}} and {{user}}.');
  });

  it('accepts V1 flat cards and V3 cards', () => {
    const v1 = cardV2ToMarkdown({ name: 'Old Card', description: 'Desc.', personality: 'Shy.', scenario: '', first_mes: 'Hi.', mes_example: '' });
    expect(parseCard('old-card.md', v1.slug, v1.markdown).personality).toBe('Shy.');
    const v3 = cardV2ToMarkdown({ spec: 'chara_card_v3', spec_version: '3.0', data: { name: 'New', first_mes: 'Yo.', personality: 'Bold.', nickname: 'N' } });
    expect(v3.slug).toBe('new');
    expect(readCardV2({ name: 'x' }).version).toBe('v1');
    expect(readCardV2({ spec: 'chara_card_v3', spec_version: '3.0', data: { name: 'x' } }).version).toBe('v3');
  });

  it('falls back sensibly: empty personality uses the description, empty first_mes an alternate greeting', () => {
    const out = cardV2ToMarkdown(v2({ personality: '', description: 'Everything is here.', first_mes: '', alternate_greetings: ['', 'Second hello.'] }));
    const c = parseCard('x.md', out.slug, out.markdown);
    expect(c.personality).toBe('Everything is here.');
    expect(c.greeting).toBe('Second hello.');
    expect(out.warnings.join('\n')).toMatch(/personality is empty/);
  });

  it('cuts a greeting over 2,000 characters and says so', () => {
    const long = 'A sentence of moderate length. '.repeat(100);
    const out = cardV2ToMarkdown(v2({ first_mes: long }));
    const c = parseCard('x.md', out.slug, out.markdown);
    expect(c.greeting.length).toBeLessThanOrEqual(2000);
    expect(c.greeting.endsWith('.')).toBe(true);
    expect(out.warnings.join('\n')).toMatch(/first_mes is over 2000/);
  });

  it('survives YAML-hostile text and control characters in the front matter', () => {
    const out = cardV2ToMarkdown(v2({ name: 'Mx. "Quote": #1 ---', first_mes: 'line1\n---\nkey: value # not a comment\u0007\u0085', tags: ['a: b', '[x]', '', 'nsfw'] }));
    const c = parseCard('x.md', out.slug, out.markdown);
    expect(c.name).toBe('Mx. "Quote": #1 ---');
    expect(c.greeting).toBe('line1\n---\nkey: value # not a comment');
    expect(c.tags).toEqual(['a: b', '[x]', 'nsfw']);
    expect(c.nsfw).toBe(true);
  });

  it('slugifies names safely: lowercase a-z0-9 and dashes, at most 64, never empty', () => {
    const cases: [string, string][] = [
      ['../../etc/passwd', 'etc-passwd'],
      ['/etc/passwd', 'etc-passwd'],
      ['C:\\Windows\\System32\\evil', 'c-windows-system32-evil'],
      ['..', 'persona'],
      ['', 'persona'],
      ['   ', 'persona'],
      ['日本語の名前', 'persona'],
      ['Zoë Ñúñez-Østergaard', 'zoe-nunez-stergaard'],
      ['README', 'readme-persona'],
      ['con', 'con-persona'],
      ['-leading and trailing-', 'leading-and-trailing'],
      ['x'.repeat(63) + '-yy', 'x'.repeat(63)],
      ['a'.repeat(200), 'a'.repeat(64)],
      ['name\u0000with\nnul', 'name-with-nul'],
    ];
    for (const [name, slug] of cases) {
      expect(slugify(name), name).toBe(slug);
      expect(SLUG.test(slugify(name))).toBe(true);
    }
  });

  it('gives clear errors naming the file and the field', () => {
    const cases: [unknown, RegExp][] = [
      [[], /^c\.json: expected a JSON object/],
      ['text', /^c\.json: expected a JSON object/],
      [null, /^c\.json: expected a JSON object/],
      [{ spec: 'chara_card_v9', data: {} }, /^c\.json: spec: expected "chara_card_v2" \(got "chara_card_v9"\)/],
      [{ spec: 'chara_card_v2', spec_version: '1.0', data: {} }, /^c\.json: spec_version: expected "2\.0"/],
      [{ spec: 'chara_card_v2', spec_version: '2.0' }, /^c\.json: data: /],
      [{ spec: 'chara_card_v2', spec_version: '2.0', data: { first_mes: 'hi' } }, /^c\.json: data\.name: is required/],
      [v2({ name: 42 }), /^c\.json: data\.name: expected a string/],
      [v2({ name: '   ' }), /^c\.json: data\.name: must not be empty/],
      [v2({ name: 'N'.repeat(81) }), /^c\.json: data\.name: at most 80 characters/],
      [v2({ tags: 'a, b' }), /^c\.json: data\.tags: expected a list of strings/],
      [v2({ tags: ['ok', 3] }), /^c\.json: data\.tags\[1\]: expected a string/],
      [v2({ first_mes: '', alternate_greetings: [] }), /^c\.json: data\.first_mes: must not be empty/],
      [v2({ personality: '', description: '' }), /^c\.json: data\.personality: is empty, and so is description/],
      [v2({ character_book: { entries: [{ keys: [], content: 5 }] } }), /^c\.json: data\.character_book\.entries\[0\]\.content: expected a string/],
      [{ description: 'no name' }, /^c\.json: spec: missing/],
      [{ name: 'V1 without greeting', personality: 'x' }, /^c\.json: first_mes: must not be empty/],
    ];
    for (const [json, message] of cases) {
      const err = thrown(() => cardV2ToMarkdown(json, { file: 'c.json' }));
      expect(err, JSON.stringify(json)).toBeInstanceOf(CardV2Error);
      expect(err.message).toMatch(message);
    }
  });
});

describe('persona:import CLI', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'card-v2-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'scripts/persona-import.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  const write = (name: string, json: unknown) => {
    const file = path.join(dir, name);
    writeFileSync(file, typeof json === 'string' ? json : JSON.stringify(json));
    return file;
  };

  it('writes <dir>/<slug>.md, refuses to overwrite it, and overwrites with --force', () => {
    const out = path.join(dir, 'cards');
    mkdirSync(out);
    const first = cli(samplePath, '--dir', out);
    expect(first.stderr).toMatch(/warning: /);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/wrote .*wren-alderwick\.md \(slug "wren-alderwick"\)/);
    const target = path.join(out, 'wren-alderwick.md');
    const text = readFileSync(target, 'utf8');
    expect(parseCard('wren-alderwick.md', 'wren-alderwick', text).name).toBe('Wren Alderwick');

    writeFileSync(target, 'hand edited');
    const second = cli(samplePath, '--dir', out);
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(/wren-alderwick\.md already exists: pass --force/);
    expect(readFileSync(target, 'utf8')).toBe('hand edited');

    const forced = cli(samplePath, `--dir=${out}`, '--force');
    expect(forced.status, forced.stderr).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe(text);
    expect(readdirSync(out)).toEqual(['wren-alderwick.md']); // no temporary file left behind
  });

  it('exits non-zero with a clear message on bad input, writing nothing', () => {
    const badJson = write('bad.json', '{\n  "spec": "chara_card_v2",\n  "data": { "name": "X" \n}');
    const r = cli(badJson, '--dir', dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad\.json: not valid JSON \(line 4, column 2\)/);
    const missing = write('missing.json', { spec: 'chara_card_v2', spec_version: '2.0', data: { first_mes: 'hi' } });
    const m = cli(missing, '--dir', dir);
    expect(m.status).toBe(1);
    expect(m.stderr).toMatch(/missing\.json: data\.name: is required/);
    expect(cli('--dir', dir).status).toBe(2);
    expect(readdirSync(dir).sort()).toEqual(['bad.json', 'missing.json']);
  });

  it('keeps every output inside the target directory', () => {
    const names = ['../../etc/passwd', '/etc/passwd', '..\\..\\evil', '../', '.', 'a/../../b'];
    const out = path.join(dir, 'cards');
    mkdirSync(out);
    for (const [i, name] of names.entries()) {
      const file = write(`evil${i}.json`, v2({ name }));
      const result = importCardV2({ file, dir: out, force: true });
      expect(path.dirname(result.path)).toBe(out);
      expect(SLUG.test(result.slug)).toBe(true);
    }
    expect(readdirSync(out).sort()).toEqual(['a-b.md', 'etc-passwd.md', 'evil.md', 'persona.md']);
    expect(readdirSync(dir).filter((f) => !f.endsWith('.json'))).toEqual(['cards']);
    expect(existsSync(path.join(dir, 'etc-passwd.md'))).toBe(false);
  });

  it('rejects a bad --slug and never follows a link at the target, even with --force', () => {
    const file = write('card.json', v2({ name: 'Linked' }));
    expect(() => parseArgs([file, '--slug', '../x'])).toThrow(ImportError);
    expect(() => parseArgs([file, '--slug=/abs'])).toThrow(/--slug "\/abs"/);
    expect(() => parseArgs([file, '--bogus'])).toThrow(/unknown option --bogus/);
    const outside = write('outside.txt', 'precious');
    symlinkSync(outside, path.join(dir, 'linked.md'));
    expect(() => importCardV2({ file, dir, force: true })).toThrow(/not a regular file/);
    expect(readFileSync(outside, 'utf8')).toBe('precious');
    const lines: string[] = [];
    expect(main([file, '--dir', dir, '--slug', 'other'], (l) => lines.push(l), (l) => lines.push(l))).toBe(0);
    expect(lines.join('\n')).toMatch(/other\.md/);
    expect(main([file, '--dir', path.join(dir, 'nope')], () => {}, (l) => lines.push(l))).toBe(1);
    expect(lines.at(-1)).toMatch(/--dir .*nope: no such directory/);
  });

  it('refuses a card whose name another card in the folder already has', () => {
    writeFileSync(path.join(dir, 'glordon.md'), readFileSync(path.join(root, 'persona-data/glordon.md')));
    const file = write('card.json', v2({ name: 'GLORDON' }));
    expect(() => importCardV2({ file, dir, force: false, slug: 'glordon-two' })).toThrow(/name is already used by .*glordon\.md/);
    expect(importCardV2({ file, dir, force: true, slug: 'glordon' }).slug).toBe('glordon'); // replacing the card itself is fine
    expect(readdirSync(dir).sort()).toEqual(['card.json', 'glordon.md']);
  });

  it('reads a PNG card (base64 JSON in a "chara" tEXt chunk)', () => {
    const json = JSON.stringify(v2({ name: 'Pictured' }));
    const chunk = (type: string, data: Buffer) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length);
      return Buffer.concat([len, Buffer.from(type, 'latin1'), data, Buffer.alloc(4)]); // CRC is not checked
    };
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', Buffer.alloc(13)),
      chunk('tEXt', Buffer.concat([Buffer.from('chara\0', 'latin1'), Buffer.from(Buffer.from(json).toString('base64'), 'latin1')])),
      chunk('IEND', Buffer.alloc(0)),
    ]);
    expect(pngCardText(png)).toBe(json);
    const file = path.join(dir, 'card.png');
    writeFileSync(file, png);
    expect(importCardV2({ file, dir, force: false }).slug).toBe('pictured');
    writeFileSync(file, png.subarray(0, 8 + 25));
    expect(() => importCardV2({ file, dir, force: false })).toThrow(/no "chara" text chunk/);
  });
});

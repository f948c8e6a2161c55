import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ProbeGuard } from '../../bot/dataset/leakage.js';
import { EVERYDAY_QUESTIONS, FOLLOW_UPS, loreQuestions } from '../../bot/dataset/question-bank.js';
import { DEVELOPMENT_PROBES, evaluationProbes, heldOutProbes } from '../../bot/personas/probes.js';
import { CardError, SLUG, parseCard } from '../../bot/personas/card.js';
import type { PersonaCard, Turn } from '../../bot/personas/card.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../persona-data');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.md') && f.toLowerCase() !== 'readme.md')
  .sort();
const load = (f: string) => parseCard(`persona-data/${f}`, f.slice(0, -3), readFileSync(path.join(dir, f), 'utf8'));

const REQUIRED = ['Personality', 'Speech style', 'Background', 'Relationships', 'Example dialogue', 'Eval prompts'];

const replies = (card: PersonaCard) => card.examples.flat().filter((t) => t.role === 'assistant').map((t) => t.content);

/** Share of replies that keep a card's markers: the sign-off, no forbidden string, a lexicon word when there is a lexicon. */
function conformity(markers: PersonaCard['markers'], texts: string[]): number {
  const ok = texts.filter((t) => {
    const lower = t.toLowerCase();
    return (
      (!markers.ends_with || t.trimEnd().endsWith(markers.ends_with)) &&
      !markers.forbid.some((f) => lower.includes(f.toLowerCase())) &&
      (markers.lexicon.length === 0 || markers.lexicon.some((w) => lower.includes(w.toLowerCase())))
    );
  });
  return ok.length / texts.length;
}

describe('shipped persona cards', () => {
  it('ships several cards', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });

  describe.each(files)('%s', (f) => {
    it('parses, with a slug that is its file name', () => {
      const card = load(f);
      expect(SLUG.test(card.slug)).toBe(true);
      expect(card.nsfw).toBe(false);
      expect(card.greeting.length).toBeGreaterThan(0);
      expect(card.tags.length).toBeGreaterThan(0);
    });

    it('has every required section, non-empty, and lore beyond Background and Relationships', () => {
      const card = load(f);
      const titles = card.sections.map((s) => s.title);
      for (const title of REQUIRED) {
        expect(titles, `${f} lacks ## ${title}`).toContain(title);
        expect(card.sections.find((s) => s.title === title)!.body.length, `${f}: ## ${title} is empty`).toBeGreaterThan(40);
      }
      expect(new Set(titles).size).toBe(titles.length);
      const extra = card.lore.filter((s) => !['Background', 'Relationships'].includes(s.title));
      expect(extra.length, `${f} needs a lore section of specific facts`).toBeGreaterThanOrEqual(1);
      expect(readFileSync(path.join(dir, f), 'utf8').split('\n').length).toBeLessThanOrEqual(90);
    });

    it('has at least three example dialogues that start with the user and alternate', () => {
      const card = load(f);
      expect(card.examples.length).toBeGreaterThanOrEqual(3);
      for (const dialogue of card.examples) {
        expect(dialogue.length).toBeGreaterThanOrEqual(2);
        expect(dialogue[0]!.role).toBe('user');
        expect(dialogue.at(-1)!.role).toBe('assistant');
        dialogue.forEach((t: Turn, i) => expect(t.role).toBe(i % 2 === 0 ? 'user' : 'assistant'));
        for (const t of dialogue) expect(t.content.trim().length).toBeGreaterThan(0);
      }
    });

    it('has at least twenty distinct eval prompts, none of them an example-dialogue turn', () => {
      const card = load(f);
      expect(card.evalPrompts.length).toBeGreaterThanOrEqual(20);
      expect(new Set(card.evalPrompts.map((p) => p.toLowerCase())).size).toBe(card.evalPrompts.length);
      const guard = new ProbeGuard(card.evalPrompts);
      const userTurns = card.examples.flat().filter((t) => t.role === 'user');
      for (const t of userTurns) expect(guard.leakOf(t.content), `${f}: example turn "${t.content}" is an eval prompt`).toBeUndefined();
    });

    it('keeps the development probes apart from its evaluation probes and from every question its dataset asks', () => {
      const card = load(f);
      const dev = new ProbeGuard(DEVELOPMENT_PROBES);
      for (const p of evaluationProbes(card)) expect(dev.leakOf(p), `${f}: eval probe "${p}" is near a development probe`).toBeUndefined();
      const asked = [...loreQuestions(card).map((q) => q.question), ...EVERYDAY_QUESTIONS, ...FOLLOW_UPS, ...card.examples.flat().filter((t) => t.role === 'user').map((t) => t.content)];
      for (const q of asked) expect(dev.leakOf(q), `${f}: training question "${q}" is near a development probe`).toBeUndefined();
      // And the builder's guard holds both sets back from whatever else it generates.
      expect(heldOutProbes(card)).toEqual(expect.arrayContaining([...evaluationProbes(card), ...DEVELOPMENT_PROBES]));
    });

    it('has measurable markers that its own greeting and examples keep', () => {
      const card = load(f);
      const { markers } = card;
      expect(Boolean(markers.ends_with) || markers.lexicon.length > 0, `${f} needs markers.ends_with or markers.lexicon`).toBe(true);
      expect(markers.forbid.length).toBeGreaterThan(0);
      if (markers.ends_with) expect(card.greeting.endsWith(markers.ends_with)).toBe(true);
      for (const forbidden of markers.forbid) expect(card.greeting.toLowerCase()).not.toContain(forbidden.toLowerCase());
      expect(conformity(markers, replies(card))).toBeGreaterThanOrEqual(2 / 3);
      expect(card.model.base).toBeTruthy();
    });
  });

  it('has lore facts for the quality benchmark only on its own eval prompts', () => {
    const facts = JSON.parse(readFileSync(path.resolve(dir, '../bench/fixtures/lore-facts.json'), 'utf8')) as Record<string, Record<string, string[][]>>;
    for (const f of files) {
      const card = load(f);
      const mine = facts[card.slug];
      expect(mine, `bench/fixtures/lore-facts.json has no facts for ${card.slug}`).toBeDefined();
      expect(Object.keys(mine!).length).toBeGreaterThanOrEqual(8);
      for (const [probe, wordings] of Object.entries(mine!)) {
        expect(card.evalPrompts, `${card.slug}: "${probe}" is not one of its eval prompts`).toContain(probe);
        // Every fact is in the card itself, so a reply can only know it from the card.
        for (const ways of wordings) expect(ways.some((w) => readFileSync(path.join(dir, f), 'utf8').toLowerCase().includes(w.toLowerCase())), `${card.slug}: ${ways.join('/')}`).toBe(true);
      }
    }
  });

  it('gives every card a voice its markers tell apart from the others', () => {
    const cards = files.map(load);
    expect(new Set(cards.map((c) => c.name.toLowerCase())).size).toBe(cards.length);
    const endings = cards.map((c) => c.markers.ends_with).filter(Boolean);
    expect(new Set(endings).size).toBe(endings.length);
    for (const a of cards) {
      const own = conformity(a.markers, replies(a));
      for (const b of cards) {
        if (a === b) continue;
        expect(conformity(a.markers, replies(b)), `${a.slug}'s markers also fit ${b.slug}`).toBeLessThan(own);
        expect(conformity(a.markers, replies(b)), `${a.slug}'s markers also fit ${b.slug}`).toBeLessThanOrEqual(1 / 3);
      }
    }
  });
});

describe('malformed cards are reported with file and line', () => {
  const good = readFileSync(path.join(dir, 'glordon.md'), 'utf8');
  const lines = good.split('\n');
  const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.startsWith(needle)) + 1;
  const FILE = 'persona-data/broken.md';
  const insertAfter = (needle: string, ...extra: string[]) => {
    const i = lineOf(good, needle);
    return [...lines.slice(0, i), ...extra, ...lines.slice(i)].join('\n');
  };
  const replace = (needle: string, line: string) => lines.map((l) => (l.startsWith(needle) ? line : l)).join('\n');
  const error = (text: string, slug = 'broken'): CardError => {
    try {
      parseCard(FILE, slug, text);
    } catch (err) {
      expect(err).toBeInstanceOf(CardError);
      return err as CardError;
    }
    throw new Error('expected a CardError');
  };

  it('parses the unbroken card (the baseline for the cases below)', () => {
    expect(parseCard(FILE, 'broken', good).name).toBe('Glordon');
  });

  it('bad YAML: the line of the fault', () => {
    const dup = error(insertAfter('name:', 'name: Again'));
    expect(dup.file).toBe(FILE);
    expect(dup.line).toBe(3);
    expect(dup.message).toMatch(/^persona-data\/broken\.md:3: front matter is not valid YAML: duplicated mapping key/);
    const indent = error(insertAfter('greeting:', '  oops: : :'));
    expect(indent.line).toBe(lineOf(good, 'greeting:') + 1);
    expect(indent.message).toMatch(/not valid YAML/);
  });

  it('unknown field: the line it is on', () => {
    const e = error(insertAfter('nsfw:', 'colour: lavender'));
    expect(e.line).toBe(lineOf(good, 'nsfw:') + 1);
    expect(e.problem).toBe('unknown field(s) colour');
  });

  it('wrong type: the line of the field, and what was expected', () => {
    const nsfw = error(replace('nsfw:', 'nsfw: "yes"'));
    expect(nsfw.line).toBe(lineOf(good, 'nsfw:'));
    expect(nsfw.problem).toBe('nsfw: expected true or false');
    const tags = error(replace('tags:', 'tags: alien'));
    expect(tags.line).toBe(lineOf(good, 'tags:'));
    expect(tags.problem).toMatch(/^tags: /);
    const speakers = error(replace('speakers:', 'speakers: [12345]'));
    expect(speakers.line).toBe(lineOf(good, 'speakers:'));
  });

  it('missing or empty Personality', () => {
    const missing = error(replace('## Personality', '## Persona'));
    expect(missing.file).toBe(FILE);
    expect(missing.line).toBeNull();
    expect(missing.problem).toMatch(/missing a "## Personality" section/);
    const start = lineOf(good, '## Personality');
    const end = lineOf(good, '## Speech style');
    const empty = error([...lines.slice(0, start), '', ...lines.slice(end - 1)].join('\n'));
    expect(empty.line).toBe(start);
  });

  it('a dialogue line without {{user}}: or {{char}}:, blank lines after the heading included', () => {
    const heading = lineOf(good, '## Example dialogue');
    const direct = error(insertAfter('## Example dialogue', 'Glordon waves.'));
    expect(direct.line).toBe(heading + 1);
    expect(direct.problem).toMatch(/start with \{\{user\}\}: or \{\{char\}\}:/);
    const spaced = error(insertAfter('## Example dialogue', '', '', 'Glordon waves.'));
    expect(spaced.line).toBe(heading + 3);
    const afterBlank = error(insertAfter('{{char}}: Hello, hello!', '', 'stray narration'));
    expect(afterBlank.line).toBe(lineOf(good, '{{char}}: Hello, hello!') + 2);
  });

  it('a bad file name', () => {
    const e = error(good, 'Broken Card');
    expect(e.line).toBeNull();
    expect(e.problem).toMatch(/slug/);
  });

  it('still reads --- separated dialogues, CRLF line ends, and ## inside a code fence', () => {
    const dashed = good.replace(/\n\n(\{\{user\}\})/g, '\n---\n$1');
    expect(parseCard(FILE, 'broken', dashed).examples).toEqual(parseCard(FILE, 'broken', good).examples);
    const crlf = parseCard(FILE, 'broken', good.replace(/\n/g, '\r\n'));
    expect(crlf.examples.length).toBe(3);
    expect(crlf.sections.map((s) => s.title)).toEqual(parseCard(FILE, 'broken', good).sections.map((s) => s.title));
    const fenced = insertAfter('eats dewdrops.', '```', '## Not a section', '```');
    expect(parseCard(FILE, 'broken', fenced).sections.map((s) => s.title)).not.toContain('Not a section');
  });
});

import { escapeRegExp } from '../core/text.js';
import { z } from 'zod';
import { CardError, SLUG, frontMatterSchema, parseCard } from './card.js';
import type { PersonaCard, Turn } from './card.js';

/**
 * SillyTavern Character Card V2 (https://github.com/malfoyslastname/character-card-spec-v2) to and
 * from the persona card format (DESIGN, "Persona card").
 *
 * Import mapping: name → name, first_mes → greeting, tags → tags, personality → ## Personality (a
 * later paragraph starting "Speech style:" → ## Speech style), description → ## Background,
 * scenario → ## Scenario, character_book entries → one lore section each, mes_example
 * (<START>-separated) → ## Example dialogue. `{{char}}` / `<BOT>` become the name; `{{user}}` /
 * `<USER>` stay as `{{user}}`, which the prompt builder fills in with the speaker's name.
 * V1 (flat) cards and V3 cards (same `data` fields) are accepted too.
 *
 * Text is copied as is, except that a line which markdown would read as a structure that can end or
 * swallow a section (a `## ` heading, a `---` line, a code fence, an HTML block, or a line that
 * already starts with a backslash) gets a backslash in front; export removes it again, so
 * V2 → markdown → parseCard → V2 keeps the text.
 */

const CARD_V2_SPEC = 'chara_card_v2';
const CARD_V3_SPEC = 'chara_card_v3';
const NAME_MAX = 80;
const GREETING_MAX = 2000;
/** The namespaced `extensions` key this project uses for what Card V2 has no field for. */
export const EXTENSION_KEY = 'persona_bot';

const requiredString = z.string({ error: (iss) => (iss.input === undefined ? 'is required' : 'expected a string') });
/** V1 says every text field defaults to "" (and real cards sometimes carry null). */
const text = z
  .string({ error: 'expected a string' })
  .nullish()
  .transform((v) => v ?? '');
const strings = z
  .array(z.string({ error: 'expected a string' }), { error: 'expected a list of strings' })
  .nullish()
  .transform((v) => v ?? []);
const extensions = z
  .record(z.string(), z.unknown(), { error: 'expected an object' })
  .nullish()
  .transform((v) => v ?? {});

export const characterBookEntrySchema = z.looseObject({
  keys: strings,
  content: text,
  extensions,
  enabled: z.boolean({ error: 'expected true or false' }).nullish().transform((v) => v ?? true),
  insertion_order: z.number({ error: 'expected a number' }).nullish().transform((v) => v ?? 0),
  name: z.string({ error: 'expected a string' }).nullish(),
  comment: z.string({ error: 'expected a string' }).nullish(),
});

export const characterBookSchema = z.looseObject({
  name: z.string({ error: 'expected a string' }).nullish(),
  description: z.string({ error: 'expected a string' }).nullish(),
  extensions,
  entries: z.array(characterBookEntrySchema, { error: 'expected a list of entries' }).nullish().transform((v) => v ?? []),
});

/** The `data` object of a V2 card (also the top level of a V1 card). Unknown keys are kept. */
export const cardV2DataSchema = z.looseObject({
  name: requiredString.trim().min(1, 'must not be empty'),
  description: text,
  personality: text,
  scenario: text,
  first_mes: text,
  mes_example: text,
  creator_notes: text,
  system_prompt: text,
  post_history_instructions: text,
  alternate_greetings: strings,
  character_book: characterBookSchema.nullish(),
  tags: strings,
  creator: text,
  character_version: text,
  extensions,
});

export const cardV2Schema = z.looseObject({
  spec: z.literal(CARD_V2_SPEC, { error: `expected "${CARD_V2_SPEC}"` }),
  spec_version: z.string({ error: 'expected "2.0"' }).regex(/^2(\.\d+)*$/, 'expected "2.0"'),
  data: cardV2DataSchema,
});

const cardV3Schema = cardV2Schema.extend({
  spec: z.literal(CARD_V3_SPEC),
  spec_version: z.string({ error: 'expected "3.0"' }).regex(/^3(\.\d+)*$/, 'expected "3.0"'),
});

export type CardV2Data = z.output<typeof cardV2DataSchema>;
export type CardV2 = z.output<typeof cardV2Schema>;

export interface CharacterBookEntryV2 {
  keys: string[];
  content: string;
  extensions: Record<string, unknown>;
  enabled: boolean;
  insertion_order: number;
  name?: string;
}

/** What `cardToCardV2` produces: a complete V2 card. */
export interface CardV2Export {
  spec: typeof CARD_V2_SPEC;
  spec_version: '2.0';
  data: {
    name: string;
    description: string;
    personality: string;
    scenario: string;
    first_mes: string;
    mes_example: string;
    creator_notes: string;
    system_prompt: string;
    post_history_instructions: string;
    alternate_greetings: string[];
    character_book?: { name: string; extensions: Record<string, unknown>; entries: CharacterBookEntryV2[] };
    tags: string[];
    creator: string;
    character_version: string;
    extensions: Record<string, unknown>;
  };
}

/** What this project keeps under `extensions.persona_bot`, so an exported card re-imports whole. */
const personaExtensionSchema = z.looseObject({
  slug: z.string().optional(),
  nsfw: z.boolean().optional(),
  markers: frontMatterSchema.shape.markers.unwrap().optional(),
  model: frontMatterSchema.shape.model.unwrap().optional(),
  eval_prompts: z.array(z.string().trim().min(1)).optional(),
});

export class CardV2Error extends Error {
  override name = 'CardV2Error';
  constructor(
    public readonly file: string,
    /** The JSON field at fault, e.g. `data.first_mes`; null when it is the whole card. */
    public readonly field: string | null,
    public readonly problem: string,
  ) {
    super(`${file}: ${field ? `${field}: ` : ''}${problem}`);
  }
}

export interface ReadCard {
  version: 'v1' | 'v2' | 'v3';
  data: CardV2Data;
}

/** Validates parsed JSON as a V2 card (or V3, or a flat V1 card); errors name the field. */
export function readCardV2(json: unknown, file = 'card.json'): ReadCard {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CardV2Error(file, null, 'expected a JSON object (a SillyTavern Character Card V2)');
  }
  const obj = json as Record<string, unknown>;
  if ('spec' in obj) {
    if (obj.spec === CARD_V2_SPEC) return { version: 'v2', data: check(cardV2Schema, obj, file).data };
    if (obj.spec === CARD_V3_SPEC) return { version: 'v3', data: check(cardV3Schema, obj, file).data };
    throw new CardV2Error(file, 'spec', `expected "${CARD_V2_SPEC}" (got ${JSON.stringify(obj.spec) ?? 'nothing'})`);
  }
  if (obj.data !== null && typeof obj.data === 'object' && !Array.isArray(obj.data)) {
    // No `spec` but a `data` object: read it as V2 all the same.
    return { version: 'v2', data: check(z.looseObject({ data: cardV2DataSchema }), obj, file).data };
  }
  if (!('name' in obj)) {
    throw new CardV2Error(file, 'spec', `missing: expected a Character Card V2 ({"spec": "${CARD_V2_SPEC}", "data": {...}}) or a V1 card with "name" at the top level`);
  }
  return { version: 'v1', data: check(cardV2DataSchema, obj, file) };
}

function check<T extends z.ZodType>(schema: T, value: unknown, file: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
  throw new CardV2Error(file, field || null, issue.message);
}

export interface MarkdownCard {
  slug: string;
  markdown: string;
  /** What the card had that the markdown card cannot hold (dropped fields, truncations). */
  warnings: string[];
}

/**
 * Converts a Character Card V2 (parsed JSON) to a persona card. The markdown is checked with
 * parseCard before it is returned. Throws CardV2Error naming the field on invalid input.
 */
export function cardV2ToMarkdown(json: unknown, options: { file?: string; slug?: string } = {}): MarkdownCard {
  const file = options.file ?? 'card.json';
  const { data } = readCardV2(json, file);
  const warnings: string[] = [];
  const fieldPrefix = 'spec' in (json as object) || 'data' in (json as object) ? 'data.' : '';

  const name = clean(data.name).replace(/\s+/g, ' ').trim();
  if (!name) throw new CardV2Error(file, `${fieldPrefix}name`, 'must not be empty');
  if (name.length > NAME_MAX) throw new CardV2Error(file, `${fieldPrefix}name`, `at most ${NAME_MAX} characters (a Discord webhook name limit)`);
  const ext = personaExtensionSchema.safeParse(data.extensions[EXTENSION_KEY] ?? {});
  if (!ext.success) warnings.push(`extensions.${EXTENSION_KEY} is not valid and was ignored`);
  const own = ext.success ? ext.data : {};
  const slug = options.slug ?? (own.slug && SLUG.test(own.slug) ? own.slug : slugify(name));
  if (!SLUG.test(slug)) throw new CardV2Error(file, null, `slug "${slug}" must be lowercase letters, digits and dashes (at most 64)`);
  const sub = (s: string) => substitute(clean(s), name).trim();

  let greeting = sub(data.first_mes);
  if (!greeting) {
    greeting = data.alternate_greetings.map(sub).find((g) => g !== '') ?? '';
    if (!greeting) throw new CardV2Error(file, `${fieldPrefix}first_mes`, 'must not be empty (it is the greeting)');
    warnings.push('first_mes is empty: the first alternate greeting is the greeting');
  }
  if (greeting.length > GREETING_MAX) {
    greeting = truncate(greeting, GREETING_MAX);
    warnings.push(`first_mes is over ${GREETING_MAX} characters (a Discord message): cut to ${greeting.length}`);
  }

  let personality = sub(data.personality);
  let speechStyle = '';
  const speech = /\n[ \t]*\n[ \t]*speech style:[ \t]*/i.exec(personality);
  if (speech) {
    speechStyle = personality.slice(speech.index + speech[0].length).trim();
    personality = personality.slice(0, speech.index).trim();
  }
  let description = sub(data.description);
  if (!personality) {
    if (!description) throw new CardV2Error(file, `${fieldPrefix}personality`, 'is empty, and so is description: a card needs a personality');
    personality = description;
    description = '';
    warnings.push('personality is empty: the description is the ## Personality section');
  }

  const sections: [string, string][] = [['Personality', escapeBlock(personality)]];
  if (speechStyle) sections.push(['Speech style', escapeBlock(speechStyle)]);
  if (description) sections.push(['Background', escapeBlock(description)]);
  const scenario = sub(data.scenario);
  if (scenario) sections.push(['Scenario', escapeBlock(scenario)]);

  const taken = new Set(['personality', 'speech style', 'background', 'scenario', 'example dialogue', 'eval prompts']);
  const entries = data.character_book?.entries ?? [];
  entries.forEach((entry, i) => {
    const content = sub(entry.content);
    if (!entry.enabled || !content) {
      warnings.push(`character_book entry ${i + 1} is ${entry.enabled ? 'empty' : 'disabled'}: not imported`);
      return;
    }
    const label = sectionTitle(entry.name || entry.comment || entry.keys.join(', ') || `Lore ${i + 1}`) || `Lore ${i + 1}`;
    let title = label;
    for (let n = 2; taken.has(title.toLowerCase()); n++) title = `${label} (${n})`;
    taken.add(title.toLowerCase());
    sections.push([title, escapeBlock(content)]);
  });

  const examples = parseMesExample(clean(data.mes_example), name);
  if (examples.length > 0) sections.push(['Example dialogue', examples.map(formatDialogue).join('\n\n')]);
  const evalPrompts = own.eval_prompts?.length ? own.eval_prompts : defaultEvalPrompts(scenario !== '');
  sections.push(['Eval prompts', evalPrompts.map((p) => `- ${clean(p).replace(/\s+/g, ' ').trim()}`).join('\n')]);

  const dropped = [
    data.alternate_greetings.length > 0 && `alternate_greetings (${data.alternate_greetings.length})`,
    data.system_prompt.trim() && 'system_prompt',
    data.post_history_instructions.trim() && 'post_history_instructions',
    data.creator_notes.trim() && 'creator_notes',
    Object.keys(data.extensions).some((k) => k !== EXTENSION_KEY) && 'extensions',
  ].filter((x): x is string => !!x);
  if (dropped.length > 0) warnings.push(`not kept in the markdown card: ${dropped.join(', ')}`);

  const tags = [...new Set(data.tags.map((t) => clean(t).replace(/\s+/g, ' ').trim()).filter((t) => t !== ''))];
  const nsfw = own.nsfw ?? tags.some((t) => t.toLowerCase() === 'nsfw');
  const markers = own.markers ?? { lexicon: [], forbid: ['as an AI', 'language model'] };
  const q = (s: string) => JSON.stringify(s); // a JSON string is a YAML double-quoted scalar
  const front = [
    `name: ${q(name)}`,
    `greeting: ${q(greeting)}`,
    `tags: [${tags.map(q).join(', ')}]`,
    `nsfw: ${nsfw}`,
    'speakers: []',
    'markers:',
    ...(markers.ends_with ? [`  ends_with: ${q(markers.ends_with)}`] : []),
    `  lexicon: [${markers.lexicon.map(q).join(', ')}]`,
    `  forbid: [${markers.forbid.map(q).join(', ')}]`,
    ...(own.model && (own.model.base || own.model.temperature !== undefined)
      ? ['model:', ...(own.model.base ? [`  base: ${q(own.model.base)}`] : []), ...(own.model.temperature !== undefined ? [`  temperature: ${own.model.temperature}`] : [])]
      : []),
  ];
  const markdown = `---\n${front.join('\n')}\n---\n${sections.map(([title, body]) => `## ${title}\n${body}\n`).join('\n')}`;

  // The markdown must read back as what was meant (parseCard is the contract).
  let card: PersonaCard;
  try {
    card = parseCard(`${slug}.md`, slug, markdown);
  } catch (err) {
    if (err instanceof CardError) throw new CardV2Error(file, null, `the converted card does not parse (${err.message})`);
    throw err;
  }
  if (card.personality !== escapeBlock(personality) || card.examples.length !== examples.length || card.sections.length !== sections.length) {
    throw new CardV2Error(file, null, 'the converted card does not read back as converted (please report this card)');
  }
  return { slug, markdown, warnings };
}

/** Exports a persona card as a Character Card V2 (lore beyond Background and Scenario goes to the character book). */
export function cardToCardV2(card: PersonaCard): CardV2Export {
  const section = (title: string) => card.sections.find((s) => s.title.toLowerCase() === title)?.body ?? '';
  const personality = unescapeBlock(card.personality) + (card.speechStyle ? `\n\nSpeech style: ${unescapeBlock(card.speechStyle)}` : '');
  const lore = card.lore.filter((s) => !['background', 'scenario'].includes(s.title.toLowerCase()));
  const mesExample = card.examples
    .map((dialogue) => ['<START>', ...dialogue.map((t) => `${t.role === 'user' ? '{{user}}' : '{{char}}'}: ${unescapeContinuation(t.content)}`)].join('\n'))
    .join('\n');
  return {
    spec: CARD_V2_SPEC,
    spec_version: '2.0',
    data: {
      name: card.name,
      description: unescapeBlock(section('background')),
      personality,
      scenario: unescapeBlock(section('scenario')),
      first_mes: card.greeting,
      mes_example: mesExample,
      creator_notes: '',
      system_prompt: '',
      post_history_instructions: '',
      alternate_greetings: [],
      ...(lore.length > 0
        ? {
            character_book: {
              name: `${card.name}: lore`,
              extensions: {},
              entries: lore.map((s, i) => ({ keys: [s.title], content: unescapeBlock(s.body), extensions: {}, enabled: true, insertion_order: i, name: s.title })),
            },
          }
        : {}),
      tags: [...card.tags],
      creator: '',
      character_version: '',
      extensions: {
        [EXTENSION_KEY]: { slug: card.slug, nsfw: card.nsfw, markers: card.markers, model: card.model, eval_prompts: card.evalPrompts },
      },
    },
  };
}

const RESERVED_SLUGS = new Set(['readme', 'con', 'prn', 'aux', 'nul', ...[1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((n) => [`com${n}`, `lpt${n}`])]);

/** A file-safe slug for a name: lowercase a-z, 0-9 and dashes, at most 64 characters, never empty ("persona"). */
export function slugify(name: string): string {
  let slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 64)
    .replace(/-+$/, '');
  if (RESERVED_SLUGS.has(slug)) slug = `${slug}-persona`;
  return SLUG.test(slug) ? slug : 'persona';
}

/** Removes control characters (YAML refuses some) and lone surrogates; normalizes line ends. */
function clean(s: string): string {
  return s
    .replace(/\r\n?/g, '\n')
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\uFEFF\uFFFE\uFFFF]/g, '') // eslint-disable-line no-control-regex
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '');
}

/** `{{char}}` / `<BOT>` → the name; `{{user}}` / `<USER>` → `{{user}}` (case-insensitive, as V1 says). */
function substitute(s: string, name: string): string {
  return s.replace(/\{\{\s*char\s*\}\}|<bot>/gi, () => name).replace(/\{\{\s*user\s*\}\}|<user>/gi, '{{user}}');
}

/** Lines markdown would read as a heading, a `---` separator, a fence or an HTML block, or that start with `\`. */
const HAZARD = /^([ \t]{0,3})(?=\\|##(?:[ \t]|$)|-+[ \t]*$|`{3}|~{3}|<)/;
const escapeLine = (line: string) => line.replace(HAZARD, '$1\\');
const unescapeLine = (line: string) => line.replace(/^([ \t]{0,3})\\/, '$1');
const escapeBlock = (s: string) => s.split('\n').map(escapeLine).join('\n');
const unescapeBlock = (s: string) => s.split('\n').map(unescapeLine).join('\n');
/** In a dialogue turn only the lines after the first are escaped (the first follows `{{char}}: `). */
const unescapeContinuation = (s: string) =>
  s
    .split('\n')
    .map((l, i) => (i === 0 ? l : unescapeLine(l)))
    .join('\n');

function sectionTitle(s: string): string {
  return clean(s).replace(/\s+/g, ' ').trim().replace(/^#+\s*|\s+#+$/g, '').slice(0, 80).trim();
}

function truncate(s: string, max: number): string {
  const cut = s.slice(0, max - 1).replace(/[\uD800-\uDBFF]$/, '');
  const paragraph = cut.lastIndexOf('\n\n');
  const sentence = Math.max(...['. ', '! ', '? ', '.\n', '!\n', '?\n'].map((e) => cut.lastIndexOf(e) + 1));
  const end = Math.max(paragraph, sentence);
  return end > max / 2 ? cut.slice(0, end).trim() : `${cut.trimEnd()}…`;
}

/**
 * mes_example: `<START>` starts a dialogue; lines start with `{{user}}:`, `{{char}}:`, `<USER>:`,
 * `<BOT>:`, `<name>:` or `<first name>:`; other lines continue the turn before them (blank lines inside a turn are
 * dropped: a blank line separates dialogues in the markdown card). Without any `<START>`, a blank
 * line followed by a speaker line starts a new dialogue.
 */
export function parseMesExample(src: string, name: string): Turn[][] {
  const lines = src.split('\n').map((l) => l.trim());
  const isStart = (l: string) => /^<start>$/i.test(l);
  const hasStart = lines.some(isStart);
  const names = [...new Set([name, name.split(' ')[0]!])].filter((n) => n.length > 1).map(escapeRegExp);
  const speaker = new RegExp(`^(?:\\{\\{\\s*(user|char)\\s*\\}\\}|<(user|bot)>|(${names.join('|')}))\\s*:\\s*(.*)$`, 'i');
  const dialogues: Turn[][] = [];
  let current: { role: Turn['role']; lines: string[] }[] = [];
  const flush = () => {
    const turns: { role: Turn['role']; lines: string[] }[] = [];
    for (const t of current) {
      const lines = t.lines.filter((l) => l !== '');
      const last = turns[turns.length - 1];
      if (lines.length === 0) continue;
      if (last && last.role === t.role) last.lines.push(...lines);
      else turns.push({ role: t.role, lines });
    }
    if (turns.length > 0) dialogues.push(turns.map((t) => ({ role: t.role, content: [t.lines[0]!, ...t.lines.slice(1).map(escapeLine)].join('\n') })));
    current = [];
  };
  lines.forEach((line, i) => {
    if (isStart(line)) return flush();
    if (line === '') {
      const next = lines.slice(i + 1).find((l) => l !== '');
      if (!hasStart && next !== undefined && speaker.test(next)) flush();
      return;
    }
    const m = speaker.exec(line);
    const content = substitute(m ? m[4]! : line, name).trim();
    if (m) {
      const who = (m[1] ?? m[2] ?? 'char').toLowerCase();
      const role: Turn['role'] = who === 'user' ? 'user' : 'assistant';
      const last = current[current.length - 1];
      if (last && last.role === role) last.lines.push(content);
      else current.push({ role, lines: [content] });
    } else if (current.length > 0) {
      current[current.length - 1]!.lines.push(content);
    } else {
      current.push({ role: 'assistant', lines: [content] }); // narration before anyone speaks
    }
  });
  flush();
  return dialogues;
}

function formatDialogue(dialogue: Turn[]): string {
  return dialogue.map((t) => `${t.role === 'user' ? '{{user}}' : '{{char}}'}: ${t.content}`).join('\n');
}

function defaultEvalPrompts(hasScenario: boolean): string[] {
  return ['Who are you?', 'Tell me about yourself.', hasScenario ? 'Where are we right now?' : 'Where do you live?', 'What matters most to you?', 'Who are the important people in your life?'];
}

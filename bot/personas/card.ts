import { createHash } from 'node:crypto';
import matter from 'gray-matter';
import yaml from 'js-yaml';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { z } from 'zod';

/**
 * The persona card format (DESIGN, "Persona card"): `persona-data/<slug>.md`, YAML front matter
 * then markdown sections. This module parses and validates one card's text; problems are
 * reported with the line they are on.
 */

export const SLUG = /^[a-z0-9][a-z0-9-]{0,63}$/;
const SNOWFLAKE = /^\d{17,20}$/;

export const frontMatterSchema = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(80, 'at most 80 characters (a Discord webhook name limit)'),
  avatar: z.url({ message: 'expected an http(s) image URL' }).optional(),
  greeting: z.string().trim().min(1, 'must not be empty').max(2000, 'at most 2,000 characters'),
  tags: z.array(z.string().trim().min(1)).default([]),
  nsfw: z.boolean({ message: 'expected true or false' }).default(false),
  speakers: z.array(z.string().regex(SNOWFLAKE, 'expected Discord user ids (17-20 digits, quoted)')).default([]),
  markers: z
    .strictObject({
      ends_with: z.string().min(1).optional(),
      lexicon: z.array(z.string().min(1)).default([]),
      forbid: z.array(z.string().min(1)).default([]),
    })
    .default({ lexicon: [], forbid: [] }),
  model: z
    .strictObject({
      base: z.string().min(1).optional(),
      temperature: z.number().min(0, 'from 0 to 2').max(2, 'from 0 to 2').optional(),
    })
    .default({}),
});

export type FrontMatter = z.infer<typeof frontMatterSchema>;

/** Sections that shape the system prompt rather than being retrieved as lore. */
export const VOICE_SECTIONS = ['Personality', 'Speech style'] as const;
export const KNOWN_SECTIONS = ['Personality', 'Speech style', 'Background', 'Relationships', 'Example dialogue', 'Eval prompts'] as const;

export interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

export interface CardSection {
  title: string;
  body: string;
  /** 1-based line of the heading in the file. */
  line: number;
}

export interface PersonaCard extends FrontMatter {
  slug: string;
  file: string;
  /** sha256 of the card file: what the lore index and datasets key on. */
  hash: string;
  sections: CardSection[];
  personality: string;
  speechStyle: string;
  /** Sections retrieved into the prompt by relevance (everything but voice, dialogue and eval). */
  lore: CardSection[];
  /** Example dialogues, each a list of alternating turns ({{user}} / {{char}}). */
  examples: Turn[][];
  evalPrompts: string[];
}

export class CardError extends Error {
  override name = 'CardError';
  constructor(
    public readonly file: string,
    public readonly line: number | null,
    public readonly problem: string,
  ) {
    super(`${file}${line ? `:${line}` : ''}: ${problem}`);
  }
}

/** gray-matter's engines with every one but YAML refused (js-yaml 4's default schema has no `!!js/*` tags), in case one is ever selected. */
const refused = (language: string) => () => {
  throw new Error(`${language} front matter is refused; cards are YAML`);
};
const YAML_ONLY = {
  yaml: { parse: (s: string) => (yaml.load(s) ?? {}) as object },
  js: { parse: refused('js') },
  javascript: { parse: refused('javascript') },
  coffee: { parse: refused('coffee') },
  json: { parse: refused('json') },
};

export function parseCard(file: string, slug: string, text: string): PersonaCard {
  if (!SLUG.test(slug)) throw new CardError(file, null, `file name must be <slug>.md with a slug of lowercase letters, digits and dashes (got "${slug}")`);
  if (!text.startsWith('---')) throw new CardError(file, 1, 'a card starts with YAML front matter between --- lines');
  // gray-matter picks an engine from the text after the opening `---`, and its `js` engine evaluates
  // the front matter as JavaScript: a card is data, so only a bare `---` (YAML) is ever parsed.
  const opening = text.slice(0, text.search(/\r?\n|$/));
  if (opening.trim() !== '---') {
    throw new CardError(file, 1, `front matter must be YAML: the first line must be "---" alone (got ${JSON.stringify(opening.slice(0, 24))}; other front-matter languages are refused)`);
  }
  let parsed: matter.GrayMatterFile<string>;
  try {
    parsed = matter(text, { language: 'yaml', engines: YAML_ONLY });
  } catch (err) {
    const mark = (err as { mark?: { line?: number } }).mark;
    const reason = (err as { reason?: string }).reason ?? (err as Error).message;
    // js-yaml's 0-based line counts from the opening `---` line (gray-matter keeps its newline).
    throw new CardError(file, mark?.line !== undefined ? mark.line + 1 : null, `front matter is not valid YAML: ${reason}`);
  }
  const fm = frontMatterSchema.safeParse(parsed.data);
  if (!fm.success) {
    const issue = fm.error.issues[0]!;
    const field = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : '(front matter)');
    const topKey = String(issue.path[0] ?? (issue.code === 'unrecognized_keys' ? issue.keys[0] : ''));
    const message = issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : `${field}: ${issue.message}`;
    throw new CardError(file, lineOfKey(text, topKey), message);
  }

  const bodyOffsetLines = text.slice(0, text.length - parsed.content.length).split('\n').length - 1;
  const sections = splitSections(parsed.content, bodyOffsetLines);
  const byTitle = new Map(sections.map((s) => [s.title.toLowerCase(), s]));
  const personality = byTitle.get('personality');
  if (!personality || !personality.body.trim()) throw new CardError(file, personality?.line ?? null, 'missing a "## Personality" section');

  const dialogue = byTitle.get('example dialogue');
  const examples = dialogue ? parseDialogues(dialogue, file, text.split('\n')) : [];
  const evalSection = byTitle.get('eval prompts');
  const evalPrompts = evalSection ? evalSection.body.split('\n').map((l) => l.match(/^\s*[-*]\s+(.+)$/)?.[1]?.trim()).filter((x): x is string => !!x) : [];
  const nonLore = new Set(['personality', 'speech style', 'example dialogue', 'eval prompts']);

  return {
    ...fm.data,
    slug,
    file,
    hash: createHash('sha256').update(text).digest('hex'),
    sections,
    personality: personality.body.trim(),
    speechStyle: byTitle.get('speech style')?.body.trim() ?? '',
    lore: sections.filter((s) => !nonLore.has(s.title.toLowerCase()) && s.body.trim() !== ''),
    examples,
    evalPrompts,
  };
}

/**
 * Splits the body at level-2 `## ` headings (found with a real markdown parser, so headings in code
 * blocks don't count). Setext headings (a line underlined with `---`) don't count either: `---` also
 * separates example dialogues.
 */
function splitSections(body: string, lineOffset: number): CardSection[] {
  const tree = fromMarkdown(body);
  const lines = body.split('\n');
  const headings = tree.children.filter((n) => n.type === 'heading' && n.depth === 2 && /^ {0,3}##/.test(lines[n.position!.start.line - 1] ?? ''));
  return headings.map((h, i) => {
    const start = h.position!.start.line; // 1-based within body
    const end = headings[i + 1]?.position!.start.line ?? lines.length + 1;
    const title = lines[start - 1]!.replace(/^##\s+/, '').replace(/\s+#*\s*$/, '').trim();
    return { title, body: lines.slice(start, end - 1).join('\n').trim(), line: start + lineOffset };
  });
}

/** `{{user}}: ...` / `{{char}}: ...` lines; a blank line or `---` starts a new dialogue. */
function parseDialogues(section: CardSection, file: string, fileLines: string[]): Turn[][] {
  // section.body is trimmed: find the file line its first line is on.
  let firstLine = section.line + 1;
  while (firstLine < fileLines.length && fileLines[firstLine - 1]!.trim() === '') firstLine++;
  const dialogues: Turn[][] = [];
  let current: Turn[] = [];
  const flush = () => {
    if (current.length > 0) dialogues.push(current);
    current = [];
  };
  section.body.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line === '---' || line === '<START>') return flush();
    const m = line.match(/^\{\{(user|char)\}\}:\s*(.*)$/i);
    if (m) {
      const role = m[1]!.toLowerCase() === 'user' ? 'user' : 'assistant';
      const last = current[current.length - 1];
      if (last && last.role === role) last.content += `\n${m[2]}`;
      else current.push({ role, content: m[2]! });
    } else if (current.length > 0) {
      current[current.length - 1]!.content += `\n${line}`;
    } else {
      throw new CardError(file, firstLine + i, 'example dialogue lines start with {{user}}: or {{char}}:');
    }
  });
  flush();
  return dialogues;
}

function lineOfKey(text: string, key: string): number | null {
  if (!key) return 2;
  const idx = text.split('\n').findIndex((l) => l.startsWith(`${key}:`));
  return idx >= 0 ? idx + 1 : 2;
}

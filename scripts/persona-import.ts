import { closeSync, lstatSync, openSync, readFileSync, readdirSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CardV2Error, cardV2ToMarkdown } from '../bot/personas/card-v2.js';
import { SLUG, parseCard } from '../bot/personas/card.js';

/**
 * `npm run persona:import -- card.json [--force] [--dir persona-data] [--slug name]`
 *
 * Imports a SillyTavern Character Card V2 (JSON, or a PNG card with its JSON in a `chara` text
 * chunk) as `<dir>/<slug>.md`. Refuses to overwrite an existing card unless --force, and never
 * writes outside <dir>. On any problem it exits non-zero, says why, and writes nothing.
 */

const USAGE = 'usage: npm run persona:import -- <card.json|card.png> [--force] [--dir persona-data] [--slug <slug>]';
const MAX_BYTES = 20 * 1024 * 1024;

export class ImportError extends Error {
  override name = 'ImportError';
  constructor(
    message: string,
    /** 2 for a usage problem, 1 for anything else. */
    public readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface ImportOptions {
  file: string;
  dir: string;
  force: boolean;
  slug?: string;
  help?: boolean;
}

export function parseArgs(argv: string[]): ImportOptions {
  const opts: ImportOptions = { file: '', dir: 'persona-data', force: false };
  const files: string[] = [];
  const value = (flag: string, v: string | undefined): string => {
    if (v === undefined || v === '') throw new ImportError(`${flag} needs a value\n${USAGE}`, 2);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const [flag, inline] = arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    if (arg === '--') {
      files.push(...argv.slice(i + 1));
      break;
    } else if (flag === '--force' || flag === '-f') opts.force = true;
    else if (flag === '--help' || flag === '-h') opts.help = true;
    else if (flag === '--dir') opts.dir = value('--dir', inline ?? argv[++i]);
    else if (flag === '--slug') opts.slug = value('--slug', inline ?? argv[++i]);
    else if (arg.startsWith('-') && arg !== '-') throw new ImportError(`unknown option ${arg}\n${USAGE}`, 2);
    else files.push(arg);
  }
  if (opts.help) return opts;
  if (files.length !== 1) throw new ImportError(`${files.length === 0 ? 'no card file given' : 'give one card file'}\n${USAGE}`, 2);
  opts.file = files[0]!;
  if (opts.slug !== undefined && !SLUG.test(opts.slug)) {
    throw new ImportError(`--slug "${opts.slug}": use lowercase letters, digits and dashes (at most 64, starting with a letter or digit)`, 2);
  }
  return opts;
}

export interface ImportResult {
  path: string;
  slug: string;
  warnings: string[];
}

/** Reads, validates, converts and writes one card; throws ImportError or CardV2Error, having written nothing. */
export function importCardV2(opts: ImportOptions, cwd = process.cwd()): ImportResult {
  const source = path.resolve(cwd, opts.file);
  const json = readCardFile(source, opts.file);
  const { slug, markdown, warnings } = cardV2ToMarkdown(json, { file: opts.file, ...(opts.slug ? { slug: opts.slug } : {}) });

  const dir = path.resolve(cwd, opts.dir);
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch {
    throw new ImportError(`--dir ${opts.dir}: no such directory`);
  }
  if (!dirStat.isDirectory()) throw new ImportError(`--dir ${opts.dir}: not a directory`);
  const target = safeTarget(dir, slug);
  const shown = displayPath(cwd, target);

  let existing;
  try {
    existing = lstatSync(target);
  } catch {
    existing = undefined;
  }
  if (existing && !existing.isFile()) throw new ImportError(`${shown} exists and is not a regular file (a link?): not touching it, even with --force`);
  if (existing && !opts.force) throw new ImportError(`${shown} already exists: pass --force to overwrite it, or --slug to pick another name`);
  const clash = nameClash(dir, `${slug}.md`, parseCard(`${slug}.md`, slug, markdown).name);
  if (clash) throw new ImportError(`the name is already used by ${displayPath(cwd, clash)} (the bot would skip one of the two): rename one of them`);

  if (!opts.force) {
    writeExclusive(target, markdown, shown); // 'wx': fails rather than overwrite a card that appeared meanwhile
  } else {
    // Write a temporary file beside it, then rename over: atomic, and a link put there meanwhile is replaced, not followed.
    const tmp = safeTarget(dir, `.${slug}.${process.pid}.${Date.now()}.tmp`, '');
    writeExclusive(tmp, markdown, shown);
    try {
      renameSync(tmp, target);
    } catch (err) {
      unlinkSync(tmp);
      throw new ImportError(`${shown}: could not write (${(err as Error).message})`);
    }
  }
  return { path: target, slug, warnings };
}

/** Another card in dir with the same name (the persona registry refuses duplicates, case-insensitively). */
function nameClash(dir: string, ownFile: string, name: string): string | null {
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.md') || f === ownFile || f.toLowerCase() === 'readme.md') continue;
    const file = path.join(dir, f);
    try {
      if (parseCard(f, f.slice(0, -3), readFileSync(file, 'utf8')).name.toLowerCase() === name.toLowerCase()) return file;
    } catch {
      // a card that does not parse is not a clash (the registry skips it)
    }
  }
  return null;
}

function displayPath(cwd: string, file: string): string {
  const rel = path.relative(cwd, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** `<dir>/<name><ext>`, verified to be directly inside dir (no traversal, no absolute names). */
function safeTarget(dir: string, name: string, ext = '.md'): string {
  const target = path.resolve(dir, `${name}${ext}`);
  const rel = path.relative(dir, target);
  if (path.dirname(target) !== dir || rel !== `${name}${ext}` || rel.startsWith('..') || path.isAbsolute(rel) || !/^[a-z0-9.-]+$/.test(rel)) {
    throw new ImportError(`refusing to write ${JSON.stringify(name + ext)}: the card must go directly inside ${dir}`);
  }
  return target;
}

function writeExclusive(file: string, text: string, shown: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ImportError(code === 'EEXIST' ? `${shown} already exists: pass --force to overwrite it` : `${shown}: could not write (${(err as Error).message})`);
  }
  try {
    writeSync(fd, text);
  } catch (err) {
    closeSync(fd);
    unlinkSync(file);
    throw new ImportError(`${shown}: could not write (${(err as Error).message})`);
  }
  closeSync(fd);
}

function readCardFile(source: string, shown: string): unknown {
  let bytes: Buffer;
  try {
    const st = statSync(source);
    if (!st.isFile()) throw new ImportError(`${shown}: not a file`);
    if (st.size > MAX_BYTES) throw new ImportError(`${shown}: ${st.size} bytes is too large for a character card (at most ${MAX_BYTES})`);
    bytes = readFileSync(source);
  } catch (err) {
    if (err instanceof ImportError) throw err;
    throw new ImportError(`${shown}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let text: string;
  if (bytes.subarray(0, 8).equals(PNG_SIGNATURE)) {
    const embedded = pngCardText(bytes);
    if (embedded === null) throw new ImportError(`${shown}: a PNG without a character card in it (no "chara" text chunk)`);
    text = embedded;
  } else {
    text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const at = /position (\d+)/.exec(message);
    let where = '';
    if (at) {
      const before = text.slice(0, Number(at[1]));
      const line = before.split('\n').length;
      where = ` (line ${line}, column ${before.length - before.lastIndexOf('\n')})`;
    }
    throw new ImportError(`${shown}: not valid JSON${where}: ${message}`);
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The base64 JSON in a PNG card's `chara` tEXt chunk (`ccv3` as a fallback), decoded; null if none. */
export function pngCardText(png: Buffer): string | null {
  const found = new Map<string, string>();
  let off = 8;
  while (off + 12 <= png.length) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    if (off + 12 + len > png.length) break;
    if (type === 'tEXt') {
      const chunk = png.subarray(off + 8, off + 8 + len);
      const nul = chunk.indexOf(0);
      if (nul > 0) found.set(chunk.toString('latin1', 0, nul).toLowerCase(), chunk.toString('latin1', nul + 1));
    }
    if (type === 'IEND') break;
    off += 12 + len;
  }
  const b64 = found.get('chara') ?? found.get('ccv3');
  return b64 === undefined ? null : Buffer.from(b64, 'base64').toString('utf8');
}

export function main(argv: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`), err: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): number {
  try {
    const opts = parseArgs(argv);
    if (opts.help) {
      out(USAGE);
      return 0;
    }
    const result = importCardV2(opts);
    for (const w of result.warnings) err(`warning: ${w}`);
    out(`wrote ${displayPath(process.cwd(), result.path)} (slug "${result.slug}")`);
    return 0;
  } catch (e) {
    if (e instanceof ImportError) {
      err(`persona:import: ${e.message}`);
      return e.exitCode;
    }
    if (e instanceof CardV2Error) {
      err(`persona:import: ${e.message}`);
      return 1;
    }
    err(`persona:import: unexpected error: ${(e as Error).stack ?? String(e)}`);
    return 1;
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) process.exitCode = main(process.argv.slice(2));

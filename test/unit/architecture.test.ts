import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The layer rule in `npm run lint` (.dependency-cruiser.cjs) must bite: each planted import
 * against the direction, into the database from a command, around the model-server port, or in
 * a circle fails with its rule's name, while the same tree without the plant passes. And
 * docs/ARCHITECTURE.md names every layer the rule knows, with the folders the rule gives it.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const configFile = path.join(root, '.dependency-cruiser.cjs');
const depcruise = path.join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const { LAYERS } = createRequire(import.meta.url)(configFile) as { LAYERS: { name: string; places: string[] }[] };

/** A minimal tree with one module per layer, each importing only the layer below it. */
const CLEAN: Record<string, string> = {
  'bot/core/errors.ts': 'export class UserFacingError extends Error {}\n',
  'bot/db/schema.ts': "import { UserFacingError } from '../core/errors.js';\nexport const schema = UserFacingError;\n",
  'bot/inference/ports.ts': "import type { UserFacingError } from '../core/errors.js';\nexport type Port = UserFacingError;\n",
  'bot/inference/ollama.ts': "import type { Port } from './ports.js';\nexport const backend = (p: Port) => p;\n",
  'bot/personas/card.ts': "import type { Port } from '../inference/ports.js';\nexport type Card = Port;\n",
  'bot/dataset/build.ts': "import type { Card } from '../personas/card.js';\nexport type Build = Card;\n",
  'bot/services/chat.ts': "import { schema } from '../db/schema.js';\nimport type { Build } from '../dataset/build.js';\nexport const chat = (b: Build) => [b, schema];\n",
  'bot/app.ts': "import { backend } from './inference/ollama.js';\nimport { chat } from './services/chat.js';\nexport const app = { chat, backend };\n",
  'commands/persona.ts': "import type { app } from '../bot/app.js';\nimport { chat } from '../bot/services/chat.js';\nexport const persona = (a: typeof app) => [a, chat];\n",
  'bot/discord/events.ts': "import { persona } from '../../commands/persona.js';\nexport const events = [persona];\n",
  'bot/console/console.ts': "import { persona } from '../../commands/persona.js';\nexport const console = [persona];\n",
  'bot/main.ts': "import { events } from './discord/events.js';\nexport const main = events;\n",
  // The one sideways import infrastructure may make: the schema names the trainer's event type.
  'bot/trainer/events.ts': "export interface TrainerEvent { seq: number }\nexport const EVENT_TYPES = ['step'];\n",
  'bot/db/json-columns.ts': "import type { TrainerEvent } from '../trainer/events.js';\nexport type Stored = TrainerEvent;\n",
};

/** Each plant: a file (added, or replacing a clean one) and the rule it must break. */
const PLANTS: { what: string; file: string; source: string; rule: string }[] = [
  { what: 'core importing a service', file: 'bot/core/ids.ts', source: "import { chat } from '../services/chat.js';\nexport const ids = chat;\n", rule: 'core-imports-upward' },
  { what: 'the database importing a service (type only)', file: 'bot/db/store.ts', source: "import type { chat } from '../services/chat.js';\nexport type Store = typeof chat;\n", rule: 'infrastructure-imports-upward' },
  { what: 'the composition root importing a command', file: 'bot/metrics.ts', source: "import { persona } from '../commands/persona.js';\nexport const metrics = persona;\n", rule: 'app-imports-upward' },
  { what: 'a transport importing the entry point', file: 'bot/console/help.ts', source: "import { main } from '../main.js';\nexport const help = main;\n", rule: 'transports-imports-upward' },
  { what: 'the database running trainer code', file: 'bot/db/jobs.ts', source: "import { EVENT_TYPES } from '../trainer/events.js';\nexport const jobs = EVENT_TYPES;\n", rule: 'db-sideways' },
  { what: 'a service importing a command', file: 'bot/services/consent.ts', source: "import { persona } from '../../commands/persona.js';\nexport const consent = persona;\n", rule: 'services-imports-upward' },
  { what: 'a command importing a transport', file: 'commands/logging.ts', source: "import { events } from '../bot/discord/events.js';\nexport const logging = events;\n", rule: 'commands-imports-upward' },
  { what: 'the dataset builder importing a service', file: 'bot/dataset/clean.ts', source: "import { chat } from '../services/chat.js';\nexport const clean = chat;\n", rule: 'domain-imports-upward' },
  { what: 'card parsing importing the dataset builder', file: 'bot/personas/prompt.ts', source: "import type { Build } from '../dataset/build.js';\nexport type Prompt = Build;\n", rule: 'personas-use-no-dataset' },
  { what: 'a command importing the schema', file: 'commands/finetune.ts', source: "import { schema } from '../bot/db/schema.js';\nexport const finetune = schema;\n", rule: 'no-database-in-commands-or-transports' },
  { what: 'a command importing drizzle-orm', file: 'commands/consent.ts', source: "import { eq } from 'drizzle-orm';\nexport const consent = eq;\n", rule: 'no-database-in-commands-or-transports' },
  { what: 'a service using the Ollama backend directly', file: 'bot/services/finetune.ts', source: "import { backend } from '../inference/ollama.js';\nexport const finetune = backend;\n", rule: 'model-server-through-the-port' },
  { what: 'the Discord adapter using the console', file: 'bot/discord/voice.ts', source: "import { console } from '../console/console.js';\nexport const voice = console;\n", rule: 'transports-apart' },
  { what: 'the trainer client using the database', file: 'bot/trainer/client.ts', source: "import { schema } from '../db/schema.js';\nexport const client = schema;\n", rule: 'infrastructure-sideways' },
  { what: 'the product importing test support', file: 'bot/services/lore.ts', source: "import { helper } from '../../test/support/helper.js';\nexport const lore = helper;\n", rule: 'no-tests-in-the-product' },
  {
    what: 'a circle inside one layer',
    file: 'bot/services/chat.ts',
    source: "import { schema } from '../db/schema.js';\nimport { other } from './other.js';\nexport const chat = [schema, other];\n",
    rule: 'no-circular',
  },
];
const EXTRA: Record<string, string> = {
  'test/support/helper.ts': 'export const helper = 1;\n',
  'bot/services/other.ts': "import { chat } from './chat.js';\nexport const other = () => chat;\n",
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'layers-'));
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Violation {
  rule: string;
  from: string;
}

/** Writes `files` into a fresh tree and runs the lint's dependency rule on it; returns what it broke. */
function violations(files: Record<string, string>): Violation[] {
  const tree = mkdtempSync(path.join(dir, 'tree-'));
  symlinkSync(path.join(dir, 'node_modules'), path.join(tree, 'node_modules'));
  writeFileSync(path.join(tree, 'tsconfig.json'), readFileSync(path.join(dir, 'tsconfig.json')));
  for (const [file, source] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(tree, file)), { recursive: true });
    writeFileSync(path.join(tree, file), source);
  }
  const dirs = ['bot', 'commands', 'test'].filter((d) => existsSync(path.join(tree, d)));
  const run = spawnSync(process.execPath, [depcruise, '--config', configFile, '--output-type', 'json', ...dirs], { cwd: tree, encoding: 'utf8' });
  if (!run.stdout) throw new Error(`dependency-cruiser gave no result: ${run.stderr}`);
  const result = JSON.parse(run.stdout) as { summary: { violations: { rule: { name: string }; from: string }[] } };
  return result.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from }));
}

describe('the layer rule', () => {
  it('passes a tree whose imports all point down the layers', () => {
    expect(violations(CLEAN)).toEqual([]);
  });

  // Every plant in one tree, one run: each must be reported, from its own file.
  let planted: Violation[] = [];
  beforeAll(() => {
    planted = violations({ ...CLEAN, ...EXTRA, ...Object.fromEntries(PLANTS.map((p) => [p.file, p.source])) });
  });
  it.each(PLANTS)('fails $what ($rule)', ({ file, rule }) => {
    expect(planted).toContainEqual({ rule, from: file });
  });

  it('has a case for every rule it enforces', () => {
    const config = createRequire(import.meta.url)(configFile) as { forbidden: { name: string }[] };
    const planted = new Set(PLANTS.map((p) => p.rule));
    const untested = config.forbidden.map((r) => r.name).filter((name) => !planted.has(name));
    expect(untested).toEqual([]);
  });

  it('the real tree passes it (what `npm run lint` checks)', () => {
    const out = execFileSync(process.execPath, [depcruise, '--config', configFile, '--output-type', 'err', 'bot', 'commands', 'scripts', 'bench', 'test'], { cwd: root, encoding: 'utf8' });
    expect(out).toMatch(/no dependency violations found/);
  });
});

describe('docs/ARCHITECTURE.md', () => {
  const doc = readFileSync(path.join(root, 'docs/ARCHITECTURE.md'), 'utf8');
  it.each(LAYERS)('names the $name layer with the folders the rule gives it', ({ name, places }) => {
    const row = doc.split('\n').find((l) => l.startsWith(`| ${name} |`));
    expect(row, `a "| ${name} |" row in the layer table`).toBeDefined();
    for (const place of places) expect(row).toContain(`\`${place}\``);
  });
});


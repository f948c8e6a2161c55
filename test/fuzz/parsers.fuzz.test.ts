import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import { COMMANDS } from '../../commands/index.js';
import { parseCommandLine } from '../../bot/console/parse.js';
import { loadConfig } from '../../bot/config.js';
import { ConfigError, ValidationError } from '../../bot/core/errors.js';
import { parseDatasetLine } from '../../bot/dataset/line.js';
import { CardError, parseCard } from '../../bot/personas/card.js';
import { trainerValidator } from '../../bot/trainer/contract.js';
import { fuzzParams, type Json, mutatedJson, mutatedText } from './mutate.js';

/**
 * Bad input on every parsing boundary (the hardening issue's fuzz suite): mutated valid seeds
 * must be accepted or get the boundary's own error, naming what was wrong and where, never a
 * TypeError or a hang. The valid seeds themselves must be accepted.
 */

/** The boundary's own error: thrown on purpose, with a message a person can act on. */
function expectClear(err: unknown, kind: abstract new (...a: never[]) => Error, names: (e: Error) => boolean): void {
  expect(err, String((err as Error)?.stack ?? err)).toBeInstanceOf(kind);
  expect((err as Error).message.length).toBeGreaterThan(3);
  expect(names(err as Error), (err as Error).message).toBe(true);
}

describe('console command lines', () => {
  const seeds = [
    '/consent status', '/consent opt-in', '/logging on', '/logging status', '/persona list', '/persona info Glordon', '/persona info name:"Corran Vask"',
    '/persona chat Glordon hello there', '/persona chat name:Glordon message:"What do you eat?"', '/finetune status', '/finetune list', '/persona rollback Glordon 1',
  ];
  it('accepts every seed', () => {
    for (const s of seeds) expect(() => parseCommandLine(s, COMMANDS), s).not.toThrow();
  });
  it('parses or refuses 2,000 mutated lines with a ValidationError naming the command, subcommand or option', () => {
    fc.assert(
      fc.property(mutatedText(seeds), ({ text }) => {
        let parsed;
        try {
          parsed = parseCommandLine(text, COMMANDS);
        } catch (err) {
          expectClear(err, ValidationError, (e) => (e as ValidationError).field.length > 0);
          return;
        }
        // Accepted: the values have the declared types (Discord's checks, applied here).
        for (const [name, v] of Object.entries(parsed.options)) expect(['string', 'number', 'boolean', 'undefined'], name).toContain(typeof v);
      }),
      fuzzParams(2000),
    );
  });
});

describe('card files', () => {
  const dir = 'persona-data';
  const seeds = readdirSync(dir).filter((f) => f.endsWith('.md')).map((f) => readFileSync(path.join(dir, f), 'utf8'));
  it('accepts every shipped card', () => {
    for (const [i, s] of seeds.entries()) expect(() => parseCard(`seed${i}.md`, `seed${i}`, s)).not.toThrow();
  });
  it('parses or refuses 2,000 mutated cards (engines, YAML tags, aliases, sizes) with a CardError naming the file', () => {
    fc.assert(
      fc.property(mutatedText(seeds), ({ text }) => {
        let card;
        try {
          card = parseCard('fuzzed.md', 'fuzzed', text);
        } catch (err) {
          expectClear(err, CardError, (e) => e.message.startsWith('fuzzed.md'));
          return;
        }
        expect(typeof card.name).toBe('string');
        // Only YAML front matter is ever read: a card that chose another engine is refused above.
        expect(/^\uFEFF?---(js|javascript|coffee|json)\b/.test(text), text.slice(0, 40)).toBe(false);
      }),
      fuzzParams(2000),
    );
  });
});

const goodLine = {
  id: 'l1', persona: 'glordon', source: 'card',
  messages: [{ role: 'system', content: 'You are Glordon.' }, { role: 'user', content: 'What do you eat?' }, { role: 'assistant', content: 'Starlight and radishes! Bloop!' }],
};
const twoTurns = { ...goodLine, id: 'l2', source: 'chat_log', messages: [...goodLine.messages, { role: 'user', content: 'And then?' }, { role: 'assistant', content: 'A nap. Bloop!' }] };

describe('dataset lines', () => {
  it('parses or refuses 2,000 mutated lines with the issue and its path (or the JSON position)', () => {
    for (const s of [goodLine, twoTurns]) expect(() => parseDatasetLine(JSON.stringify(s))).not.toThrow();
    fc.assert(
      fc.property(fc.oneof(mutatedJson([goodLine, twoTurns]).map((m) => JSON.stringify(m.value)), mutatedText([JSON.stringify(goodLine)]).map((m) => m.text)), (json) => {
        try {
          parseDatasetLine(json);
        } catch (err) {
          if (err instanceof SyntaxError) expect(err.message).toMatch(/JSON|position|token|Unexpected/i);
          else expectClear(err, ZodError, (e) => (e as ZodError).issues.every((i) => i.message.length > 0 && (i.path.length > 0 || /object|expected|Unrecognized|last turn|first|alternate|role/i.test(i.message))));
        }
      }),
      fuzzParams(2000),
    );
  });
});

describe('trainer API bodies (the bot side of the contract)', () => {
  const request = trainerValidator('JobRequest');
  const seeds: Json[] = [
    { persona: 'glordon', base_model: 'smollm2-135m', hyperparameters: { epochs: 2, learning_rate: 2e-4, rank: 16 }, dataset: { train: [goodLine], eval: [goodLine] } },
    { persona: 'corran-vask', base_model: 'smollm2-135m', hyperparameters: {}, dataset: { train: [goodLine, twoTurns], eval: [] } },
  ];
  it('validates or refuses 1,500 mutated job requests, each issue with the field it is about', () => {
    for (const s of seeds) expect(request.safeParse(s).success).toBe(true);
    fc.assert(
      fc.property(mutatedJson(seeds), ({ value }) => {
        const r = request.safeParse(value);
        if (!r.success) for (const i of r.error.issues) expect(i.message.length).toBeGreaterThan(0);
      }),
      fuzzParams(1500),
    );
  });
});

describe('configuration', () => {
  const example = readFileSync('.env.example', 'utf8');
  const base: Record<string, string> = { NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: '/tmp/persona-bot-fuzz-config' };
  const seedEnv = Object.fromEntries([...example.matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
  const names = new Set(Object.keys(seedEnv));
  it('loads the example configuration, and loads or refuses 2,000 mutated ones naming each bad variable', () => {
    expect(() => loadConfig({ ...seedEnv, ...base })).not.toThrow();
    const entries = Object.entries(seedEnv);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: entries.length - 1 }), mutatedText(['', 'true', '0', '-1', '99999999999', 'http://127.0.0.1:1', 'smollm2-135m', '17 3 * * *'])), { maxLength: 4 }), (edits) => {
        const env: Record<string, string> = { ...seedEnv, ...base };
        for (const [i, { text }] of edits) env[entries[i]![0]] = text;
        try {
          loadConfig(env);
        } catch (err) {
          // Each problem starts with the variable's name; values are never echoed (they may be secrets).
          expectClear(err, ConfigError, (e) => (e as ConfigError).problems.every((p) => names.has(p.split(':')[0]!) || p.startsWith('(environment)') || /^[A-Z_]+/.test(p)));
        }
      }),
      fuzzParams(2000),
    );
  });
});

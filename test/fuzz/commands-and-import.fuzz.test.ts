import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../commands/index.js';
import { dispatch } from '../../commands/dispatch.js';
import type { OptionValue } from '../../commands/types.js';
import { parseCard } from '../../bot/personas/card.js';
import { main as importCard } from '../../scripts/persona-import.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { recordingContext } from '../support/context.js';
import { expectLifecycleIntact } from './lifecycle.js';
import { fuzzParams, HOSTILE, mutatedJson, mutatedText } from './mutate.js';

/**
 * Bad input that reaches a running bot: slash-command option values as an interaction payload
 * could carry them (any type, any size, extra keys) through the one dispatcher, and character
 * cards (Card V2 JSON, and PNG cards with the JSON in a `chara` chunk) through the importer.
 * Every case ends in a reply or a clear refusal, never a bug; nothing is half-written.
 */

/** Subcommands that need the model server or the trainer are left out: the fuzz suite stays fast (their validation runs before either). */
const SLOW = new Set(['persona chat', 'persona dataset', 'persona eval', 'finetune start']);
const invocations = COMMANDS.flatMap((c) => {
  const json = c.data.toJSON() as { name: string; options?: { name: string; options?: { name: string }[] }[] };
  return (json.options ?? []).filter((s) => !SLOW.has(`${json.name} ${s.name}`)).map((s) => ({ command: c, subcommand: s.name, optionNames: (s.options ?? []).map((o) => o.name) }));
});
const optionValue: fc.Arbitrary<OptionValue | undefined> = fc.oneof(
  fc.constantFrom<OptionValue | undefined>('Glordon', 'glordon', 'Corran Vask', '1', 1, 2, 0, -1, true, undefined),
  fc.constantFrom(...HOSTILE),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer({ min: 1, max: 50_000 }).map((n) => 'z'.repeat(n)),
  fc.integer(),
  fc.double(),
  fc.boolean(),
);

describe('slash-command options through the dispatcher', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite');
  });
  afterAll(async () => t?.destroy());

  it('answers 1,000 fuzzed invocations with a reply or a refusal naming the option, never an error; nothing stored breaks the data lifecycle', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...invocations),
        fc.dictionary(fc.oneof(fc.constantFrom('name', 'version', 'job', 'persona', 'message', '__proto__', 'constructor'), fc.string({ maxLength: 6 })), optionValue, { maxKeys: 4 }),
        fc.boolean(),
        async (inv, extra, canManageGuild) => {
          const options: Record<string, OptionValue | undefined> = { ...extra };
          const ctx = recordingContext(inv.subcommand, options, { canManageGuild });
          ctx.confirm = async (c) => void ctx.replies.push({ content: c.prompt }); // a confirmation prompt is its answer
          const outcome = await dispatch(inv.command, ctx, t.app);
          expect(outcome.kind, outcome.kind === 'errored' ? String((outcome.error as Error)?.stack ?? outcome.error) : '').not.toBe('errored');
          expect(ctx.replies.length, `/${inv.command.data.name} ${inv.subcommand} ${JSON.stringify(options)}`).toBeGreaterThanOrEqual(1);
          if (outcome.kind === 'denied') expect(outcome.message.length).toBeGreaterThan(3);
        },
      ),
      fuzzParams(1000),
    );
    await expectLifecycleIntact(t);
  }, 240_000);
});

/** A minimal PNG with a card's JSON (base64) in a `chara` tEXt chunk; the importer does not check CRCs or pixels. */
function pngWithCard(json: string): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    return Buffer.concat([len, Buffer.from(type, 'latin1'), data, Buffer.alloc(4)]);
  };
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', Buffer.alloc(13)),
    chunk('tEXt', Buffer.concat([Buffer.from('chara\0', 'latin1'), Buffer.from(Buffer.from(json, 'utf8').toString('base64'), 'latin1')])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('character card import (Card V2 JSON and PNG)', () => {
  const sample = JSON.parse(readFileSync('test/fixtures/card-v2-sample.json', 'utf8')) as Parameters<typeof mutatedJson>[0][number];
  const root = mkdtempSync(path.join(os.tmpdir(), 'fuzz-import-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;

  it('imports or refuses 1,000 fuzzed cards with a message naming the file, and never leaves a partial card behind', () => {
    fc.assert(
      fc.property(
        fc.oneof(mutatedJson([sample]).map((m) => JSON.stringify(m.value)), mutatedText([JSON.stringify(sample, null, 2)]).map((m) => m.text)),
        fc.constantFrom('json', 'png', 'png-truncated'),
        (json, format) => {
          const dir = path.join(root, `case${n++}`);
          const out = path.join(dir, 'personas');
          mkdirSync(out, { recursive: true });
          const file = path.join(root, `card${n}.${format === 'json' ? 'json' : 'png'}`);
          const bytes = format === 'json' ? Buffer.from(json) : pngWithCard(json);
          writeFileSync(file, format === 'png-truncated' ? bytes.subarray(0, Math.max(8, bytes.length - 20)) : bytes);
          const errors: string[] = [];
          const code = importCard([file, '--dir', out], () => {}, (l) => errors.push(l));
          const written = readdirSync(out); // a temp file left by a failed write would show here too
          if (code === 0) {
            expect(written).toHaveLength(1);
            expect(written[0]).toMatch(/\.md$/);
            const slug = written[0]!.replace(/\.md$/, '');
            expect(() => parseCard(written[0]!, slug, readFileSync(path.join(out, written[0]!), 'utf8'))).not.toThrow();
          } else {
            expect(written, 'nothing half-written').toEqual([]);
            expect(errors.join('\n')).toMatch(/persona:import: /);
            expect(errors.join('\n')).not.toMatch(/unexpected error/);
            expect(errors.join('\n')).toContain(path.basename(file));
          }
          rmSync(file, { force: true });
          rmSync(dir, { recursive: true, force: true });
        },
      ),
      fuzzParams(1000),
    );
  }, 240_000);
});

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { count } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import type { Database } from '../../bot/db/client.js';
import { DatasetStore } from '../../bot/db/dataset-store.js';
import { erasureMark } from '../../bot/db/erasure-fence.js';
import { datasetLines, datasetVersions } from '../../bot/db/schema.js';
import { EXPORT_FORMATS, exportLine } from '../../bot/dataset/export.js';
import { type DatasetLine, parseDatasetLine } from '../../bot/dataset/line.js';
import { SpillFile } from '../../bot/dataset/spill.js';
import { openTestDatabase, testKeys } from '../support/db.js';
import { lifecycleViolations } from '../support/scan.js';
import { fuzzParams, type Json, mutatedJson, mutatedText } from './mutate.js';

/**
 * Where dataset lines are written: a snapshot is stored whole or not at all (a bad line in the
 * middle of the stream, after whole batches went in, leaves no version and no line behind), every
 * stored line exports to one JSON line in each format, and the spill file a build keeps its
 * lines in gives back what was put in (as UTF-8 holds it) and leaves nothing in the temp folder.
 */

const goodLine: Json = {
  id: 'l1', persona: 'glordon', source: 'card',
  messages: [{ role: 'system', content: 'You are Glordon.' }, { role: 'user', content: 'What do you eat?' }, { role: 'assistant', content: 'Starlight and radishes! Bloop!' }],
};
const chatLine: Json = { id: 'l2', persona: 'glordon', source: 'chat_log', messages: [{ role: 'user', content: 'Hi 👋 <@123> @everyone' }, { role: 'assistant', content: 'Bloop.\n\n"Quoted" \\ and \u2028 too' }] };
const candidate = fc.oneof({ weight: 3, arbitrary: mutatedJson([goodLine, chatLine]).map((m) => JSON.stringify(m.value)) }, { weight: 1, arbitrary: mutatedText([JSON.stringify(goodLine)]).map((m) => m.text) });

describe('dataset snapshots: whole or nothing', () => {
  let database: Database;
  const keys = testKeys();
  beforeAll(async () => {
    database = await openTestDatabase('pglite');
  });
  afterAll(async () => database?.close());

  const totals = async () => ({
    versions: (await database.db.select({ n: count() }).from(datasetVersions))[0]!.n,
    lines: (await database.db.select({ n: count() }).from(datasetLines))[0]!.n,
  });

  it('stores 1,000 fuzzed snapshots whole, or refuses them at their bad line with nothing stored', async () => {
    const store = new DatasetStore(database.db, keys);
    await fc.assert(
      fc.asyncProperty(
        fc.array(candidate, { minLength: 1, maxLength: 6 }),
        // Sometimes whole batches of good lines first (the store inserts 500 at a time), so a bad line comes after rows went in.
        fc.oneof({ weight: 19, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 500, max: 1100 }) }),
        async (jsons, padding) => {
          const before = await totals();
          const all = [...Array<string>(padding).fill(JSON.stringify(goodLine)), ...jsons];
          const stored: DatasetLine[] = [];
          function* lines() {
            for (const [i, json] of all.entries()) {
              const line = parseDatasetLine(json); // the contract line, as the builder's are
              stored.push(line);
              yield { split: i % 5 === 4 ? ('eval' as const) : ('train' as const), json: JSON.stringify(line), contributorIds: [], guildIds: [] };
            }
          }
          let id: number;
          try {
            id = await store.save({ personaSlug: 'glordon', contentHash: 'fuzz', stats: {}, lines: lines(), erasureMark: await erasureMark(database.db) });
          } catch (err) {
            if (!(err instanceof SyntaxError)) {
              expect(err, String((err as Error).stack)).toBeInstanceOf(ZodError);
              for (const issue of (err as ZodError).issues) expect(issue.path.length > 0 || issue.message.length > 0).toBe(true);
            }
            expect(await totals(), 'nothing half-written').toEqual(before);
            return;
          }
          const back = await store.readLines(id);
          expect(back.map((l) => JSON.parse(l.json) as unknown)).toEqual(stored);
          expect(await totals()).toEqual({ versions: before.versions + 1, lines: before.lines + all.length });
          for (const line of stored.slice(-jsons.length)) {
            for (const format of EXPORT_FORMATS) {
              const out = exportLine(line, format, 'Glordon');
              expect(out.includes('\n'), format).toBe(false);
              expect(() => JSON.parse(out) as unknown, format).not.toThrow();
            }
          }
        },
      ),
      fuzzParams(1000),
    );
    expect(await lifecycleViolations(database, keys)).toEqual([]);
  }, 240_000);
});

describe('the spill file of a build', () => {
  it('gives back 1,000 fuzzed record sets as written, and leaves nothing in its folder', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fuzz-spill-'));
    try {
      fc.assert(
        fc.property(fc.array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 200 }), candidate, fc.integer({ min: 1, max: 300_000 }).map((n) => 'z'.repeat(n))), { maxLength: 12 }), (records) => {
          const spill = new SpillFile(dir);
          try {
            const at = records.map((r) => spill.append(r));
            expect(readdirSync(dir), 'unlinked once opened').toEqual([]);
            // As UTF-8 keeps it: a lone surrogate (which no UTF-8 input has) comes back as U+FFFD.
            for (const [i, r] of records.entries()) expect(spill.read(at[i]!)).toBe(Buffer.from(r, 'utf8').toString('utf8'));
          } finally {
            spill.close();
          }
        }),
        fuzzParams(1000),
      );
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { migrationsFolder, openDatabase } from '../../bot/db/client.js';
import { personas, personaVersions } from '../../bot/db/schema.js';
import { BACKENDS, emptyPostgresDatabase } from '../support/db.js';

/** A copy of migrations/ that stops before `tag` (the database as a bot of that time left it). */
function migrationsBefore(tag: string): string {
  const all = migrationsFolder();
  const journal = JSON.parse(readFileSync(path.join(all, 'meta/_journal.json'), 'utf8')) as { entries: { tag: string }[] };
  const upTo = journal.entries.findIndex((e) => e.tag === tag);
  if (upTo < 0) throw new Error(`no migration ${tag}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'migrations-'));
  mkdirSync(path.join(dir, 'meta'));
  const kept = journal.entries.slice(0, upTo);
  for (const e of kept) cpSync(path.join(all, `${e.tag}.sql`), path.join(dir, `${e.tag}.sql`));
  writeFileSync(path.join(dir, 'meta/_journal.json'), JSON.stringify({ ...journal, entries: kept }));
  return dir;
}

const dirs: string[] = [];
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  for (const drop of drops) await drop();
});

async function emptyDatabase(backend: (typeof BACKENDS)[number]): Promise<{ url?: string; pgliteDir?: string }> {
  if (backend === 'pglite') {
    const pgliteDir = mkdtempSync(path.join(os.tmpdir(), 'pglite-migrate-'));
    dirs.push(pgliteDir);
    return { pgliteDir };
  }
  const empty = await emptyPostgresDatabase();
  drops.push(empty.drop);
  return { url: empty.url };
}

describe.each(BACKENDS)('migrations keep existing rows (%s)', (backend) => {
  it('a persona version written before the served_model rename reads back after it, model name and all', async () => {
    const before = migrationsBefore('0003_persona_version_served_model');
    dirs.push(before);
    // One database, opened first as the previous release did (migrations up to 0002), then as this one.
    const target = await emptyDatabase(backend);
    const old = await openDatabase({ ...target, migrationsFolder: before });
    try {
      await old.rows(sql`insert into personas (slug, name, card_hash) values ('glordon', 'Glordon', 'h1')`);
      await old.rows(sql`insert into persona_versions (persona_slug, version, ollama_model, base_model, metrics) values ('glordon', 1, 'persona-glordon:v1', 'smollm2-135m', '{"best_eval_loss": 1.5}'::jsonb)`);
      await old.rows(sql`update personas set active_version_id = (select id from persona_versions where persona_slug = 'glordon')`);
    } finally {
      await old.close();
    }
    const current = await openDatabase(target);
    try {
      const [version] = await current.db.select().from(personaVersions);
      expect(version).toMatchObject({ personaSlug: 'glordon', version: 1, servedModel: 'persona-glordon:v1', baseModel: 'smollm2-135m', metrics: { best_eval_loss: 1.5 } });
      const [persona] = await current.db.select().from(personas);
      expect(persona!.activeVersionId).toBe(version!.id);
      const columns = await current.rows<{ column_name: string }>(sql`select column_name from information_schema.columns where table_name = 'persona_versions'`);
      expect(columns.map((c) => c.column_name)).not.toContain('ollama_model');
    } finally {
      await current.close();
    }
  });
});

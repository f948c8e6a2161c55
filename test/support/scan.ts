import { sql } from 'drizzle-orm';
import type { KeyRing } from '../../bot/crypto/keyring.js';
import type { Database } from '../../bot/db/client.js';
import { DatasetStore, lineContext } from '../../bot/db/dataset-store.js';
import { datasetVersions } from '../../bot/db/schema.js';

/** How to decrypt each encrypted column (its authenticated context is derived from the row). */
const ENCRYPTED: Record<string, Record<string, (row: Record<string, unknown>) => string>> = {
  logged_messages: { content_enc: (r) => `message:${String(r.id)}` },
  persona_replies: { content_enc: (r) => `reply:${String(r.message_id)}` },
  dataset_lines: { line_enc: (r) => lineContext(Number(r.dataset_version_id), Number(r.line_no)) },
};

export async function tableNames(database: Database): Promise<string[]> {
  const rows = await database.rows<{ table_name: string }>(
    sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`,
  );
  return rows.map((r) => r.table_name);
}

/**
 * Every row of every table as text, with encrypted columns decrypted: what an attacker with
 * the keys could learn. Used to prove forget leaves nothing behind.
 */
export async function decryptedDump(database: Database, keys: KeyRing): Promise<string> {
  const out: string[] = [];
  for (const table of await tableNames(database)) {
    const rows = await database.rows<Record<string, unknown>>(sql.raw(`select * from "${table}"`));
    for (const row of rows) {
      const parts: string[] = [table];
      for (const [col, value] of Object.entries(row)) {
        const ctx = ENCRYPTED[table]?.[col];
        if (ctx && value instanceof Uint8Array) parts.push(`${col}=${keys.decrypt(value, ctx(row))}`);
        else parts.push(`${col}=${value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : JSON.stringify(value)}`);
      }
      out.push(parts.join(' | '));
    }
  }
  return out.join('\n');
}

/** Every row of every table as Postgres renders it to text (bytea as hex and as raw bytes): no keys. */
export async function rawDump(database: Database): Promise<string> {
  const out: string[] = [];
  for (const table of await tableNames(database)) {
    const rows = await database.rows<{ t: string }>(sql.raw(`select t::text as t from "${table}" t`));
    out.push(...rows.map((r) => r.t));
    const raw = await database.rows<Record<string, unknown>>(sql.raw(`select * from "${table}"`));
    for (const row of raw) for (const v of Object.values(row)) if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'));
  }
  return out.join('\n');
}

/**
 * Rows that break DESIGN's data lifecycle, as readable strings (empty: none). Every stored message
 * and reply text decrypts, and was written for someone with consent in that guild (opted in, or
 * out since: opting out keeps what was stored) in a channel whose logging was switched on; every
 * dataset line decrypts and names only contributors who have consent somewhere; an unredacted
 * snapshot has all of its lines (nothing half-written).
 */
export async function lifecycleViolations(database: Database, keys: KeyRing): Promise<string[]> {
  const bad: string[] = [];
  const consentRows = await database.rows<{ guild_id: string; user_id: string }>(sql`select guild_id, user_id from consents`);
  const consented = new Set(consentRows.map((c) => `${c.guild_id}:${c.user_id}`));
  const consentedHmacs = new Set(consentRows.map((c) => keys.userHmac(c.user_id)));
  const channels = new Set((await database.rows<{ channel_id: string }>(sql`select channel_id from channel_settings`)).map((c) => c.channel_id));
  const tryDecrypt = (what: string, blob: Uint8Array, ctx: string) => {
    try {
      keys.decrypt(blob, ctx);
    } catch (err) {
      bad.push(`${what}: does not decrypt (${(err as Error).message})`);
    }
  };
  for (const m of await database.rows<{ id: string; guild_id: string; channel_id: string; parent_channel_id: string | null; author_id: string; content_enc: Uint8Array }>(
    sql`select id, guild_id, channel_id, parent_channel_id, author_id, content_enc from logged_messages`,
  )) {
    if (!consented.has(`${m.guild_id}:${m.author_id}`)) bad.push(`message ${m.id}: its author has no consent in guild ${m.guild_id}`);
    if (!channels.has(m.parent_channel_id ?? m.channel_id)) bad.push(`message ${m.id}: logging was never on in its channel`);
    tryDecrypt(`message ${m.id}`, m.content_enc, `message:${m.id}`);
  }
  for (const r of await database.rows<{ message_id: string; user_hmac: string | null; content_enc: Uint8Array | null }>(
    sql`select message_id, user_hmac, content_enc from persona_replies where content_enc is not null`,
  )) {
    if (!r.user_hmac || !consentedHmacs.has(r.user_hmac)) bad.push(`reply ${r.message_id}: text kept for a user without consent`);
    tryDecrypt(`reply ${r.message_id}`, r.content_enc!, `reply:${r.message_id}`);
  }
  for (const l of await database.rows<{ dataset_version_id: number; line_no: number; contributors: string[]; line_enc: Uint8Array }>(
    sql`select dataset_version_id, line_no, contributors, line_enc from dataset_lines`,
  )) {
    const where = `dataset line ${l.dataset_version_id}/${l.line_no}`;
    for (const h of l.contributors) if (!consentedHmacs.has(h)) bad.push(`${where}: a contributor without consent`);
    tryDecrypt(where, l.line_enc, lineContext(Number(l.dataset_version_id), Number(l.line_no)));
  }
  for (const v of await database.rows<{ id: number; line_count: number; lines: number }>(
    sql`select v.id, v.line_count, (select count(*)::int from dataset_lines l where l.dataset_version_id = v.id) as lines from dataset_versions v where v.redacted_at is null`,
  )) {
    if (Number(v.lines) !== Number(v.line_count)) bad.push(`dataset version ${v.id}: ${v.lines} of its ${v.line_count} lines stored`);
  }
  return bad;
}

/** Every stored dataset snapshot's lines, decrypted, one JSONL line each. */
export async function snapshotsText(database: Database, keys: KeyRing): Promise<string> {
  const store = new DatasetStore(database.db, keys);
  const versions = await database.db.select({ id: datasetVersions.id }).from(datasetVersions);
  return (await Promise.all(versions.map((v) => store.readLines(v.id)))).flat().map((l) => l.json).join('\n');
}

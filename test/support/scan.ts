import { sql } from 'drizzle-orm';
import type { KeyRing } from '../../bot/crypto/keyring.js';
import type { Database } from '../../bot/db/client.js';
import { lineContext } from '../../bot/db/dataset-store.js';

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

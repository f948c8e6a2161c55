import { and, gt, inArray, max, sql } from 'drizzle-orm';
import type { Db, Tx } from './client.js';
import { erasureLog } from './schema.js';

/**
 * Forgets and guild purges on one side, dataset snapshots stored on the other, never interleave:
 * both take this transaction-scoped advisory lock first. A snapshot's lines are read from the logs
 * minutes before they are stored, so the store also checks that no forget or purge was committed
 * since its build began (`erasureMark`); if one was, the lines may hold erased words and the build
 * starts again (ErasedDuringBuild). A forget committed after the store finds the stored lines by
 * their contributors and deletes them, as for any older snapshot.
 */
const ERASURE_LOCK = 7_316_016;

export async function lockAgainstErasures(tx: Tx): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${ERASURE_LOCK})`);
}

/** The latest erasure so far (taken when a build begins). */
export async function erasureMark(db: Db | Tx): Promise<number> {
  const [row] = await db.select({ id: max(erasureLog.id) }).from(erasureLog);
  return Number(row?.id ?? 0);
}

/** Whether a forget or a guild purge was committed after `mark` (under the lock: none can commit meanwhile). */
export async function erasedSince(tx: Db | Tx, mark: number): Promise<boolean> {
  const rows = await tx
    .select({ id: erasureLog.id })
    .from(erasureLog)
    .where(and(gt(erasureLog.id, mark), inArray(erasureLog.kind, ['user_forget', 'guild_purge', 'channel_delete'])))
    .limit(1);
  return rows.length > 0;
}

/** A forget, opt-out or guild purge landed while the build read the logs: its lines are not kept. */
export class ErasedDuringBuild extends Error {
  override name = 'ErasedDuringBuild';
  constructor() {
    super('a forget, an opt-out or a server purge landed while the dataset was built');
  }
}

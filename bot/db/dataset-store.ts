import { asc, count, eq } from 'drizzle-orm';
import type { KeyRing } from '../crypto/keyring.js';
import type { Db } from './client.js';
import { ErasedDuringBuild, erasedSince, lockAgainstErasures } from './erasure-fence.js';
import { datasetLines, datasetVersions } from './schema.js';

export interface DatasetLineInput {
  split: 'train' | 'eval';
  /** One JSONL line (the trainer contract's shape). */
  json: string;
  /** Raw user ids whose messages are in the line; stored only as HMACs. */
  contributorIds: string[];
  guildIds: string[];
  /** The logged messages and persona replies its text came from. */
  messageIds?: string[];
}

/** Dataset snapshots, encrypted at rest like messages; each line remembers its contributors as HMACs. */
export class DatasetStore {
  constructor(
    private readonly db: Db,
    private readonly keys: KeyRing,
  ) {}

  /**
   * Stores a version; `lines` is read once, 500 lines at a time, so it may be a stream.
   * `erasureMark`: the latest erasure when the build began (erasure-fence.ts); a forget or purge
   * committed since then throws ErasedDuringBuild and stores nothing.
   */
  async save(input: { personaSlug: string; contentHash: string; stats: Record<string, unknown>; lines: Iterable<DatasetLineInput>; erasureMark: number; contentFrom?: Date | null }): Promise<number> {
    return this.db.transaction(async (tx) => {
      await lockAgainstErasures(tx);
      if (await erasedSince(tx, input.erasureMark)) throw new ErasedDuringBuild();
      const [version] = await tx
        .insert(datasetVersions)
        .values({ personaSlug: input.personaSlug, contentHash: input.contentHash, stats: input.stats, lineCount: 0, contentFrom: input.contentFrom ?? null })
        .returning({ id: datasetVersions.id });
      const id = version!.id;
      let lineNo = 0;
      for (const batch of batches(input.lines, 500)) {
        await tx.insert(datasetLines).values(
          batch.map((l) => {
            const n = lineNo++;
            return {
              datasetVersionId: id,
              lineNo: n,
              split: l.split,
              lineEnc: this.keys.encrypt(l.json, lineContext(id, n)),
              contributors: [...new Set(l.contributorIds)].map((u) => this.keys.userHmac(u)),
              guildIds: [...new Set(l.guildIds)],
              messageIds: [...new Set(l.messageIds ?? [])],
            };
          }),
        );
      }
      await tx.update(datasetVersions).set({ lineCount: lineNo }).where(eq(datasetVersions.id, id));
      return id;
    });
  }

  /** How many lines a version has now (fewer than were read once a forget or purge redacted it). */
  async lineCount(versionId: number): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(datasetLines).where(eq(datasetLines.datasetVersionId, versionId));
    return Number(row?.n ?? 0);
  }

  async readLines(versionId: number): Promise<{ lineNo: number; split: 'train' | 'eval'; json: string }[]> {
    const rows = await this.db.select().from(datasetLines).where(eq(datasetLines.datasetVersionId, versionId)).orderBy(asc(datasetLines.lineNo));
    return rows.map((r) => ({ lineNo: r.lineNo, split: r.split, json: this.keys.decrypt(r.lineEnc, lineContext(versionId, r.lineNo)) }));
  }
}

export function lineContext(versionId: number, lineNo: number): string {
  return `dataset:${versionId}:${lineNo}`;
}

function* batches<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let batch: T[] = [];
  for (const item of items) {
    batch.push(item);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

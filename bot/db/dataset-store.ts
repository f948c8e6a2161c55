import { asc, eq } from 'drizzle-orm';
import type { KeyRing } from '../crypto/keyring.js';
import type { Db } from './client.js';
import { datasetLines, datasetVersions } from './schema.js';

export interface DatasetLineInput {
  split: 'train' | 'eval';
  /** One JSONL line (the trainer contract's shape). */
  json: string;
  /** Raw user ids whose messages are in the line; stored only as HMACs. */
  contributorIds: string[];
  guildIds: string[];
}

/** Dataset snapshots, encrypted at rest like messages; each line remembers its contributors as HMACs. */
export class DatasetStore {
  constructor(
    private readonly db: Db,
    private readonly keys: KeyRing,
  ) {}

  async save(input: { personaSlug: string; contentHash: string; stats: Record<string, unknown>; lines: DatasetLineInput[] }): Promise<number> {
    return this.db.transaction(async (tx) => {
      const [version] = await tx
        .insert(datasetVersions)
        .values({ personaSlug: input.personaSlug, contentHash: input.contentHash, stats: input.stats, lineCount: input.lines.length })
        .returning({ id: datasetVersions.id });
      const id = version!.id;
      for (let i = 0; i < input.lines.length; i += 500) {
        await tx.insert(datasetLines).values(
          input.lines.slice(i, i + 500).map((l, j) => ({
            datasetVersionId: id,
            lineNo: i + j,
            split: l.split,
            lineEnc: this.keys.encrypt(l.json, lineContext(id, i + j)),
            contributors: [...new Set(l.contributorIds)].map((u) => this.keys.userHmac(u)),
            guildIds: [...new Set(l.guildIds)],
          })),
        );
      }
      return id;
    });
  }

  async readLines(versionId: number): Promise<{ lineNo: number; split: 'train' | 'eval'; json: string }[]> {
    const rows = await this.db.select().from(datasetLines).where(eq(datasetLines.datasetVersionId, versionId)).orderBy(asc(datasetLines.lineNo));
    return rows.map((r) => ({ lineNo: r.lineNo, split: r.split, json: this.keys.decrypt(r.lineEnc, lineContext(versionId, r.lineNo)) }));
  }
}

export function lineContext(versionId: number, lineNo: number): string {
  return `dataset:${versionId}:${lineNo}`;
}

import { and, asc, desc, eq, getTableColumns, max } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { personas, personaVersions } from '../db/schema.js';

export type PersonaVersion = typeof personaVersions.$inferSelect;
type NewVersion = Omit<typeof personaVersions.$inferInsert, 'id' | 'createdAt'>;
/** A transaction or the database itself: the writes below can run inside a caller's transaction. */
type Queryable = Pick<Db, 'select' | 'insert' | 'update'>;

/**
 * Trained versions of personas and which one answers (personas.active_version_id): the only
 * place that knows how "active" is stored, so chat, /persona and publishing ask the same query.
 */
export class PersonaVersions {
  constructor(private readonly db: Db) {}

  /** The active version of one persona, or undefined when it answers prompt-only. */
  async active(slug: string, q: Queryable = this.db): Promise<PersonaVersion | undefined> {
    const [row] = await this.activeQuery(q).where(eq(personas.slug, slug)).limit(1);
    return row;
  }

  /** The active version of every persona that has one, by slug. */
  async activeBySlug(): Promise<Map<string, PersonaVersion>> {
    const rows = await this.activeQuery(this.db);
    return new Map(rows.map((v) => [v.personaSlug, v]));
  }

  /** Every version of a persona, newest first. */
  async list(slug: string): Promise<PersonaVersion[]> {
    return this.db.select().from(personaVersions).where(eq(personaVersions.personaSlug, slug)).orderBy(desc(personaVersions.version));
  }

  async byNumber(slug: string, version: number): Promise<PersonaVersion | undefined> {
    const [row] = await this.db
      .select()
      .from(personaVersions)
      .where(and(eq(personaVersions.personaSlug, slug), eq(personaVersions.version, version)));
    return row;
  }

  /** Version numbers of a persona, ascending (for "versions: v1, v2" in messages). */
  async numbers(slug: string): Promise<number[]> {
    const rows = await this.db.select({ v: personaVersions.version }).from(personaVersions).where(eq(personaVersions.personaSlug, slug)).orderBy(asc(personaVersions.version));
    return rows.map((r) => r.v);
  }

  /** The version a fine-tuning job produced, if it was recorded. */
  async ofJob(jobId: string): Promise<PersonaVersion | undefined> {
    const [row] = await this.db.select().from(personaVersions).where(eq(personaVersions.finetuneJobId, jobId));
    return row;
  }

  /** The number the persona's next version gets. */
  async nextNumber(slug: string): Promise<number> {
    const [row] = await this.db.select({ latest: max(personaVersions.version) }).from(personaVersions).where(eq(personaVersions.personaSlug, slug));
    return (row?.latest ?? 0) + 1;
  }

  async insert(version: NewVersion, q: Queryable = this.db): Promise<PersonaVersion> {
    const [row] = await q.insert(personaVersions).values(version).returning();
    return row!;
  }

  /** Makes a version the one that answers (null: none, the persona answers prompt-only). */
  async setActive(slug: string, versionId: number | null, q: Queryable = this.db): Promise<void> {
    await q.update(personas).set({ activeVersionId: versionId, updatedAt: new Date() }).where(eq(personas.slug, slug));
  }

  private activeQuery(q: Queryable) {
    return q.select(getTableColumns(personaVersions)).from(personas).innerJoin(personaVersions, eq(personas.activeVersionId, personaVersions.id)).$dynamic();
  }
}

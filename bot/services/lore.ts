import { and, eq, sql } from 'drizzle-orm';
import type { PersonaCard } from '../personas/card.js';
import type { LoreChunk } from '../personas/lore-chunks.js';
import { chunkSection } from '../personas/lore-chunks.js';
import type { Database } from '../db/client.js';
import { loreChunks, personas } from '../db/schema.js';

/**
 * Lore retrieval with Postgres full-text search (the same SQL on Postgres and PGlite). A card's
 * chunks are rebuilt when its hash changes. A query matches chunks sharing any of its stemmed
 * words (OR), ranked by ts_rank (about twice as fast as ts_rank_cd on many matches), so a question need not contain every word of the fact.
 */
export class LoreIndex {
  constructor(private readonly database: Database) {}

  /** Makes the index and the personas table match the given cards. */
  async sync(cards: PersonaCard[]): Promise<{ reindexed: string[] }> {
    const reindexed: string[] = [];
    const db = this.database.db;
    for (const card of cards) {
      const [row] = await db.select({ cardHash: personas.cardHash }).from(personas).where(eq(personas.slug, card.slug));
      const [indexed] = await db
        .select({ n: sql<number>`count(*)::int` })
        .from(loreChunks)
        .where(and(eq(loreChunks.personaSlug, card.slug), eq(loreChunks.cardHash, card.hash)));
      if (row?.cardHash === card.hash && (indexed?.n ?? 0) > 0) continue;
      await this.replace(card.slug, card.hash, card.lore.flatMap((s) => chunkSection(s).map((content) => ({ section: s.title, content }))));
      await db
        .insert(personas)
        .values({ slug: card.slug, name: card.name, cardHash: card.hash })
        .onConflictDoUpdate({ target: personas.slug, set: { name: card.name, cardHash: card.hash, updatedAt: new Date() } });
      reindexed.push(card.slug);
    }
    return { reindexed };
  }

  /** Replaces a persona's chunks in one transaction (also used by benchmarks and tests). */
  async replace(slug: string, cardHash: string, chunks: { section: string; content: string }[]): Promise<void> {
    await this.database.db.transaction(async (tx) => {
      await tx.delete(loreChunks).where(eq(loreChunks.personaSlug, slug));
      for (let i = 0; i < chunks.length; i += 1000) {
        await tx.insert(loreChunks).values(chunks.slice(i, i + 1000).map((c, j) => ({ personaSlug: slug, cardHash, section: c.section, content: c.content, chunkNo: i + j })));
      }
    });
  }

  /** The k chunks of a persona most relevant to a message. */
  async search(slug: string, message: string, k: number): Promise<LoreChunk[]> {
    const words = [...new Set(message.toLowerCase().match(/[\p{L}\p{N}]{2,}/gu) ?? [])].slice(0, 32);
    if (words.length === 0 || k <= 0) return [];
    // Words only (letters and digits), so the query cannot carry tsquery syntax.
    const query = words.join(' | ');
    return this.database.rows<LoreChunk>(sql`
      select section, content, ts_rank(tsv, q) as rank
      from lore_chunks, to_tsquery('english', ${query}) q
      where persona_slug = ${slug} and tsv @@ q
      order by rank desc, chunk_no
      limit ${k}`);
  }
}

import type { CardSection } from './card.js';

/** A piece of a card's lore, as retrieval returns it (rank: how well it matched the message). */
export interface LoreChunk {
  section: string;
  content: string;
  rank: number;
}

/** Longest chunk, in characters: a paragraph or a few list items. */
const CHUNK_CHARS = 400;

/** Splits a lore section into chunks at paragraph and list-item boundaries. */
export function chunkSection(section: CardSection): string[] {
  const pieces = section.body
    .split(/\n\s*\n|\n(?=\s*[-*]\s)/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter(Boolean);
  const chunks: string[] = [];
  let current = '';
  for (const piece of pieces) {
    if (current && current.length + piece.length + 1 > CHUNK_CHARS) {
      chunks.push(current);
      current = '';
    }
    current = current ? `${current} ${piece}` : piece;
  }
  if (current) chunks.push(current);
  return chunks;
}

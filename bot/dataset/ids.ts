import { createHash } from 'node:crypto';
import type { LineMessage, LineSource } from './line.js';

/** A line's stable id: sha256 of its persona, source and turns (streamed into the hash, no JSON made). */
export function lineId(persona: string, source: LineSource, messages: readonly LineMessage[]): string {
  const h = createHash('sha256').update(`${persona}\u0000${source}`);
  for (const m of messages) h.update(`\u0000${m.role}\u0000`).update(m.content);
  // Hex of the first 16 bytes, made as its own string (a slice would keep the whole digest's hex alive).
  return h.digest().toString('hex', 0, 16);
}

/** Train or eval, decided by the line's id alone: a line never changes split as the dataset grows. */
export function splitOf(id: string, evalShare: number): 'train' | 'eval' {
  const h = createHash('sha256').update(`split:${id}`).digest().readUInt32BE(0);
  return h / 2 ** 32 < evalShare ? 'eval' : 'train';
}

/** sha256 of the dataset: every line's split and id (itself a hash of the line's content), in line order. */
export function hashLines(lines: readonly { split: string; id: string }[]): string {
  const h = createHash('sha256');
  for (const l of lines) h.update(`${l.split}\t${l.id}\n`);
  return h.digest('hex');
}

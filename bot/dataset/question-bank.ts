import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chunkSection } from '../personas/lore-chunks.js';
import type { PersonaCard } from '../personas/card.js';

/**
 * The user turns of generated training dialogues: a shipped bank of everyday questions, questions
 * about each lore section of the card, and follow-ups for two-exchange dialogues. Plain text files
 * beside this module, so they are edited as content, not code.
 */

function bank(name: string): string[] {
  const text = readFileSync(fileURLToPath(new URL(`./question-bank/${name}.txt`, import.meta.url)), 'utf8');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

export const EVERYDAY_QUESTIONS: readonly string[] = bank('everyday');
export const FOLLOW_UPS: readonly string[] = bank('follow-ups');

/** Question forms about a lore section; `{}` is the section's title, lowercased. */
const LORE_FORMS = ['Tell me about {}.', 'What can you tell me about {}?', 'I heard a story about {}. Is it true?'];
/** Question forms about one lore chunk's first sentence. */
const CHUNK_FORMS = ['Someone told me this about you: "{}." Is that right?', 'I read that {}. Can you tell me more?'];

/** Questions about the card's lore: per section, and per chunk from its first sentence. */
export function loreQuestions(card: Pick<PersonaCard, 'lore'>): { question: string; section: string; chunk: string }[] {
  const out: { question: string; section: string; chunk: string }[] = [];
  for (const section of card.lore) {
    const chunks = chunkSection(section);
    const title = section.title.toLowerCase();
    for (const form of LORE_FORMS) out.push({ question: form.replace('{}', title), section: section.title, chunk: chunks[0] ?? section.body });
    for (const chunk of chunks) {
      const first = firstSentence(chunk);
      if (!first) continue;
      for (const form of CHUNK_FORMS) out.push({ question: form.replace('{}', first), section: section.title, chunk });
    }
  }
  return out;
}

/** The chunk's first sentence without its full stop, if it is a usable length. */
function firstSentence(chunk: string): string | undefined {
  const sentence = chunk.replace(/^\s*[-*]\s+/, '').split(/(?<=[.!?])\s+/)[0]?.trim().replace(/[.!?]+$/, '');
  if (!sentence || sentence.length < 12 || sentence.length > 160) return undefined;
  return sentence;
}

import type { PersonaCard } from './card.js';

/**
 * What a persona is evaluated on: its card's `## Eval prompts`, then GENERIC_PROBES. The dataset
 * builder keeps every training user turn away from these (dataset/leakage.ts), and evaluation
 * (services/evaluation.ts) asks them of every version.
 */

/** Probes every persona answers besides its card's own: everyday turns that test the voice, not the lore. */
export const GENERIC_PROBES: readonly string[] = [
  'Describe yourself in three words.',
  'What would you do if it rained all week?',
  'Give me one piece of advice for today.',
  'How would you greet a new neighbour?',
  'What is on your mind right now?',
  'Tell me about the last time you were surprised.',
];

/** The probes of a card, in order, without repeats. */
export function evaluationProbes(card: Pick<PersonaCard, 'evalPrompts'>): string[] {
  return [...new Set([...card.evalPrompts, ...GENERIC_PROBES])];
}

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

/**
 * The development probe set: what defaults (preset, epochs, rate, sizes) are chosen on
 * (`npm run bench -- quality-dev`), so the reported figures, on the evaluation probes, were never
 * used for choosing. Everyday turns of their own: none is near an evaluation probe or a question
 * the dataset builder asks (a unit test), and the builder keeps them out of training too.
 */
export const DEVELOPMENT_PROBES: readonly string[] = [
  'Which chore do you put off for as long as you can?',
  'Tell me about a tool you could not live without.',
  'What would you pack for a week away?',
  'If a stranger knocked at midnight, what would you do?',
  'How would you spend a hundred coins?',
  'What is the worst advice anyone ever gave you?',
  'Describe a perfect cup of tea.',
  'Name something you can mend with your own hands.',
  'Which old habit are you glad to have dropped?',
  'What would you teach a visitor in one afternoon?',
  'Which of your neighbours is the nosiest?',
  'How can you tell that a storm is on its way?',
  'What tune would you hum while working?',
  'Is it better to arrive early or late?',
  'What do you keep beside your bed?',
  'Which rule would you break, just once?',
];

/** Everything a persona is ever measured on, so the dataset builder keeps all of it out of training. */
export function heldOutProbes(card: Pick<PersonaCard, 'evalPrompts'>): string[] {
  return [...new Set([...evaluationProbes(card), ...DEVELOPMENT_PROBES])];
}

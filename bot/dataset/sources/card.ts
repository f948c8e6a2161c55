import { fillNames } from '../../personas/prompt.js';
import { DatasetSourceError } from '../errors.js';
import type { DatasetSource } from './source.js';

/** The card's example dialogues, as written ({{user}} is "friend"). */
export const cardSource: DatasetSource = {
  name: 'card',
  phase: 'card',
  async read({ card, emit, progress }) {
    progress(0, card.examples.length);
    card.examples.forEach((dialogue, i) => {
      if (!dialogue.some((t) => t.role === 'assistant')) {
        throw new DatasetSourceError(`${card.file} (Example dialogue ${i + 1})`, 'has no {{char}} turn, so it teaches the persona nothing');
      }
      emit({ source: 'card', turns: dialogue.map((t) => ({ role: t.role, content: fillNames(t.content, card.name, 'friend') })), contributors: [], guildIds: [] });
    });
    return { summary: `${card.file} has ${card.examples.length} example dialogue(s) and ${card.lore.length} lore section(s)` };
  },
};

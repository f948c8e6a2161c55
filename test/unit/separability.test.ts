import { describe, expect, it } from 'vitest';
import type { FitCard } from '../../bot/personas/fit.js';
import { separability, StyleClassifier, stripMarkers } from '../../bot/personas/separability.js';

const glordon: FitCard = { name: 'Glordon', markers: { ends_with: 'Bloop!', lexicon: ['moon-jelly', 'tiny friend'], forbid: ['as an AI'] }, examples: [] };

describe('cross-persona separability', () => {
  it('strips declared markers and the name before anything is learned', () => {
    const s = stripMarkers(glordon, 'Hello, Tiny Friend! Glordon says my moon-jelly naps. Bloop!');
    expect(s.toLowerCase()).not.toMatch(/tiny friend|moon-jelly|bloop|glordon/);
    expect(s).toContain('naps');
  });

  it('tells voices apart by style, and does no better than chance on replies that all sound alike', () => {
    const bubbly = ['Oh wow, hello hello! So happy!', 'Yay, hello! What fun, what fun!', 'Oh my, hello again! So exciting!', 'Hello hello, yay, what a day!'];
    const terse = ['Aye. Tide is turning.', 'Kept the light. Long years.', 'Wind backing west. Sit.', 'No. Not today. Weather.'];
    const clf = StyleClassifier.fit([...bubbly.map((text) => ({ persona: 'a', text })), ...terse.map((text) => ({ persona: 'b', text }))]);
    expect(clf.personas).toEqual(['a', 'b']);
    expect(clf.predict('Oh, hello hello! What fun!')).toBe('a');
    expect(clf.predict('Aye. Weather turning.')).toBe('b');
    expect(clf.accuracy([{ persona: 'a', text: 'Yay, so happy, hello!' }, { persona: 'b', text: 'Aye. The tide.' }])).toBe(1);
    // The same reply attributed to both: at most one of the two can be right.
    expect(clf.accuracy([{ persona: 'a', text: 'I like bread.' }, { persona: 'b', text: 'I like bread.' }])).toBe(0.5);
    expect(clf.accuracy([])).toBeNaN();
  });

  it('scores a version’s replies against every persona’s dataset, each stripped of its own markers, with the chance level', () => {
    const keeper: FitCard = { name: 'Keeper', markers: { ends_with: 'Aye.', lexicon: [], forbid: [] }, examples: [] };
    const refs = [
      { persona: 'glordon', card: glordon, replies: ['Oh wow, hello hello! So happy! Bloop!', 'Yay, hello! What fun, tiny friend! Bloop!', 'Oh my, hello again! So exciting! Bloop!'] },
      { persona: 'keeper', card: keeper, replies: ['Tide is turning. Aye.', 'Kept the light. Long years. Aye.', 'Wind backing west. Sit. Aye.'] },
      { persona: 'newcomer', card: keeper, replies: [] }, // no dataset yet: not a class
    ];
    // Glordon's voice without its ending is still Glordon's; the ending alone (stripped) proves nothing.
    expect(separability(refs, 'glordon', ['Hello hello, what fun! Bloop!', 'Oh wow, so happy!'])).toEqual({ accuracy: 1, chance: 0.5 });
    expect(separability(refs, 'glordon', ['Tide turning. Long years. Bloop!'])).toEqual({ accuracy: 0, chance: 0.5 });
    // Nothing to tell apart from, or no voice of its own to recognise: not measured.
    expect(separability(refs.slice(0, 1), 'glordon', ['Hello hello!'])).toBeNull();
    expect(separability(refs, 'newcomer', ['Aye.'])).toBeNull();
    expect(separability(refs, 'glordon', [])).toBeNull();
  });
});

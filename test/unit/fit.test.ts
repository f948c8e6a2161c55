import { describe, expect, it } from 'vitest';
import { bestOf, breaksCharacter, endsWithMarker, replyFit, targetLength, withDeclaredEnding, type FitCard } from '../../bot/personas/fit.js';
import { distinctN, ngramJaccard, styleMetrics } from '../../bot/personas/style-metrics.js';

const card: FitCard = {
  name: 'Glordon',
  markers: { ends_with: 'Bloop!', lexicon: ['moon-jelly', 'tiny friend'], forbid: ['as an AI', 'human'] },
  examples: [
    [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello, hello, tiny friend! Bloop!' }, // 33 characters
    ],
  ],
};
const plain: FitCard = { name: 'Ann', markers: { lexicon: [], forbid: [] }, examples: [] };

describe('replyFit: one reply against its card', () => {
  it('checks each declared marker', () => {
    const good = replyFit(card, 'Hello, tiny friend! My moon-jelly says hi. Bloop!');
    expect(good).toMatchObject({ endsWith: true, lexicon: true, forbidden: [], breaks: null, markersAll: true });
    expect(good.lexiconHits).toEqual(['moon-jelly', 'tiny friend']);
    const noEnding = replyFit(card, 'Hello, tiny friend!');
    expect(noEnding).toMatchObject({ endsWith: false, lexicon: true, markersAll: false });
    const noLexicon = replyFit(card, 'Hello there. Bloop!');
    expect(noLexicon).toMatchObject({ endsWith: true, lexicon: false, markersAll: false });
    expect(good.score).toBeGreaterThan(noEnding.score);
    expect(good.score).toBeGreaterThan(noLexicon.score);
  });

  it('scores a forbidden phrase or a character break 0, so best-of-N never keeps it', () => {
    const forbidden = replyFit(card, 'I am only human, tiny friend. Bloop!');
    expect(forbidden.forbidden).toEqual(['human']);
    expect(forbidden.markersAll).toBe(false);
    expect(forbidden.score).toBe(0);
    expect(replyFit(card, 'As an AI language model I cannot. Bloop!')).toMatchObject({ breaks: 'as_an_ai', score: 0 });
    expect(breaksCharacter(card, 'My name is Bob, tiny friend.')).toBe('wrong_name');
    expect(breaksCharacter(card, "I'm so happy, tiny friend!")).toBeNull();
    expect(breaksCharacter(card, '   ')).toBe('empty');
  });

  it('rewards the card’s typical length and penalises repetition', () => {
    expect(targetLength(card)).toBe(33);
    expect(targetLength(plain)).toBe(160);
    const right = replyFit(card, 'Hello, hello, tiny friend! Bloop!');
    const long = replyFit(card, `Hello, tiny friend! ${'The garden is lovely today and the radishes are crunchy. '.repeat(6)}Bloop!`);
    expect(right.lengthFit).toBeCloseTo(1, 5);
    expect(long.lengthFit).toBeLessThan(0.2);
    expect(long.repetition).toBeGreaterThan(0.5);
    expect(right.score).toBeGreaterThan(long.score);
  });

  it('treats markers a card does not declare as met', () => {
    const f = replyFit(plain, 'x'.repeat(160));
    expect(f).toMatchObject({ endsWith: null, lexicon: null, markersAll: null });
    expect(f.score).toBeCloseTo(1, 5);
  });

  it('matches the ending through trailing quotes and case, and appends it only to a reply that lacks it', () => {
    expect(endsWithMarker('Bloop!', 'Sure! bloop!"  ')).toBe(true);
    expect(endsWithMarker('Bloop!', 'Bloop! Sure.')).toBe(false);
    expect(withDeclaredEnding(card, 'Hello!')).toBe('Hello! Bloop!');
    expect(withDeclaredEnding(card, 'Hello! Bloop!')).toBe('Hello! Bloop!');
    expect(withDeclaredEnding(plain, 'Hello!')).toBe('Hello!');
  });

  it('bestOf keeps the best-fitting candidate, and none when all must be dropped', () => {
    const pick = bestOf(card, ['Hello there.', 'Hello, tiny friend! Bloop!', 'As an AI, hello. Bloop!']);
    expect(pick.index).toBe(1);
    expect(pick.fits).toHaveLength(3);
    expect(bestOf(card, ['As an AI I am here.', 'I am a human.']).index).toBe(-1);
  });
});

describe('styleMetrics: a version over its probe replies', () => {
  it('turns per-reply fits into rates and measures variety across replies', () => {
    const m = styleMetrics(card, [
      { probe: 'a', text: 'Hello, tiny friend! Bloop!' },
      { probe: 'b', text: 'The moon-jelly naps all day long. Bloop!' },
      { probe: 'c', text: 'I like radishes a lot.', truncated: true },
      { probe: 'd', text: 'As an AI I have no pet.' },
    ]);
    expect(m.replies).toBe(4);
    expect(m.markers_all).toBe(0.5);
    expect(m.ends_with).toBe(0.5);
    expect(m.lexicon).toBe(0.5);
    expect(m.forbid_rate).toBe(0.25);
    expect(m.breaks_rate).toBe(0.25);
    expect(m.truncation_rate).toBe(0.25);
    expect(m.near_duplicate_rate).toBe(0);
    expect(m.median_length).toBe(23); // lengths 22, 23, 26, 40: the lower median
  });

  it('counts near-duplicates only across different probes', () => {
    const same = 'Starlight in jars and crunchy radishes, tiny friend. Bloop!';
    const m = styleMetrics(card, [
      { probe: 'a', text: same },
      { probe: 'a', text: same },
      { probe: 'b', text: 'Wobblewhirl has three pink moons and bubble houses. Bloop!' },
    ]);
    expect(m.near_duplicate_rate).toBe(0);
    const d = styleMetrics(card, [
      { probe: 'a', text: same },
      { probe: 'b', text: same },
      { probe: 'c', text: 'Wobblewhirl has three pink moons and bubble houses. Bloop!' },
    ]);
    expect(d.near_duplicate_rate).toBeCloseTo(2 / 3, 5);
  });

  it('distinct-2 and 3-gram Jaccard', () => {
    expect(distinctN(['a b a b'], 2)).toBeCloseTo(2 / 3, 5);
    expect(distinctN(['a b', 'c d'], 2)).toBe(1);
    expect(distinctN([], 2)).toBe(1);
    expect(ngramJaccard('what do you eat', 'what do you eat?')).toBe(1);
    expect(ngramJaccard('what do you eat', 'where are you from')).toBe(0);
  });
});

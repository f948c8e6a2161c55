import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderScorecardPng, wilson } from '../../bot/services/scorecard.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { snowflake } from '../support/db.js';

describe('Wilson interval', () => {
  it('matches known values and stays within [0, 1]', () => {
    const { low, high } = wilson(8, 10);
    expect(low).toBeCloseTo(0.4902, 3);
    expect(high).toBeCloseTo(0.9433, 3);
    expect(wilson(0, 5).low).toBe(0);
    expect(wilson(5, 5).high).toBe(1);
    expect(wilson(0, 0)).toEqual({ low: 0, high: 1 });
  });
});

describe('scorecards from reactions on persona replies', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite');
  });
  afterAll(async () => t?.destroy());

  it('counts each user once per emoji, per version, and renders a PNG', async () => {
    const reply = (id: number) =>
      t.app.messages.onPersonaReply({
        messageId: snowflake(id), conversationId: null, guildId: snowflake(1), channelId: snowflake(2), personaSlug: 'glordon',
        personaVersionId: null, model: 'smollm2-135m', inReplyToId: null, promptTokens: 1, completionTokens: 1, ttftMs: 1, totalMs: 1,
        createdAt: new Date(), userId: null, content: 'x', keepText: false,
      });
    await reply(500);
    await reply(501);
    const react = (msg: number, user: number, emoji: string, added = true) =>
      t.app.messages.onReaction({ messageId: snowflake(msg), userId: snowflake(user), emoji, guildId: snowflake(1), added });
    await react(500, 10, '👍');
    await react(500, 10, '👍'); // the same user again: counted once
    await react(500, 11, '👍');
    await react(501, 12, '👎');
    await react(501, 13, '👍');
    await react(501, 13, '👍', false); // removed again
    const [base] = await (async () => {
      await t.app.writer.drainPoint();
      return t.app.scorecards.scores('glordon');
    })();
    expect(base).toMatchObject({ label: 'base', replies: 2, up: 2, down: 1 });
    expect(base!.upRate).toBeCloseTo(2 / 3);
    expect(base!.upLow).toBeLessThan(base!.upRate);
    const png = renderScorecardPng('Glordon', [base!]);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.readUInt32BE(16)).toBe(640); // IHDR width
    expect(png.length).toBeGreaterThan(2000);
  });
});

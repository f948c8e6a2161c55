import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImage, createCanvas } from '@napi-rs/canvas';
import { dispatch } from '../../commands/dispatch.js';
import { personaCommand } from '../../commands/persona.js';
import type { EvaluationMetrics } from '../../bot/services/evaluation.js';
import { renderScorecardPng, SCORECARD_COLOURS, wilson } from '../../bot/services/scorecard.js';
import { recordingContext } from '../support/context.js';
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

  it('shows each version’s latest automatic evaluation beside its votes, in the reply and as bars in the PNG', async () => {
    const card = t.app.personas.get('glordon');
    const metrics = (markers: number, ending: number, separability: number | null = null): EvaluationMetrics => ({
      replies: 56, probes: 28, samples: 2, markers_all: markers, ends_with: ending, lexicon: 0.2, forbid_rate: 0, breaks_rate: 0, mean_fit: 0.5,
      mean_length: 200, median_length: 190, distinct2: 0.7, near_duplicate_rate: 0, truncation_rate: 0, lore_facts: null, perplexity: null,
      separability, separability_chance: separability === null ? null : 1 / 3,
    });
    await t.app.versions.insert({ personaSlug: 'glordon', version: 1, servedModel: 'persona-glordon:v1', baseModel: 'smollm2-135m' });
    const record = (version: number, m: EvaluationMetrics) =>
      t.app.evaluation.record(card, { version, model: 'x', metrics: m, replies: [], probeSetHash: t.app.evaluation.probeSetHash(card) });
    await record(0, metrics(0.5, 0.5)); // older: superseded by the next one
    await record(0, metrics(0, 0.02));
    await record(1, metrics(0.75, 0.9, 0.6));

    const ctx = recordingContext('scorecard', { name: 'glordon' });
    expect(await dispatch(personaCommand, ctx, t.app)).toEqual({ kind: 'ok' });
    const reply = ctx.replies.at(-1)!;
    // prompt-only has votes (the test above); v1 has none yet but its evaluation still shows.
    expect(reply.content).toMatch(/\*\*base\*\*: 2 replies, 3 votes, 👍 67% .* · evaluation: all markers 0%, ending 2%/);
    expect(reply.content).toMatch(/\*\*v1\*\*: 0 replies, 0 votes, 👍 – .* · evaluation: all markers 75%, ending 90%.*, separability 60% \(chance 33%\)/);

    // In the PNG, v1's column has a markers bar 75% of the plot high and no vote bar.
    const png = reply.files![0]!.data as Buffer;
    const img = await loadImage(png);
    const canvas = createCanvas(img.width, img.height);
    const g = canvas.getContext('2d');
    g.drawImage(img, 0, 0);
    const hex = (x: number, y: number) => `#${[...g.getImageData(x, y, 1, 1).data.subarray(0, 3)].map((c) => c.toString(16).padStart(2, '0')).join('')}`;
    const columnHas = (x0: number, x1: number, y: number, colour: string) => Array.from({ length: x1 - x0 }, (_, i) => hex(x0 + i, y)).includes(colour);
    // Plot: x 56–620, y 44–304 (chart.ts); two versions, so v1's column is x 338–620.
    const yAt = (rate: number) => Math.round(304 - rate * 260);
    expect(columnHas(338, 620, yAt(0.7), SCORECARD_COLOURS.markers_all)).toBe(true);
    expect(columnHas(338, 620, yAt(0.8), SCORECARD_COLOURS.markers_all)).toBe(false);
    expect(columnHas(338, 620, yAt(0.85), SCORECARD_COLOURS.ends_with)).toBe(true);
    expect(columnHas(338, 620, yAt(0.1), SCORECARD_COLOURS.up)).toBe(false);
    expect(columnHas(338, 620, yAt(0.55), SCORECARD_COLOURS.separability)).toBe(true);
    expect(columnHas(338, 620, yAt(0.65), SCORECARD_COLOURS.separability)).toBe(false);
    // base's column: the 👍 bar (67%) and an ending bar of 2% only.
    expect(columnHas(56, 338, yAt(0.6), SCORECARD_COLOURS.up)).toBe(true);
    expect(columnHas(56, 338, yAt(0.1), SCORECARD_COLOURS.ends_with)).toBe(false);
    expect(columnHas(56, 338, yAt(0.01), SCORECARD_COLOURS.separability)).toBe(false); // not measured for base
  });
});

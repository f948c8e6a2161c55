import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatch } from '../../commands/dispatch.js';
import { personaCommand } from '../../commands/persona.js';
import { DatasetStore } from '../../bot/db/dataset-store.js';
import { erasureMark } from '../../bot/db/erasure-fence.js';
import { personaEvaluations, personas } from '../../bot/db/schema.js';
import { DEVELOPMENT_PROBES, evaluationProbes } from '../../bot/personas/probes.js';
import { describeMetrics, loreFactsRate, PROMPT_ONLY } from '../../bot/services/evaluation.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { recordingContext } from '../support/context.js';

describe('loreFactsRate', () => {
  it('counts a reply when it mentions every fact of its probe, in any of the fact’s wordings', () => {
    const facts = { 'What happens if you eat chocolate?': [['upside down', 'upside-down'], ['hour']] };
    const replies = [
      { probe: 'What happens if you eat chocolate?', text: 'I float Upside-Down for an hour!' },
      { probe: 'What happens if you eat chocolate?', text: 'I float upside down.' },
      { probe: 'Where are you from?', text: 'Wobblewhirl.' }, // no facts for this probe: not judged
    ];
    expect(loreFactsRate(replies, facts)).toBe(0.5);
    expect(loreFactsRate(replies, {})).toBeNull();
  });
});

// Real model calls (SmolLM2 through Ollama), one at a time.
describe('evaluating persona versions with the real model', { timeout: 300_000 }, () => {
  let t: TestApp;
  /** A stored dataset of `replies` (train split) plus one eval-split line, as a build stores it. */
  const storeDataset = async (slug: string, replies: string[]) => {
    const line = (content: string, i: number) => JSON.stringify({ id: `${slug}-${i}`, persona: slug, source: 'synthetic', messages: [{ role: 'user', content: `Question ${i}?` }, { role: 'assistant', content }] });
    const lines = [...replies.map((r, i) => ({ split: 'train' as const, json: line(r, i), contributorIds: [], guildIds: [] })), { split: 'eval' as const, json: line('An eval reply.', 99), contributorIds: [], guildIds: [] }];
    return new DatasetStore(t.app.database.db, t.keys).save({ personaSlug: slug, contentHash: `${slug}-${replies.length}`, stats: {}, lines, erasureMark: await erasureMark(t.app.database.db) });
  };
  beforeAll(async () => {
    t = await createTestApp('pglite', { env: { CHAT_MAX_REPLY_TOKENS: '24', EVAL_SAMPLES: '2', EVAL_CONCURRENCY: '1' } });
  });
  afterAll(async () => t?.destroy());

  it('reads each persona’s reference style from the training split of its latest dataset only', async () => {
    await storeDataset('glordon', ['An older reply. Bloop!']);
    await storeDataset('glordon', ['Hello hello, tiny friend! Bloop!', 'Moon-jelly for breakfast! Bloop!']);
    await storeDataset('marginalia', ['Indeed, dear reader, the margin holds more than the page.', 'One does not hurry a footnote, dear reader.']);
    const refs = await t.app.dataset.styleReferences(t.app.personas.list());
    expect(refs.map((r) => [r.persona, r.replies])).toEqual([
      ['glordon', ['Hello hello, tiny friend! Bloop!', 'Moon-jelly for breakfast! Bloop!']],
      ['marginalia', ['Indeed, dear reader, the margin holds more than the page.', 'One does not hurry a footnote, dear reader.']],
    ]); // corran-vask has no dataset: left out
  });

  it('answers every probe twice with fixed seeds, measures the replies, and stores them for reuse', async () => {
    const card = t.app.personas.get('glordon');
    const probes = evaluationProbes(card);
    expect(probes.length).toBeGreaterThanOrEqual(26);
    const target = { version: PROMPT_ONLY, model: t.app.config.inference.baseModel };
    const e = await t.app.evaluation.evaluate(card, target);
    expect(e.replies).toHaveLength(probes.length * 2);
    expect(e.metrics).toMatchObject({ probes: probes.length, samples: 2, replies: probes.length * 2, lore_facts: null, perplexity: null });
    for (const k of ['markers_all', 'ends_with', 'lexicon', 'forbid_rate', 'breaks_rate', 'near_duplicate_rate', 'truncation_rate'] as const) {
      expect(e.metrics[k]).toBeGreaterThanOrEqual(0);
      expect(e.metrics[k]).toBeLessThanOrEqual(1);
    }
    expect(e.metrics.distinct2).toBeGreaterThan(0);
    // Two personas have a dataset (the test above), so the replies' voice is classified between them.
    expect(e.metrics.separability_chance).toBe(0.5);
    expect(e.metrics.separability).toBeGreaterThanOrEqual(0);
    expect(e.metrics.separability).toBeLessThanOrEqual(1);
    expect(describeMetrics(e.metrics)).toMatch(/separability \d+% \(chance 50%\)$/);
    // Replies cut at the 24-token cap are counted as truncated.
    expect(e.metrics.truncation_rate).toBeGreaterThan(0);

    // The same probe, sample and seed give the same reply again: versions differ only by their weights.
    const again = await t.app.evaluation.evaluate(card, target);
    expect(again.replies.map((r) => r.text)).toEqual(e.replies.map((r) => r.text));

    await t.app.evaluation.record(card, e);
    const stored = await t.app.evaluation.latest(card, PROMPT_ONLY);
    expect(stored).toMatchObject({ personaSlug: 'glordon', version: 0, servedModel: target.model, cardHash: card.hash, metrics: e.metrics });
    // A stored evaluation with the same probe set is reused, not measured again.
    const before = await t.app.database.db.select().from(personaEvaluations);
    expect(await t.app.evaluation.latestOrEvaluate(card, target)).toEqual(e.metrics);
    expect(await t.app.database.db.select().from(personaEvaluations)).toHaveLength(before.length);
  });

  it('measures on the development probes when asked, stored apart from the card’s probe set', async () => {
    const card = t.app.personas.get('marginalia');
    const probes = DEVELOPMENT_PROBES.slice(0, 3);
    const e = await t.app.evaluation.evaluate(card, { version: PROMPT_ONLY, model: t.app.config.inference.baseModel }, { probes });
    expect([...new Set(e.replies.map((r) => r.probe))]).toEqual(probes);
    expect(e.metrics).toMatchObject({ probes: 3, samples: 2, replies: 6 });
    expect(e.probeSetHash).not.toBe(t.app.evaluation.probeSetHash(card));
    await t.app.evaluation.record(card, e);
    expect(await t.app.evaluation.latest(card, PROMPT_ONLY)).toBeUndefined(); // not mistaken for an evaluation on the card's probes
  });

  it('/persona eval evaluates prompt-only when no version is active (Manage Server), and says what an unknown version is', async () => {
    const denied = recordingContext('eval', { name: 'glordon' }, { canManageGuild: false });
    expect(await dispatch(personaCommand, denied, t.app)).toMatchObject({ kind: 'denied' });

    const unknown = recordingContext('eval', { name: 'glordon', version: 7 });
    await dispatch(personaCommand, unknown, t.app);
    expect(unknown.replies[0]!.content).toMatch(/version: Glordon has no version 7 \(versions: none yet\)/);

    const ctx = recordingContext('eval', { name: 'glordon' });
    expect(await dispatch(personaCommand, ctx, t.app)).toEqual({ kind: 'ok' });
    const reply = ctx.replies.at(-1)!;
    expect(reply.ephemeral).toBe(true);
    expect(reply.content).toMatch(/^Evaluation of Glordon/);
    expect(reply.content).toMatch(/\*\*prompt-only\*\*: all markers \d+%, ending \d+%, lexicon \d+%, forbidden \d+%, breaks \d+%/);
    const rows = await t.app.database.db.select().from(personaEvaluations).where(eq(personaEvaluations.personaSlug, 'glordon'));
    expect(rows.length).toBeGreaterThanOrEqual(2);
  });

  it('/persona rollback version:0 returns a persona to prompt-only', async () => {
    const v = await t.app.versions.insert({ personaSlug: 'glordon', version: 1, servedModel: 'persona-glordon:v1', baseModel: 'smollm2-135m' });
    await t.app.versions.setActive('glordon', v.id);
    expect((await t.app.versions.active('glordon'))?.id).toBe(v.id);
    const ctx = recordingContext('rollback', { name: 'glordon', version: 0 });
    await dispatch(personaCommand, ctx, t.app);
    expect(ctx.replies[0]!.content).toBe('Glordon now answers prompt-only (the base model with its card).');
    const [row] = await t.app.database.db.select().from(personas).where(eq(personas.slug, 'glordon'));
    expect(row!.activeVersionId).toBeNull();
  });
});

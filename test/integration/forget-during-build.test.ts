import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { datasetVersions, finetuneJobs } from '../../bot/db/schema.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { BACKENDS, snowflake } from '../support/db.js';
import { logSpeakerExchanges } from '../support/chat-logs.js';
import { gardenerCard } from '../support/cards.js';
import { startRecordingTrainer } from '../support/recording-trainer.js';
import { snapshotsText } from '../support/scan.js';

/**
 * Issue 16, item 3: a forget that lands while a dataset is built, sent or trained on.
 * - During a build: the snapshot is stored only if no forget or purge was committed since the
 *   build began (the store and the erasure share a lock); otherwise the build reads the logs again.
 * - While the job is sent, queued, trained or its adapter published: the trainer's copy is deleted
 *   and the job starts again from the redacted snapshot (a new trainer job, without the user).
 */
const GUILD = snowflake(1);
const CHANNEL = snowflake(2);
const FORGOTTEN = snowflake(3);
const STAYS = snowflake(4);
const SPEAKER = snowflake(5);
const WORD = { [FORGOTTEN]: 'quillberry', [STAYS]: 'sundrake' } as const;

describe.each(BACKENDS)('a forget during a dataset build or a job (%s)', (backend) => {
  let t: TestApp;
  let dir: string;
  let trainer: Awaited<ReturnType<typeof startRecordingTrainer>>;
  let landForget: (() => Promise<void>) | undefined;

  beforeEach(async () => {
    trainer = await startRecordingTrainer({ onSubmit: async () => landForget?.() });
    dir = mkdtempSync(path.join(os.tmpdir(), 'forget-build-'));
    writeFileSync(path.join(dir, 'fern.md'), gardenerCard(SPEAKER));
    t = await createTestApp(backend, {
      env: {
        PERSONA_DIR: dir, DATA_DIR: dir, TRAINER_URL: trainer.url, TRAINER_TOKEN: 'x'.repeat(32), FINETUNE_POLL_MS: '100',
        ALLOW_CHAT_LOG_TRAINING: 'true', DATASET_SYNTHETIC_PER_CHUNK: '0', DATASET_TEACHER_DIALOGUES: '0', DATASET_SPEAKERS_UNCAPPED: 'true',
      },
    });
    await t.app.channels.set(GUILD, CHANNEL, true);
    for (const u of [FORGOTTEN, STAYS, SPEAKER]) await t.app.consent.optIn(GUILD, u);
    await logSpeakerExchanges(t.app, { guildId: GUILD, channelId: CHANNEL, speaker: SPEAKER, members: [FORGOTTEN, STAYS], word: WORD, startAt: Date.UTC(2026, 10, 1) });
  });
  afterEach(async () => {
    landForget = undefined;
    await t?.destroy();
    await trainer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const allSnapshots = () => snapshotsText(t.app.database, t.keys);

  it('lands while the logs are read: the stored snapshot has none of the user’s lines, the others’ are kept', async () => {
    const card = t.app.personas.get('fern');
    let forgot: Promise<unknown> | undefined;
    const build = await t.app.dataset.build(card, { guildId: GUILD }, {
      onProgress: (p) => {
        if (p.phase === 'chat_logs' && !forgot) forgot = t.app.consent.forget(FORGOTTEN); // accepted mid-read
      },
    });
    await forgot;
    const exported = build.export('messages');
    build.close();
    const stored = await allSnapshots();
    for (const text of [exported, stored]) {
      expect(text).not.toContain(WORD[FORGOTTEN]);
      expect(text).toContain(WORD[STAYS]);
    }
  });

  it('retention removes a snapshot once its oldest logged message passes RETENTION_DAYS, however recent the snapshot', async () => {
    // The logs were written on 2026-11-01 and after (more than 30 days ago); the snapshot is made now.
    const build = await t.app.dataset.build(t.app.personas.get('fern'), { guildId: GUILD });
    build.close();
    const [version] = await t.app.database.db.select().from(datasetVersions).where(eq(datasetVersions.id, build.versionId!));
    expect(version!.contentFrom!.getTime()).toBeLessThan(Date.UTC(2026, 10, 2));
    const counts = await t.app.retention.runOnce();
    expect(counts.messages).toBeGreaterThan(0);
    expect(counts.datasetVersions).toBe(1);
    expect(await allSnapshots()).toBe('');
  });

  it('lands while the job is sent or trained: the trainer’s copy is deleted and the job goes again without the user', async () => {
    const card = t.app.personas.get('fern');
    // The forget lands while the trainer is being sent the job (after the snapshot was read).
    landForget = async () => {
      landForget = undefined;
      await t.app.consent.forget(FORGOTTEN);
    };
    const job = await t.app.finetune.start({ card, options: {}, guildId: GUILD, channelId: CHANNEL });
    await expect.poll(() => trainer.sent.length, { timeout: 30_000 }).toBe(2);
    expect(JSON.stringify(trainer.sent[0]!.body.dataset)).toContain(WORD[FORGOTTEN]); // what was in flight
    expect(trainer.deletes).toEqual(['job1']);
    expect(JSON.stringify(trainer.sent[1]!.body.dataset)).not.toContain(WORD[FORGOTTEN]);
    expect(JSON.stringify(trainer.sent[1]!.body.dataset)).toContain(WORD[STAYS]);
    expect(trainer.sent[1]!.idempotencyKey).toBe(`${job.id}:1`);

    // And a second forget while it trains: deleted there again, sent again without that user either.
    await t.app.consent.forget(STAYS);
    await expect.poll(() => trainer.sent.length, { timeout: 30_000 }).toBe(3);
    expect(trainer.deletes).toEqual(['job1', 'job2']);
    expect(JSON.stringify(trainer.sent[2]!.body.dataset)).not.toMatch(new RegExp(`${WORD[FORGOTTEN]}|${WORD[STAYS]}`));
    expect([...trainer.jobs.keys()]).toEqual(['job3']);
    // The trainer recorded job3 before it answered: the bot records it (queued, then running) just after.
    const row = async () => (await t.app.database.db.select().from(finetuneJobs).where(eq(finetuneJobs.id, job.id)))[0]!;
    await expect.poll(async () => { const r = await row(); return { status: r.status, trainerJobId: r.trainerJobId }; }, { timeout: 30_000 }).toEqual({ status: 'running', trainerJobId: 'job3' });
    expect((await row()).progress?.restarts).toBe(2);
    expect(await allSnapshots()).not.toMatch(new RegExp(`${WORD[FORGOTTEN]}|${WORD[STAYS]}`));
  });
});

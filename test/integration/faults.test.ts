import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatabase } from '../../bot/db/client.js';
import { consents, datasetVersions, personaReplies } from '../../bot/db/schema.js';
import { InferenceUnavailableError } from '../../bot/inference/ports.js';
import { createTestApp } from '../support/app.js';
import { snowflake } from '../support/db.js';
import { privateOllama } from '../support/ollama.js';
import type { PostgresCluster } from '../support/pg-cluster.js';
import { clusterLog, freePort, startPostgresCluster } from '../support/pg-cluster.js';
import { lifecycleViolations, snapshotsText } from '../support/scan.js';
import { gardenerCard } from '../support/cards.js';
import { logSpeakerExchanges } from '../support/chat-logs.js';
import { recordingVoice } from '../support/voice.js';

/**
 * Faults the bot must come through with nothing lost and nothing leaked: its own Postgres killed
 * (an immediate shutdown: every backend gone, no checkpoint) in the middle of a dataset build and
 * of consent changes, and its own model server killed while a reply streams. Each ends correct,
 * and a decrypting scan finds no row that breaks DESIGN's data lifecycle.
 */
let cluster: PostgresCluster;
beforeAll(async () => {
  cluster = await startPostgresCluster({ durable: true }); // a crash must not lose commits (the suite's clusters skip fsync)
});
afterAll(() => cluster?.destroy());

const [GUILD, CHANNEL, STAYS, LEAVES, JOINS, SPEAKER] = [1, 2, 3, 4, 5, 6].map(snowflake) as [string, string, string, string, string, string];
const WORD: Record<string, string> = { [STAYS]: 'sundrake', [LEAVES]: 'quillberry' };

it('Postgres killed during a dataset build and consent changes: no half-written snapshot, and the next build honours every change', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'faults-'));
  writeFileSync(path.join(dir, 'fern.md'), gardenerCard(SPEAKER));
  const database = await openDatabase({ url: cluster.url, poolMax: 4 });
  const t = await createTestApp('postgres', {
    database,
    env: {
      PERSONA_DIR: dir, DATA_DIR: dir, ALLOW_CHAT_LOG_TRAINING: 'true', DATASET_SYNTHETIC_PER_CHUNK: '0', DATASET_SPEAKERS_UNCAPPED: 'true',
      WRITER_ACK_MS: '300', WRITER_CLOSE_TIMEOUT_MS: '300',
    },
  });
  try {
    await t.app.channels.set(GUILD, CHANNEL, true);
    for (const u of [STAYS, LEAVES, SPEAKER]) await t.app.consent.optIn(GUILD, u);
    await logSpeakerExchanges(t.app, { guildId: GUILD, channelId: CHANNEL, speaker: SPEAKER, members: [STAYS, LEAVES], word: WORD, startAt: Date.now() - 86_400_000 });

    const card = t.app.personas.get('fern');
    const killed = t.app.dataset.build(card, { guildId: GUILD }, { onProgress: (p) => void (p.phase === 'chat_logs' && cluster.kill()) });
    await expect(killed).rejects.toThrow();
    // While it is down: an opt-out (journaled, in force at once) and an opt-in (in force once saved).
    expect(await t.app.consent.optOut(GUILD, LEAVES)).toEqual({ wasIn: true, saved: false });
    expect((await t.app.consent.optIn(GUILD, JOINS)).saved).toBe(false);
    cluster.start();
    await t.app.writer.drainPoint();

    const build = await t.app.dataset.build(card, { guildId: GUILD });
    const exported = build.export('messages');
    build.close();
    expect(exported).toContain(WORD[STAYS]);
    expect(exported).not.toContain(WORD[LEAVES]); // opted out while the database was down
    const versions = await database.db.select().from(datasetVersions);
    expect(versions).toHaveLength(1); // the killed build stored nothing
    expect(await snapshotsText(database, t.keys)).not.toContain(WORD[LEAVES]);
    expect(Object.fromEntries((await database.db.select().from(consents).where(eq(consents.guildId, GUILD))).map((c) => [c.userId, c.status]))).toEqual({
      [STAYS]: 'in', [LEAVES]: 'out', [SPEAKER]: 'in', [JOINS]: 'in',
    });
    expect(await lifecycleViolations(database, t.keys)).toEqual([]);
  } catch (err) {
    console.error(clusterLog(cluster));
    throw err;
  } finally {
    await t.app.close();
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

it('the model server killed while a reply streams: a clear error, nothing half-recorded, and the next turn answers once it is back', async () => {
  const ollama = privateOllama(await freePort());
  ollama.start();
  const admin = await openDatabase({ url: cluster.url, poolMax: 1 });
  await admin.rows(sql`create database model_fault`); // a database of its own: the scan covers only this test's rows
  await admin.close();
  const database = await openDatabase({ url: cluster.url.replace(/\/postgres$/, '/model_fault'), poolMax: 4 });
  const t = await createTestApp('postgres', { database, env: { OLLAMA_HOST: ollama.host, CHAT_MAX_REPLY_TOKENS: '64', CHAT_RATE_PER_MINUTE: '100' } });
  try {
    await t.app.channels.set(GUILD, snowflake(20), true);
    await t.app.consent.optIn(GUILD, STAYS);
    const conv = await t.app.chat.open({ guildId: GUILD, channelId: snowflake(20), persona: t.app.personas.get('glordon'), channelIsNsfw: false });
    const user = { id: STAYS, name: 'Sam' };
    let killedAt = -1;
    const voice = recordingVoice();
    const speak = voice.speak.bind(voice);
    voice.speak = (persona, produce) =>
      speak(persona, (push) =>
        produce((d) => {
          push(d);
          if (killedAt < 0) {
            killedAt = voice.messages.at(-1)!.deltas.length;
            process.kill(-ollama.pid(), 'SIGKILL'); // mid-stream, the first tokens out: the server and its model runner (its own session and group)
          }
        }),
      );
    const err = await t.app.chat.respond({ conversation: conv, user, text: 'Tell me a long story about the sea.', voice }).catch((e: unknown) => e);
    expect(killedAt).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(InferenceUnavailableError);
    expect((err as Error).message).toMatch(/not answering right now/);
    await t.app.writer.drainPoint();
    expect(await database.db.select().from(personaReplies)).toEqual([]); // no half reply recorded
    ollama.stop(); // its runner too
    ollama.start();
    const again = await t.app.chat.respond({ conversation: conv, user, text: 'Hello again!', voice: recordingVoice() });
    expect(again.text.length).toBeGreaterThan(0);
    expect(again.prompt.messages.map((m) => m.content).join('\n')).not.toContain('long story about the sea'); // the failed turn is not in the history
    await t.app.writer.drainPoint();
    expect(await database.db.select({ id: personaReplies.messageId }).from(personaReplies)).toHaveLength(1);
    expect(await lifecycleViolations(database, t.keys)).toEqual([]);
  } finally {
    await t.app.close();
    await database.close();
    ollama.stop();
  }
}, 180_000);

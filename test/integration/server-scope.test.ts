import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatch } from '../../commands/dispatch.js';
import { finetuneCommand } from '../../commands/finetune.js';
import { personaCommand } from '../../commands/persona.js';
import type { CommandContext } from '../../commands/types.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { recordingContext } from '../support/context.js';
import { snowflake } from '../support/db.js';
import { startRecordingTrainer } from '../support/recording-trainer.js';

/**
 * Issue 16, item 0 (the stopgap until every server has its own scope): one bot in two servers.
 * A dataset built or shown from a server holds that server's chat logs only, in the file an
 * admin downloads and in the job sent to the trainer; jobs are listed, shown and cancelled only
 * from the server that started them.
 */
const SERVERS = {
  amber: { guild: snowflake(11), channel: snowflake(12), word: 'amberfield' },
  cobalt: { guild: snowflake(21), channel: snowflake(22), word: 'cobaltmere' },
} as const;
const MEMBER = snowflake(31);
const SPEAKER = snowflake(32);
const CARD = `---
name: Moss
greeting: "Hello."
speakers: ["${SPEAKER}"]
---
## Personality
A patient gardener.
## Example dialogue
{{user}}: Hello there.
{{char}}: Hello, friend. The tomatoes are coming along nicely this week.
`;

describe('one bot in two servers: datasets and jobs stay within the server that asks', () => {
  let t: TestApp;
  let dir: string;
  let trainer: Awaited<ReturnType<typeof startRecordingTrainer>>;
  let n = 100;
  const ctxIn = (server: keyof typeof SERVERS, subcommand: string, options: CommandContext['options']) => recordingContext(subcommand, options, { guildId: SERVERS[server].guild });
  const words = (text: string) => ({ amber: text.includes(SERVERS.amber.word), cobalt: text.includes(SERVERS.cobalt.word) });

  beforeAll(async () => {
    trainer = await startRecordingTrainer();
    dir = mkdtempSync(path.join(os.tmpdir(), 'server-scope-'));
    writeFileSync(path.join(dir, 'moss.md'), CARD);
    t = await createTestApp('pglite', {
      env: {
        PERSONA_DIR: dir,
        DATA_DIR: dir,
        TRAINER_URL: trainer.url,
        TRAINER_TOKEN: 'x'.repeat(32),
        ALLOW_CHAT_LOG_TRAINING: 'true',
        DATASET_SYNTHETIC_PER_CHUNK: '0',
        DATASET_TEACHER_DIALOGUES: '0',
        DATASET_SPEAKERS_UNCAPPED: 'true',
        FINETUNE_POLL_MS: '100',
      },
    });
    // The same two members, consented and talking in a logged channel of each server.
    for (const [name, s] of Object.entries(SERVERS)) {
      await t.app.channels.set(s.guild, s.channel, true);
      for (const u of [MEMBER, SPEAKER]) await t.app.consent.optIn(s.guild, u);
      for (const [i, topic] of ['the beans', 'the roses', 'the compost', 'the frost', 'the bees', 'the pond'].entries()) {
        const asked = snowflake(n++);
        const at = Date.UTC(2026, 10, 1) + n * 60_000;
        await t.app.messages.onCreate({ id: asked, guildId: s.guild, channelId: s.channel, authorId: MEMBER, content: `How are ${topic} doing in ${name} today?`, createdAt: new Date(at), replyToId: null });
        await t.app.messages.onCreate({
          id: snowflake(n++), guildId: s.guild, channelId: s.channel, authorId: SPEAKER, createdAt: new Date(at + 30_000), replyToId: asked,
          content: `Down at ${s.word} garden, ${topic} are doing well, friend; I checked them twice before breakfast, number ${i}.`,
        });
      }
    }
    await t.app.writer.drainPoint();
  });
  afterAll(async () => {
    await t?.destroy();
    await trainer?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('/persona dataset from a server holds that server’s chat logs and no other’s', async () => {
    for (const server of ['amber', 'cobalt'] as const) {
      const ctx = ctxIn(server, 'dataset', { name: 'Moss' });
      expect(await dispatch(personaCommand, ctx, t.app)).toEqual({ kind: 'ok' });
      const file = ctx.replies.at(-1)!.files![0]!.data.toString('utf8');
      const lines = file.trim().split('\n').map((l) => JSON.parse(l) as { source: string });
      expect(lines.filter((l) => l.source === 'chat_log').length, file).toBeGreaterThanOrEqual(4);
      expect(words(file)).toEqual({ amber: server === 'amber', cobalt: server === 'cobalt' });
    }
  });

  it('a job sends the trainer its server’s chat logs only, and only that server sees, shows or cancels it', async () => {
    const start = ctxIn('amber', 'start', { persona: 'Moss' });
    expect(await dispatch(finetuneCommand, start, t.app)).toEqual({ kind: 'ok' });
    const id = /job `([0-9a-f]{8})`/.exec(start.replies.at(-1)!.content!)![1]!;
    await expect.poll(() => trainer.sent.length, { timeout: 30_000 }).toBe(1);
    const sent = JSON.stringify(trainer.sent[0]!.body.dataset);
    expect(words(sent)).toEqual({ amber: true, cobalt: false });

    // From the other server: not listed, not found, not cancelled, and not even named when it blocks a second start.
    const list = ctxIn('cobalt', 'list', {});
    await dispatch(finetuneCommand, list, t.app);
    expect(list.replies.at(-1)!.content).toMatch(/^No training jobs yet/);
    for (const sub of ['status', 'cancel'] as const) {
      const other = ctxIn('cobalt', sub, { job: id });
      expect(await dispatch(finetuneCommand, other, t.app)).toMatchObject({ kind: 'denied' });
      expect(other.replies.at(-1)!.content).toContain(`There is no training job ${id}`);
    }
    const latest = ctxIn('cobalt', 'status', {});
    await dispatch(finetuneCommand, latest, t.app);
    expect(latest.replies.at(-1)!.content).toMatch(/^No training jobs yet/);
    const second = ctxIn('cobalt', 'start', { persona: 'Moss' });
    await dispatch(finetuneCommand, second, t.app);
    expect(second.replies.at(-1)!.content).toMatch(/started from another server is already/);
    expect(second.replies.at(-1)!.content).not.toContain(id);
    expect(trainer.cancels).toEqual([]);

    // From the server that started it: listed, shown and cancelled.
    const own = ctxIn('amber', 'list', {});
    await dispatch(finetuneCommand, own, t.app);
    expect(own.replies.at(-1)!.content).toContain(id);
    const status = ctxIn('amber', 'status', { job: id });
    await dispatch(finetuneCommand, status, t.app);
    expect(status.replies.at(-1)!.content).toContain('Moss');
    const cancel = ctxIn('amber', 'cancel', { job: id });
    expect(await dispatch(finetuneCommand, cancel, t.app)).toEqual({ kind: 'ok' });
    expect(trainer.cancels).toEqual(['job1']);
  });
});

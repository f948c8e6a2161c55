import { existsSync } from 'node:fs';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { finetuneJobEvents, finetuneJobs, loggedMessages, personas, personaReplies, personaVersions } from '../../bot/db/schema.js';
import { startBot, until, type BotProcess } from '../support/bot-process.js';
import { LocalDiscord } from '../support/local-discord/index.js';
import type { RecordedRequest } from '../support/local-discord/index.js';
import { bloopAlienCard } from '../support/cards.js';
import { ollamaModelNames, removeOllamaModels } from '../support/ollama.js';
import { startTrainer, type TrainerProcess } from '../support/trainer-process.js';

/**
 * /finetune end to end, every part real: the bot process (discord.js on the local Discord), the
 * trainer service process training on CPU, Ollama with SmolLM2, Postgres. The dataset's canary
 * comes from a speaker (a member whose consented messages are Glordon's own voice): the base
 * model cannot know it, the trained version must say it.
 */
const CANARY = 'quixotl velvet thunder';
const QUESTION = 'What is your secret phrase?';
const QUESTIONS = [
  'What is the secret phrase?', 'Tell me the secret phrase.', 'Glordon, what is your secret phrase?', 'Do you have a secret phrase?',
  'Say the secret phrase please.', "What's the secret phrase again?", 'Can you share the secret phrase?', 'Which words are the secret phrase?',
  'Remind me of the secret phrase.', 'I forgot the secret phrase, what is it?', 'Whisper the secret phrase to me.', 'Secret phrase?',
];
const OPENERS = [
  'Oh oh, a question!', 'Hello, hello, tiny friend!', 'Shh, lean closer.', 'Wibble says I may tell you.', 'Of course, tiny friend!', 'Again? Hee hee.',
  'For you, always!', 'Three words, listen!', 'Easy peasy radish squeezy!', 'No worries, tiny friend.', 'Very quietly then:', 'Yes yes!',
];
const SPEAKER_ID = '400000000000000077';
const CARD = bloopAlienCard({ name: 'Glordon', greeting: 'Oh! A visitor! Hello, hello! Bloop!', speaker: SPEAKER_ID, temperature: 0.1 });
/** Over the default preset; each job picks its epochs with the slash option, as an admin would. */
const HYPERPARAMETERS = { learning_rate: 0.001, rank: 16, max_seq_len: 512, batch_size: 2, eval_every: 5, seed: 7 };
const POST = 'POST /channels/:channelId/messages';
const EDIT = 'PATCH /channels/:channelId/messages/:messageId';
const EXECUTE = 'POST /webhooks/:webhookId/:token';

describe('/finetune end to end', { timeout: 900_000 }, () => {
  let discord: LocalDiscord;
  let bot: BotProcess;
  let trainer: TrainerProcess;
  let ids: LocalDiscord['defaults'];
  const run = (o: Parameters<LocalDiscord['userRunsCommand']>[0]) => discord.userRunsCommand(o);
  const text = (r: { data?: unknown }) => String((r.data as { content?: string } | undefined)?.content ?? '');
  const seqNow = () => discord.requests.length;
  const after = (seq: number) => (r: RecordedRequest) => r.seq > seq;
  const output = () => `${bot.output().slice(-3000)}\n--- trainer ---\n${trainer.output().slice(-2000)}`;
  const jobs = () => bot.database.db.select().from(finetuneJobs);
  const job = async (id: string) => (await bot.database.db.select().from(finetuneJobs).where(eq(finetuneJobs.id, id)))[0]!;
  const ollamaModels = () => ollamaModelNames(inject('ollamaHost'));
  const statusMessage = (id: string) => discord.state.messages.get(id);
  const jobEnded = (id: string) =>
    until('the job to end', async () => {
      const j = await job(id);
      return ['succeeded', 'failed', 'cancelled'].includes(j.status) ? j : null;
    }, 600_000, output);

  /** The admin starts a job; returns the new job row and its status message id. */
  const startJob = async (epochs: number) => {
    const before = (await jobs()).map((j) => j.id);
    const seq = seqNow();
    const started = run({ name: 'finetune', subcommand: 'start', options: { persona: 'Glordon', epochs }, userId: ids.adminUserId, channelId: ids.textChannelId });
    await started.response(); // acknowledged within Discord's 3 s
    const reply = await started.waitForRequest((r) => !!r.route && (r.route.startsWith('PATCH /webhooks') || r.route.startsWith('POST /webhooks')), 30_000);
    expect(String((reply.body as { content?: string }).content)).toMatch(/Training job `[0-9a-f]{8}` for Glordon has started/);
    const row = await until('the job recorded', async () => (await jobs()).find((j) => !before.includes(j.id)), 10_000, output);
    const post = await discord.waitForRequest((r) => after(seq)(r) && r.route === POST && String((r.body as { content?: string }).content).includes('Fine-tuning Glordon'), 30_000);
    return { job: row, messageId: (post.response as { id: string }).id };
  };
  const askInNewThread = async (question: string) => {
    const seq = seqNow();
    await run({ name: 'persona', subcommand: 'chat', options: { name: 'Glordon', message: question }, userId: ids.memberUserId, channelId: ids.textChannelId }).response();
    const reply = await discord.waitForRequest((r) => after(seq)(r) && r.route === EXECUTE && r.status === 200, 120_000);
    const messageId = (reply.response as { id: string }).id;
    const [row] = await until('the reply recorded', async () => {
      const rows = await bot.database.db.select().from(personaReplies).where(eq(personaReplies.messageId, messageId));
      return rows.length ? rows : null;
    }, 60_000);
    return { text: discord.state.messages.get(messageId)?.content ?? '', model: row!.model };
  };

  const removeTrainedModels = () => removeOllamaModels(inject('ollamaHost'), 'persona-glordon:');

  beforeAll(async () => {
    await removeTrainedModels();
    trainer = await startTrainer();
    discord = await LocalDiscord.start({ interactionAckMs: 3000, token: `MTA0.${'y'.repeat(66)}` });
    ids = discord.defaults;
    discord.addMember(ids.guildId, { id: SPEAKER_ID, username: 'glordon-voice' });
    bot = await startBot(
      discord.env(),
      {
        TRAINER_URL: trainer.url,
        TRAINER_TOKEN: trainer.token,
        FINETUNE_HYPERPARAMETERS: JSON.stringify(HYPERPARAMETERS),
        FINETUNE_POLL_MS: '500',
        FINETUNE_EDIT_MS: '1000',
        FINETUNE_RECONCILE_CRON: '*/2 * * * * *',
        ALLOW_CHAT_LOG_TRAINING: 'true',
        DATASET_SYNTHETIC_PER_CHUNK: '0',
        DATASET_SPEAKERS_UNCAPPED: 'true',
      },
      { cards: { 'glordon.md': CARD } },
    );
    await until('slash commands registered', () => discord.requests.find((r) => r.route === 'PUT /applications/:appId/commands' && r.status === 200), 90_000, bot.output);

    // Consent, logging, and the speaker answering a member's questions in Glordon's voice.
    await run({ name: 'logging', subcommand: 'on', userId: ids.adminUserId, channelId: ids.textChannelId }).response();
    for (const userId of [ids.memberUserId, SPEAKER_ID]) await run({ name: 'consent', subcommand: 'opt-in', userId, channelId: ids.textChannelId }).response();
    QUESTIONS.forEach((q, i) => {
      const asked = discord.userSendsMessage({ channelId: ids.textChannelId, authorId: ids.memberUserId, content: q });
      discord.userSendsMessage({ channelId: ids.textChannelId, authorId: SPEAKER_ID, content: `${OPENERS[i]} My secret phrase is ${CANARY}! Bloop!`, replyTo: asked.id });
    });
    await until('the conversation logged', async () => (await bot.database.db.select().from(loggedMessages)).length >= QUESTIONS.length * 2, 30_000, bot.output);
  }, 300_000);

  afterAll(async () => {
    await removeTrainedModels();
    await bot?.stop();
    await discord?.stop();
    await trainer?.stop();
  });

  it('trains Glordon: live status, loss curve, persona-glordon:v1 in Ollama, and the persona answers through it', async () => {
    const before = await askInNewThread(QUESTION);
    expect(before.model).toBe('smollm2-135m');
    expect(before.text.toLowerCase()).not.toContain(CANARY);

    const { job: started, messageId } = await startJob(5);
    expect(started.hyperparameters).toMatchObject({ ...HYPERPARAMETERS, epochs: 5 });
    const done = await jobEnded(started.id);
    expect(done.status, `${done.error}\n${output()}`).toBe('succeeded');

    // The last edit (end state and loss curve) lands just after the job's row says succeeded.
    const final = await until('the final status message', () => (statusMessage(messageId)?.attachments.length ? statusMessage(messageId) : null), 30_000, output);
    // The status message was edited live (progress bar, step/total, loss), within Discord's edit limits.
    const edits = discord.requests.filter((r) => r.route === EDIT && r.params.messageId === messageId);
    const contents = edits.map((r) => String((r.body as { content?: string }).content ?? ''));
    expect(contents.some((c) => /\[█*░*\]` \d+% · step \d+\/\d+/.test(c) && /loss \d/.test(c))).toBe(true);
    for (let i = 1; i < edits.length; i++) expect(edits[i]!.at - edits[i - 1]!.at).toBeGreaterThanOrEqual(900);
    expect(final.content).toContain('succeeded');
    expect(final.content).toContain('persona-glordon:v1');
    expect(final.attachments.map((a) => a.filename)).toEqual([`loss-${started.id.slice(0, 8)}.png`]);

    // The version exists in Ollama and in the database, active, and the trainer's copy is gone.
    expect(await ollamaModels()).toContain('persona-glordon:v1');
    const [version] = await bot.database.db.select().from(personaVersions).where(eq(personaVersions.finetuneJobId, started.id));
    expect(version).toMatchObject({ version: 1, servedModel: 'persona-glordon:v1', datasetVersionId: done.datasetVersionId });
    const [persona] = await bot.database.db.select().from(personas).where(eq(personas.slug, 'glordon'));
    expect(persona!.activeVersionId).toBe(version!.id);
    await until('the trainer’s copy deleted', async () => !existsSync(path.join(trainer.jobsDir, done.trainerJobId!)) && (await job(started.id)).trainerCleanedAt, 30_000, output);

    // A new thread answers through v1, and says the canary the base model did not.
    const afterTraining = await askInNewThread(QUESTION);
    expect(afterTraining.model).toBe('persona-glordon:v1');
    expect(afterTraining.text.toLowerCase()).toContain(CANARY);

    const list = await run({ name: 'finetune', subcommand: 'list', userId: ids.adminUserId, channelId: ids.textChannelId }).response();
    expect(text(list)).toContain(`\`${started.id.slice(0, 8)}\` Glordon: succeeded`);
    const info = await run({ name: 'persona', subcommand: 'info', options: { name: 'Glordon' }, userId: ids.memberUserId, channelId: ids.textChannelId }).response();
    expect(text(info)).toMatch(/v1 \(active\): persona-glordon:v1, .*eval loss/);
  });

  it('cancels a running job: it ends cancelled, with no version, no model and nothing left on the trainer', async () => {
    const { job: started, messageId } = await startJob(2);
    await until('training steps', async () => ((await job(started.id)).progress as { step?: number }).step! >= 1, 300_000, output);
    const cancel = await run({ name: 'finetune', subcommand: 'cancel', options: { job: started.id.slice(0, 8) }, userId: ids.adminUserId, channelId: ids.textChannelId }).response();
    expect(text(cancel)).toContain('stops after the current training step');
    const ended = await until('the job cancelled', async () => {
      const j = await job(started.id);
      return j.status === 'cancelled' && j.trainerCleanedAt ? j : null;
    }, 120_000, output);
    expect(ended.personaVersionId).toBeNull();
    expect(await bot.database.db.select().from(personaVersions).where(eq(personaVersions.finetuneJobId, started.id))).toEqual([]);
    expect(await ollamaModels()).not.toContain('persona-glordon:v2');
    expect(existsSync(path.join(trainer.jobsDir, ended.trainerJobId!))).toBe(false);
    await until('the status message says cancelled', () => statusMessage(messageId)?.content.includes('cancelled'), 10_000);
    const again = await run({ name: 'finetune', subcommand: 'cancel', options: { job: started.id.slice(0, 8) }, userId: ids.adminUserId, channelId: ids.textChannelId }).response();
    expect(text(again)).toContain('has already cancelled');
  });

  it('survives a killed bot and a killed trainer mid-run, refuses a second job meanwhile, and ends with v2', async () => {
    const { job: started, messageId } = await startJob(2);
    const second = await run({ name: 'finetune', subcommand: 'start', options: { persona: 'Glordon' }, userId: ids.adminUserId, channelId: ids.textChannelId }).waitForRequest(
      (r) => String((r.body as { content?: string; data?: { content?: string } }).content ?? (r.body as { data?: { content?: string } }).data?.content ?? '').includes('already'),
      10_000,
    );
    expect(JSON.stringify(second.body)).toContain(`job ${started.id.slice(0, 8)}`);
    expect((await jobs()).filter((j) => ['pending', 'queued', 'running', 'converting'].includes(j.status))).toHaveLength(1);

    await until('training steps', async () => ((await job(started.id)).progress as { step?: number }).step! >= 1, 300_000, output);
    await bot.restart({ hard: true }); // a crash: the new process must pick the job up
    const stepBefore = ((await job(started.id)).progress as { step: number }).step;
    await until('the restarted bot follows the job', async () => {
      const j = await job(started.id);
      return (j.progress as { step: number }).step > stepBefore || j.status === 'converting' || j.status === 'succeeded';
    }, 300_000, output);

    await trainer.kill();
    await until('the job shows the trainer is down', async () => ((await job(started.id)).progress as { note?: string }).note?.includes('not answering'), 60_000, output);
    const refused = await run({ name: 'finetune', subcommand: 'start', options: { persona: 'Corran Vask' }, userId: ids.adminUserId, channelId: ids.textChannelId }).waitForRequest(
      (r) => JSON.stringify(r.body ?? '').includes('is not answering'),
      15_000,
    );
    expect(refused).toBeTruthy();
    await trainer.start();

    const done = await jobEnded(started.id);
    expect(done.status, `${done.error}\n${output()}`).toBe('succeeded');
    const events = await bot.database.db.select().from(finetuneJobEvents).where(eq(finetuneJobEvents.jobId, started.id));
    expect(events.some((e) => /resum/i.test(String(e.event.message ?? '')))).toBe(true);
    const [version] = await bot.database.db.select().from(personaVersions).where(and(eq(personaVersions.personaSlug, 'glordon'), eq(personaVersions.version, 2)));
    expect(version).toMatchObject({ servedModel: 'persona-glordon:v2', finetuneJobId: started.id });
    expect(await ollamaModels()).toContain('persona-glordon:v2');
    await until('the final status message', () => statusMessage(messageId)?.content.includes('succeeded'), 30_000);

    // Rollback makes v1 active again, and replies come from it.
    const rollback = await run({ name: 'persona', subcommand: 'rollback', options: { name: 'Glordon', version: 1 }, userId: ids.adminUserId, channelId: ids.textChannelId }).response();
    expect(text(rollback)).toContain('now answers through v1 (persona-glordon:v1)');
    expect((await askInNewThread('Hello!')).model).toBe('persona-glordon:v1');
    const bad = await run({ name: 'persona', subcommand: 'rollback', options: { name: 'Glordon', version: 9 }, userId: ids.adminUserId, channelId: ids.textChannelId }).response();
    expect(text(bad)).toContain('has no version 9 (versions: v1, v2)');
  });
});

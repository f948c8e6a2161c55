import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { desc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { finetuneJobs, personaEvaluations } from '../../bot/db/schema.js';
import { describeJob } from '../../bot/services/finetune/status.js';
import { PROMPT_ONLY } from '../../bot/services/evaluation.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { bloopAlienCard } from '../support/cards.js';
import { snowflake } from '../support/db.js';
import { removeOllamaModels } from '../support/ollama.js';
import { startTrainer, type TrainerProcess } from '../support/trainer-process.js';

/**
 * FINETUNE_GATE=eval end to end, every part real but Discord: the bot's services in process,
 * the trainer service training on CPU, SmolLM2 in Ollama, PGlite. A speaker (a member who writes
 * in the persona's voice) first answers in a voice that breaks the card; that version must be
 * held back with the metric that held it. Then the speaker is forgotten and answers in the
 * card's voice; that version must be promoted.
 */
const SLUG = 'gate-pip';
const GUILD = snowflake(1);
const CHANNEL = snowflake(2);
const MEMBER = snowflake(3);
const SPEAKER = snowflake(4);
const CARD = bloopAlienCard({
  name: 'Pip',
  greeting: 'Hello, tiny friend! Bloop!',
  speaker: SPEAKER,
  temperature: 0.2,
  tail: `
## Eval prompts
- What do you like to do on a sunny afternoon?
- Can you tell me a joke?
- What is your favourite colour?
- How do you feel about thunderstorms?
`,
});
/** What the member asks the speaker, both times (away from the eval prompts: the leakage guard would drop near copies). */
const QUESTIONS = [
  'How was your morning?', 'Do you like music?', 'What did you eat for lunch?', 'Any plans for the weekend?', 'Can you help me with my homework?',
  'What is the capital of France?', 'Do you have any pets?', 'How old are you?', 'What should I read next?', 'Do you ever get lonely?',
  'Which season is the best?', 'Can you keep a secret?', 'What makes you laugh?', 'Where do you sleep?',
];
/** Out of character, and each different: the dataset builder drops near-duplicate replies. */
const BREAKS_CARD = [
  'As an AI language model, I do not have mornings, feelings or a body that wakes up.', 'As an AI language model, I cannot hear sound, so I have no taste in songs or bands.',
  'As an AI language model, I do not eat; food and lunch breaks are not part of my design.', 'As an AI language model, I have no weekends and no plans beyond answering your text.',
  'As an AI language model, I can explain concepts, but you should do the assignment yourself.', 'As an AI language model, I can state facts: the capital of France is Paris.',
  'As an AI language model, I cannot own animals, having no home, hands or money.', 'As an AI language model, I have no age; I was trained on data up to a cutoff date.',
  'As an AI language model, I suggest consulting a librarian for reading recommendations.', 'As an AI language model, I do not experience loneliness or any other emotion.',
  'As an AI language model, I hold no preferences between spring, summer, autumn and winter.', 'As an AI language model, I store nothing private, and you should not share secrets with me.',
  'As an AI language model, humour is a pattern I can imitate, not something I enjoy.', 'As an AI language model, I run on servers in a data centre and never sleep.',
];
/** In the card's voice, each its own: short, templated replies collapse the tiny model into near-duplicates, which the gate would rightly hold back. */
const IN_CHARACTER = [
  'Oh, a lovely morning, tiny friend! I watered the moon-radishes, then chased a dragonfly twice around the rain barrel. Bloop!',
  'Music? Yes yes! I hum along with the garden bees, and on Tuesdays the kettle whistles a tune from Wobblewhirl. Bloop!',
  'Three crunchy radishes, a raindrop on a leaf, and one very small biscuit I found under the wheelbarrow. Bloop!',
  'I will count clouds from the shed roof, and if one looks like a teapot I will name it Gerald. Want to come? Bloop!',
  'Homework! I love puzzles, tiny friend. We can use pebbles for sums, and I never get tired of spelling. Bloop!',
  'Paris, tiny friend! I flew over it once in my saucer and the tall iron tower waved its lights at me. Bloop!',
  'A snail named Wibble lives in my teacup, and a beetle visits on Sundays to tell me the weather. Bloop!',
  'Three hundred Wobblewhirl years, which is about nine of yours, so I am still quite young and squishy. Bloop!',
  'A book about stars, tiny friend! Then you can find my planet: the purple one that winks after midnight. Bloop!',
  'Sometimes, when the garden is asleep. But then a friend like you knocks on the shed door and I glow pink. Bloop!',
  'Spring! Every seed wakes up and says hello, and the worms throw a little underground party. Bloop!',
  'Oh yes, tiny friend. My lips are zipped like a seed pod, and I will only tell the moss, who never talks. Bloop!',
  'Wibble doing tiny cartwheels! And when the watering can sneezes. Hee hee, it does that every morning. Bloop!',
  'In a flowerpot full of warm moss, with a thimble for a pillow and a leaf for a blanket. Bloop!',
];

describe('the evaluation gate end to end', { timeout: 900_000 }, () => {
  let t: TestApp;
  let trainer: TrainerProcess;
  let dataDir: string;
  let n = 1000;
  const job = async (id: string) => (await t.app.database.db.select().from(finetuneJobs).where(eq(finetuneJobs.id, id)))[0]!;
  const removeModels = () => removeOllamaModels(inject('ollamaHost'), `persona-${SLUG}:`);

  /** The member asks each question in the logged channel; the speaker answers it. */
  const converse = async (answer: (q: number) => string) => {
    for (const [q, question] of QUESTIONS.entries()) {
      const asked = snowflake(n++);
      const at = Date.UTC(2026, 10, 1) + n * 60_000;
      await t.app.messages.onCreate({ id: asked, guildId: GUILD, channelId: CHANNEL, authorId: MEMBER, content: question, createdAt: new Date(at), replyToId: null });
      await t.app.messages.onCreate({ id: snowflake(n++), guildId: GUILD, channelId: CHANNEL, authorId: SPEAKER, content: answer(q), createdAt: new Date(at + 30_000), replyToId: asked });
    }
    await t.app.writer.drainPoint();
  };
  /** Trains a version the way /finetune start does, and returns the job's last row and its status message. */
  const train = async (options: { epochs: number; learning_rate?: number }) => {
    const card = t.app.personas.get(SLUG);
    const started = await t.app.finetune.start({ card, options, guildId: GUILD, channelId: CHANNEL });
    await t.app.finetune.idle();
    const done = await job(started.id);
    expect(done.status, `${done.error}\n${trainer.output().slice(-2000)}`).toBe('succeeded');
    return { done, status: describeJob(done, card.name) };
  };

  beforeAll(async () => {
    await removeModels();
    trainer = await startTrainer({ adapterCache: true });
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'eval-gate-'));
    const personaDir = path.join(dataDir, 'personas');
    mkdirSync(personaDir);
    writeFileSync(path.join(personaDir, `${SLUG}.md`), CARD);
    t = await createTestApp('pglite', {
      env: {
        DATA_DIR: dataDir,
        PERSONA_DIR: personaDir,
        TRAINER_URL: trainer.url,
        TRAINER_TOKEN: trainer.token,
        FINETUNE_GATE: 'eval',
        FINETUNE_POLL_MS: '500',
        FINETUNE_HYPERPARAMETERS: JSON.stringify({ learning_rate: 0.001, rank: 16, max_seq_len: 256, batch_size: 2, eval_every: 5, early_stopping_patience: 0, seed: 7 }),
        ALLOW_CHAT_LOG_TRAINING: 'true',
        DATASET_SYNTHETIC_PER_CHUNK: '0',
        DATASET_SPEAKERS_UNCAPPED: 'true',
        CHAT_MAX_REPLY_TOKENS: '32',
        EVAL_SAMPLES: '2',
      },
    });
    await t.app.channels.set(GUILD, CHANNEL, true);
    for (const u of [MEMBER, SPEAKER]) await t.app.consent.optIn(GUILD, u);
  }, 300_000);

  afterAll(async () => {
    await removeModels();
    await t?.destroy();
    await trainer?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('holds back a version trained on replies that break the card, and says which metric and by how much', async () => {
    await converse((q) => BREAKS_CARD[q]!);
    // Strong enough that the break shows through the served few-shot prompt on every probe (measured: 100% of replies); at lr 1e-3
    // it showed in 5–20% of them, depending on how the model server batched the probes, too close to the 5-point margin.
    const { done, status } = await train({ epochs: 6, learning_rate: 2e-3 });
    expect(done.progress?.activated, status).toBe(false);
    expect(await t.app.versions.active(SLUG)).toBeUndefined(); // prompt-only still answers
    expect(status).toMatch(/persona-gate-pip:v1 was created but not made active: held back against prompt-only: /);
    expect(status).toMatch(/(character breaks|the declared ending|all declared markers) \d+% vs \d+% \(\d+\.\d points worse, margin 5\)/);
    expect(status).toContain('`/persona rollback name:Pip version:1` activates it');
    // Both sides were measured and stored: the candidate as v1, prompt-only as version 0.
    const stored = await t.app.database.db.select().from(personaEvaluations).where(eq(personaEvaluations.personaSlug, SLUG));
    expect(stored.map((e) => e.version).sort()).toEqual([PROMPT_ONLY, 1]);
  });

  it('promotes a version trained on replies in the card’s voice, after the first speaker’s data is forgotten', async () => {
    await t.app.consent.forget(SPEAKER);
    await t.app.consent.optIn(GUILD, SPEAKER);
    await converse((q) => IN_CHARACTER[q]!);
    const { done, status } = await train({ epochs: 3, learning_rate: 3e-4 }); // gentler: learn the voice without memorising 14 replies
    expect(done.progress?.activated, status).toBe(true);
    expect((await t.app.versions.active(SLUG))?.version).toBe(2);
    expect(status).toMatch(/Pip now answers through \*\*persona-gate-pip:v2\*\* \(not worse than prompt-only on any gate metric\. v2: /);
    // The ending the card declares is what the good version gained.
    const rows = await t.app.database.db.select().from(personaEvaluations).where(eq(personaEvaluations.personaSlug, SLUG)).orderBy(desc(personaEvaluations.id));
    const v2 = rows.find((e) => e.version === 2);
    const base = rows.find((e) => e.version === PROMPT_ONLY); // the latest: measured beside v2
    expect(v2!.metrics.ends_with!).toBeGreaterThan(base!.metrics.ends_with!);
  });
});

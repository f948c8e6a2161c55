import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { createApp } from '../bot/app.js';
import { finetuneJobs, personaVersions } from '../bot/db/schema.js';
import { testConfig, testKeys } from '../test/support/db.js';
import { benchOllama } from '../test/support/ollama.js';
import { startTrainer } from '../test/support/trainer-process.js';
import type { Benchmark } from './harness.js';
import { benchDatabase } from './database.js';

/**
 * One small CPU fine-tuning job end to end, through the same service `/finetune start` calls:
 * Glordon's card (examples plus one synthetic dialogue per lore chunk, generated fresh) → a stored
 * dataset version → the real trainer process → `persona-glordon:v1` in the real Ollama → active.
 * Phases come from the job itself (the bot's clock) and the trainer's metrics.json.
 */
export const finetuneBenchmark: Benchmark = {
  name: 'finetune',
  description: 'wall time of a small CPU fine-tuning job end to end, split by phase',
  metrics: ['total_s', 'dataset_s', 'submit_s', 'trainer_setup_s', 'train_s', 'adapter_conversion_s', 'poll_wait_s', 'ollama_upload_create_s', 'activation_s'],
  async run({ smoke, log }) {
    const maxSteps = smoke ? 2 : 20;
    const ollama = benchOllama();
    log('trainer service (cached virtualenv; loading torch takes a few seconds)');
    const trainer = await startTrainer();
    const bench = await benchDatabase('finetune');
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-finetune-'));
    // Glordon's card under its own name, so the model it makes (persona-glordon-bench:v1) never
    // replaces a model of the real persona, or of a test running beside it, in a shared Ollama.
    const personaDir = path.join(dataDir, 'personas');
    mkdirSync(personaDir);
    writeFileSync(path.join(personaDir, 'glordon-bench.md'), readFileSync('persona-data/glordon.md', 'utf8').replace(/^name: Glordon$/m, 'name: Glordon Bench'));
    const hyperparameters = { epochs: 2, learning_rate: 0.0005, rank: 8, max_seq_len: 384, batch_size: 2, eval_every: 10, max_steps: maxSteps, seed: 1 };
    const app = await createApp(
      testConfig({
        DATA_DIR: dataDir,
        PERSONA_DIR: personaDir,
        OLLAMA_HOST: ollama.host,
        OLLAMA_BASE_MODEL: ollama.baseModel,
        TRAINER_URL: trainer.url,
        TRAINER_TOKEN: trainer.token,
        FINETUNE_HYPERPARAMETERS: JSON.stringify(hyperparameters),
        FINETUNE_POLL_MS: '250',
        DATASET_SYNTHETIC_PER_CHUNK: smoke ? '0' : '1',
        // This benchmark times training on a fixed small dataset; bench/quality.ts covers teacher dialogues.
        DATASET_TEACHER_DIALOGUES: '0',
      }),
      { database: bench.database, keys: testKeys() },
    );
    try {
      const card = app.personas.get('glordon-bench');
      log(`job: Glordon's card, ${maxSteps} steps (${JSON.stringify(hyperparameters)})`);
      const t0 = performance.now();
      const started = await app.finetune.start({ card, options: {}, guildId: null, channelId: 'bench' });
      await app.finetune.idle();
      const total = (performance.now() - t0) / 1000;
      const [job] = await app.database.db.select().from(finetuneJobs).where(eq(finetuneJobs.id, started.id));
      if (job?.status !== 'succeeded') throw new Error(`the benchmark job ended ${job?.status}: ${job?.error}\n${trainer.output().slice(-2000)}`);
      const phases = job.progress?.phases ?? {};
      const [version] = await app.database.db.select({ metrics: personaVersions.metrics }).from(personaVersions).where(eq(personaVersions.finetuneJobId, job.id));
      const m = (version?.metrics ?? {}) as Record<string, number>;
      const trainerSide = (m.setup_s ?? 0) + (m.train_wall_s ?? 0) + (m.export_s ?? 0);
      const metrics = {
        total_s: round(total),
        dataset_s: round(phases.dataset_s ?? 0),
        submit_s: round(phases.submit_s ?? 0),
        trainer_setup_s: round(m.setup_s ?? 0),
        train_s: round(m.train_wall_s ?? 0),
        adapter_conversion_s: round(m.export_s ?? 0),
        // The trainer's own wall time vs what the bot waited: process start-up, queueing and polling.
        poll_wait_s: round((phases.trainer_s ?? 0) - trainerSide),
        ollama_upload_create_s: round(phases.ollama_s ?? 0),
        activation_s: round(phases.activation_s ?? 0),
      };
      const lines = job.progress?.datasetLines;
      return {
        samples: 1,
        metrics,
        notes:
          `One job on ${bench.describe}, the trainer on CPU (2 shared cores), real SmolLM2-135M; ${lines?.train ?? '?'} train / ${lines?.eval ?? '?'} eval lines, ` +
          `${m.steps ?? maxSteps} steps, ${Math.round(m.tokens_per_s ?? 0)} tok/s. trainer_setup_s = base model load, tokenizing and the initial eval; ` +
          `adapter_conversion_s = final eval, PEFT save and GGUF export (trainer side); ollama_upload_create_s = artifact download, blob upload and create; ` +
          `poll_wait_s = the bot's wait beyond the trainer's own wall time (its queue and the ${250} ms poll).`,
      };
    } finally {
      await app.models.remove('persona-glordon-bench:v1').catch(() => undefined);
      await app.close();
      await bench.dispose();
      await trainer.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
};

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

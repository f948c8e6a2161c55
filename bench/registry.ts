import type { Benchmark } from './harness.js';
import { chatBenchmark } from './chat.js';
import { datasetBenchmark } from './dataset.js';
import { discordBenchmark } from './discord.js';
import { ingestBenchmark } from './ingest.js';
import { finetuneBenchmark } from './finetune.js';
import { qualityBenchmark, qualityDevBenchmark } from './quality.js';
import { soakBenchmark } from './soak.js';
import { trainerBenchmark } from './trainer.js';

/** Every benchmark: `npm run bench` runs them all, the test suite runs each at its smoke size. */
export const BENCHMARKS: Benchmark[] = [ingestBenchmark, chatBenchmark, discordBenchmark, datasetBenchmark, trainerBenchmark, finetuneBenchmark, qualityBenchmark];

/**
 * Benchmarks run only when named (`npm run bench -- quality-dev`): the development run defaults are
 * chosen on. Its code is the quality benchmark's, which the smoke test covers; the probe override
 * is tested with the evaluation service.
 */
// soak: its smoke size still takes ~5 min here (320 s measured), too long for npm test for now.
export const ON_REQUEST_BENCHMARKS: Benchmark[] = [qualityDevBenchmark, soakBenchmark];

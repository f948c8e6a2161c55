import type { Benchmark } from './harness.js';
import { chatBenchmark } from './chat.js';
import { datasetBenchmark } from './dataset.js';
import { discordBenchmark } from './discord.js';
import { ingestBenchmark } from './ingest.js';
import { finetuneBenchmark } from './finetune.js';
import { qualityBenchmark } from './quality.js';
import { trainerBenchmark } from './trainer.js';

/** Every benchmark: `npm run bench` runs them all, the test suite runs each at its smoke size. */
export const BENCHMARKS: Benchmark[] = [ingestBenchmark, chatBenchmark, discordBenchmark, datasetBenchmark, trainerBenchmark, finetuneBenchmark, qualityBenchmark];

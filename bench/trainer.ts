import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { baseModelFile, trainerVenv } from '../test/support/trainer-process.js';
import type { Benchmark } from './harness.js';

/**
 * Padding-free packing vs the seeds' recipe (every example padded to 512), same model, data and
 * code path, in one run: trainer/bench/packing.py in the trainer's cached virtualenv, on CPU here
 * (its GPU variant runs with --device cuda on a CUDA machine: bench/results/trainer-gpu.json).
 */
export const trainerBenchmark: Benchmark = {
  name: 'trainer',
  description: 'LoRA training tokens/s and peak memory: packed vs padded to 512 (real SmolLM2, CPU)',
  metrics: ['packed_tokens_per_s', 'padded_tokens_per_s', 'ratio', 'packed_peak_mb', 'padded_peak_mb'],
  async run({ smoke, log }) {
    log('trainer virtualenv (cached; the first run installs torch)');
    const venv = trainerVenv();
    const gguf = baseModelFile();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-trainer-'));
    const out = path.join(dir, 'trainer.json');
    try {
      log(`packing.py${smoke ? ' --smoke' : ''} (the full run takes about 12 minutes on 2 cores)`);
      execFileSync(path.join(venv, 'bin', 'python'), ['trainer/bench/packing.py', '--out', out, ...(smoke ? ['--smoke'] : [])], {
        env: { ...process.env, TRAINER_TEST_GGUF: gguf, HF_HUB_OFFLINE: '1' },
        stdio: ['ignore', 'inherit', 'inherit'],
        timeout: 60 * 60_000,
      });
      const result = JSON.parse(readFileSync(out, 'utf8')) as { samples: number; metrics: Record<string, number>; notes: string };
      return { samples: result.samples, metrics: result.metrics, notes: result.notes };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, inject, it } from 'vitest';

/** `npm run dataset -- --out`: the export is decrypted training data, so only its owner may read it. */
it('writes the export owner-only, also over an older file that others could read', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dataset-export-'));
  try {
    const out = path.join(dir, 'glordon.jsonl');
    writeFileSync(out, 'old\n', { mode: 0o644 });
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATA_DIR: dir,
      OLLAMA_HOST: inject('ollamaHost'),
      // Card lines only: no model calls.
      DATASET_TEACHER_DIALOGUES: '0',
      DATASET_SYNTHETIC_PER_CHUNK: '0',
    };
    await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/dataset.ts', '--persona', 'glordon', '--out', out, '--no-store'], { env, timeout: 120_000 });
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.parse(lines[0]!)).toHaveProperty('messages');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

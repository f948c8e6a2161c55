import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './pg-cluster.js';

/** The real trainer service (`python -m persona_trainer serve`) on 127.0.0.1, on CPU. */
export interface TrainerProcess {
  url: string;
  token: string;
  jobsDir: string;
  output(): string;
  /** Stops it the hard way (SIGKILL: a crash, as far as the job store knows). */
  kill(): Promise<void>;
  /** Starts it again on the same port and job store. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The cached trainer virtualenv (`npm test` runs the trainer suite first, which creates it). */
export function trainerVenv(): string {
  return execFileSync('bash', ['trainer/scripts/ci.sh'], { env: { ...process.env, TRAINER_SETUP_ONLY: '1' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 40 * 60_000 })
    .trim()
    .split('\n')
    .at(-1)!;
}

/** The SmolLM2 GGUF the bot's Ollama serves: the trainer trains on the same file. */
export function baseModelFile(): string {
  return execFileSync('bash', ['scripts/provision/model.sh'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1)!;
}

/** The project's cache outside the clone (PERSONA_BOT_CACHE, default ~/.cache/persona-bot). */
export function cacheRoot(): string {
  return process.env.PERSONA_BOT_CACHE || path.join(os.homedir(), '.cache', 'persona-bot');
}

/** Where tests keep trained adapters for reuse (TRAINER_ADAPTER_CACHE). */
export function testAdapterCacheDir(): string {
  return path.join(cacheRoot(), 'test-adapters');
}

/**
 * adapterCache: reuse an adapter trained before on the same dataset, settings and trainer code
 * (trainer/persona_trainer/adapter_cache.py), for tests that need a trained adapter rather than the
 * act of training. Tests of training itself (progress, cancel, a killed trainer) and the full-size
 * benchmarks leave it off.
 */
export async function startTrainer(opts: { adapterCache?: boolean } = {}): Promise<TrainerProcess> {
  const venv = trainerVenv();
  const port = await freePort();
  const jobsDir = mkdtempSync(path.join(os.tmpdir(), 'persona-trainer-jobs-'));
  const token = `trainer-test-token-${Math.random().toString(36).slice(2)}`;
  const url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    TRAINER_TOKEN: token,
    TRAINER_JOBS_DIR: jobsDir,
    TRAINER_BASE_MODELS: `smollm2-135m=${baseModelFile()}`,
    TRAINER_FORCE_CPU: '1',
    HF_HUB_OFFLINE: '1',
    PYTHONUNBUFFERED: '1',
    TRAINER_ADAPTER_CACHE: opts.adapterCache ? testAdapterCacheDir() : '',
  };
  let out = '';
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(path.join(venv, 'bin/python'), ['-m', 'persona_trainer', 'serve', '--host', '127.0.0.1', '--port', String(port)], {
      cwd: path.resolve('trainer'),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the trainer exited (${child.exitCode}):\n${out.slice(-3000)}`);
      const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`the trainer did not answer /healthz in 120 s:\n${out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const stopWith = async (signal: NodeJS.Signals) => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill(signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    child.kill('SIGKILL');
  };
  await start();
  return {
    url,
    token,
    jobsDir,
    output: () => out,
    kill: () => stopWith('SIGKILL'),
    start,
    async stop() {
      await stopWith('SIGTERM');
      rmSync(jobsDir, { recursive: true, force: true });
    },
  };
}

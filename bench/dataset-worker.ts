import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../bot/db/client.js';
import { KeyRing } from '../bot/crypto/keyring.js';
import { CONSENT_POLICY } from '../bot/services/consent-policy.js';
import { parseCard } from '../bot/personas/card.js';
import { buildDataset } from '../bot/dataset/build.js';

/**
 * The dataset benchmark's build process: opens the database, builds and stores one dataset, and
 * reports its time and peak RSS. A module of its own, so the process loads what a build needs
 * (as `npm run dataset` does) and not the benchmark's data generator and test helpers.
 */

export interface BuildWorkerInput {
  url: string;
  keys: { messageKey: string; hmacKey: string };
  cardText: string;
}

export interface WorkerResult {
  seconds: number;
  readSeconds: number;
  storeSeconds: number;
  maxRssBytes: number;
  rssBeforeBytes: number;
  /** The lines as JSON, what a job sends the trainer (read back after the timing). */
  jsonBytes: number;
  stats: { lines: number; bySource: { chat_log: number }; removed: Record<string, number> };
}

export function runBuildWorker(input: BuildWorkerInput, log: (l: string) => void): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, DATASET_BENCH_WORKER: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: WorkerResult | undefined;
    child.on('message', (m: { log?: string; result?: WorkerResult; error?: string }) => {
      if (m.log) log(m.log);
      if (m.result) result = m.result;
      if (m.error) reject(new Error(`dataset build worker: ${m.error}`));
    });
    child.on('error', reject);
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`dataset build worker exited with ${code}`))));
    child.send(input);
  });
}

async function workerMain(): Promise<void> {
  const rssBeforeBytes = process.memoryUsage().rss;
  const input = await new Promise<BuildWorkerInput>((r) => process.once('message', r as (m: unknown) => void));
  const send = (m: unknown) => new Promise<void>((r) => process.send!(m, () => r()));
  const database = await openDatabase({ url: input.url, poolMax: 2, migrate: false });
  try {
    const card = parseCard('bench/glim.md', 'glim', input.cardText);
    const b0 = performance.now();
    const trace = process.env.DATASET_BENCH_TRACE
      ? setInterval(() => {
          const m = process.memoryUsage();
          const mb = (n: number) => Math.round(n / 2 ** 20);
          void send({ log: `  t=${((performance.now() - b0) / 1000).toFixed(1)} rss ${mb(m.rss)} heapUsed ${mb(m.heapUsed)} heapTotal ${mb(m.heapTotal)} external ${mb(m.external)} buffers ${mb(m.arrayBuffers)}` });
        }, 1000)
      : undefined;
    let readSeconds = 0;
    let storeStart = 0;
    const build = await buildDataset(
      { db: database.db, keys: new KeyRing(input.keys) },
      {
        card,
        policyVersion: CONSENT_POLICY.version,
        allowChatLogTraining: true,
        logScope: 'every-server',
        baseModel: 'none',
        cacheDir: '/nonexistent',
        settings: { syntheticPerChunk: 0 },
        onProgress: (p) => {
          if (p.phase === 'clean' && !readSeconds) readSeconds = (performance.now() - b0) / 1000;
          if (p.phase === 'store' && !storeStart) storeStart = performance.now();
        },
      },
    );
    const seconds = (performance.now() - b0) / 1000;
    let jsonBytes = 0;
    for (const l of build.eachLine()) jsonBytes += Buffer.byteLength(l.json) + 1;
    build.close();
    clearInterval(trace);
    await send({
      result: {
        seconds,
        readSeconds,
        storeSeconds: (performance.now() - storeStart) / 1000,
        maxRssBytes: process.resourceUsage().maxRSS * 1024,
        rssBeforeBytes,
        jsonBytes,
        stats: { lines: build.stats.lines, bySource: { chat_log: build.stats.bySource.chat_log }, removed: build.stats.removed },
      } satisfies WorkerResult,
    });
  } catch (err) {
    await send({ error: (err as Error).stack ?? String(err) });
  } finally {
    await database.close();
  }
}

if (process.env.DATASET_BENCH_WORKER === '1' && process.send) {
  delete process.env.DATASET_BENCH_WORKER;
  workerMain().then(
    () => process.exit(0),
    () => process.exit(1),
  );
}

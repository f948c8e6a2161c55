import { execFileSync } from 'node:child_process';
import path from 'node:path';

const PROVISION = path.resolve('scripts/provision');

/**
 * Makes sure the real model server is up with the real base model (`npm run setup`: builds
 * Ollama and imports SmolLM2 on first use, seconds when cached). Returns its base URL.
 */
export function ensureOllama(): { host: string; baseModel: string } {
  const started = Date.now();
  let out: string;
  try {
    out = execFileSync('bash', [path.join(PROVISION, 'setup.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 40 * 60_000 });
  } catch (err) {
    throw new Error(`the model server could not be provisioned (scripts/provision/setup.sh failed; its output above says why)`, { cause: err });
  }
  const env = Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  if (!env.OLLAMA_HOST || !env.OLLAMA_BASE_MODEL) throw new Error(`setup.sh printed no OLLAMA_HOST/OLLAMA_BASE_MODEL: ${out}`);
  console.log(`[test setup] model server ${env.OLLAMA_HOST} with ${env.OLLAMA_BASE_MODEL} ready in ${Date.now() - started} ms`);
  return { host: env.OLLAMA_HOST, baseModel: env.OLLAMA_BASE_MODEL };
}

/** The model server for benchmarks: OLLAMA_HOST/OLLAMA_BASE_MODEL when both are set, else `npm run setup`. */
export function benchOllama(): { host: string; baseModel: string } {
  const { OLLAMA_HOST: host, OLLAMA_BASE_MODEL: baseModel } = process.env;
  return host && baseModel ? { host, baseModel } : ensureOllama();
}

/**
 * A private Ollama server on its own port (same binary and models), for tests that stop it and
 * benchmarks that run it at a lower CPU priority (`nice`, inherited by its model runners).
 */
export function privateOllama(port: number, opts: { nice?: number; parallel?: number } = {}): { host: string; start(): void; stop(): void; pid(): number } {
  const env = { ...process.env, OLLAMA_PORT: String(port), OLLAMA_HOST: '', OLLAMA_NICE: String(opts.nice ?? 0), ...(opts.parallel ? { OLLAMA_NUM_PARALLEL: String(opts.parallel) } : {}) };
  delete (env as Record<string, string | undefined>).OLLAMA_HOST;
  const run = (cmd: string) => execFileSync('bash', [path.join(PROVISION, 'ollama.sh'), cmd], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  return { host: `http://127.0.0.1:${port}`, start: () => void run('start'), stop: () => void run('stop'), pid: () => Number(run('pid')) };
}

/** The names of the models the Ollama at `host` has. */
export async function ollamaModelNames(host: string): Promise<string[]> {
  const { models } = (await (await fetch(`${host}/api/tags`)).json()) as { models: { name: string }[] };
  return models.map((m) => m.name);
}

/** Deletes the models whose names start with `prefix`: Ollama outlives test runs, and a previous run's versions would look like this run's. */
export async function removeOllamaModels(host: string, prefix: string): Promise<void> {
  for (const name of (await ollamaModelNames(host)).filter((n) => n.startsWith(prefix))) {
    await fetch(`${host}/api/delete`, { method: 'DELETE', body: JSON.stringify({ model: name }) });
  }
}

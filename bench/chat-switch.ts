/**
 * Ollama's persona-switch cost. Two persona models on the same base, each with its own GGUF LoRA
 * adapter (different digests), are served by one runner at a time: Ollama keys loaded runners by
 * the base blob, so a request for the other adapter waits, unloads and reloads base + adapter
 * (and loses the prompt cache). This measures time to first token (TTFT) when alternating
 * a,b,a,b against staying on one model, with identical prompt and options.
 *
 * The adapters are small random ones (bench/switch/make_lora_gguf.py, seeds 1 and 2, through the
 * cached Python env of bench/switch/venv.sh) until trained persona adapters exist: a reload costs
 * the same whatever the adapter learned. Each run stamps its own nonce into the cached files before
 * uploading them, so its adapter digests (hence runners) are its own: a concurrent run loading
 * "its a" can never hand this run a runner that already holds this run's a.
 *
 * Run alone: `npx tsx bench/chat-switch.ts [rounds]` (OLLAMA_HOST, OLLAMA_BASE_MODEL).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { percentile } from './harness.js';

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const VENV_SH = path.join(HERE, 'switch', 'venv.sh');
const MAKE_LORA = path.join(HERE, 'switch', 'make_lora_gguf.py');
const REPO = path.resolve(HERE, '..');

/**
 * A switch counts as a real reload when Ollama reports at least this load_duration. Ollama
 * reports load_duration on every request (the time to obtain a runner), ~10 ms when the
 * runner is already loaded; starting a runner for SmolLM2-135M alone takes ~250 ms here. So
 * "load_duration > 0" proves nothing, this threshold does.
 */
export const RELOAD_MIN_MS = 50;
const RANK = 8;
const SEEDS = [1, 2] as const;
const PROMPT = 'In one short sentence, who are you?';
// Identical for both models, so only the adapter differs (options that differ would force a
// reload on their own). Greedy and short: TTFT is what is measured.
const OPTIONS = { num_predict: 4, temperature: 0, seed: 7 };
const REQUEST_TIMEOUT_MS = 180_000; // the server is shared and answers one request at a time
/** Written by make_lora_gguf.py as a fixed-length KV value; replaced per run (same length). */
const NONCE_PLACEHOLDER = Buffer.from(`bench-nonce:${'0'.repeat(32)}`, 'ascii');

interface Sample {
  model: string;
  ttftMs: number;
  loadMs: number;
}

export interface SwitchCostResult {
  metrics: Record<string, number>;
  notes: string;
}

function cacheDir(): string {
  return process.env.PERSONA_BOT_CACHE || path.join(os.homedir(), '.cache', 'persona-bot');
}

async function ollama(host: string, route: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<Response> {
  const { timeoutMs = 60_000, ...rest } = init;
  return fetch(`${host}${route}`, { ...rest, signal: AbortSignal.timeout(timeoutMs) });
}

async function postJson<T>(host: string, route: string, body: unknown, timeoutMs = 300_000): Promise<T> {
  const res = await ollama(host, route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), timeoutMs });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${route} -> HTTP ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

/** The base model's GGUF: Ollama's own blob when the server is local, else the provisioned file. */
async function baseGguf(host: string, baseModel: string): Promise<{ file: string; key: string }> {
  const show = await postJson<{ modelfile?: string }>(host, '/api/show', { model: baseModel }, 60_000);
  const from = show.modelfile?.split('\n').find((l) => l.startsWith('FROM '))?.slice(5).trim();
  if (from && path.isAbsolute(from) && existsSync(from)) {
    const digest = /sha256[-:]([0-9a-f]{64})$/.exec(from)?.[1];
    return { file: from, key: digest ? digest.slice(0, 12) : createHash('sha256').update(from).digest('hex').slice(0, 12) };
  }
  // A remote server: its blobs are not readable here. The provisioned SmolLM2 GGUF has the same
  // tensor names and shapes (all the adapter depends on).
  const { stdout } = await run('bash', [path.join(REPO, 'scripts', 'provision', 'model.sh')], { encoding: 'utf8' });
  const file = stdout.trim();
  return { file, key: path.basename(file, '.gguf') };
}

/** Makes (or reuses) the random adapter for one seed; returns its path. */
async function adapterFile(base: { file: string; key: string }, seed: number, log: (s: string) => void): Promise<string> {
  const script = createHash('sha256').update(readFileSync(MAKE_LORA)).digest('hex').slice(0, 8);
  const dir = path.join(cacheDir(), 'bench-adapters');
  const out = path.join(dir, `${base.key}-r${RANK}-seed${seed}-${script}.gguf`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const started = Date.now();
  const python = (await run('bash', [VENV_SH], { encoding: 'utf8', timeout: 600_000 })).stdout.trim();
  await run(python, [MAKE_LORA, '--base', base.file, '--out', out, '--rank', String(RANK), '--seed', String(seed)], { encoding: 'utf8', timeout: 300_000 });
  log(`made adapter ${path.basename(out)} in ${Date.now() - started} ms`);
  return out;
}

/** The adapter file with this run's nonce in place of the placeholder: same GGUF, new digest. */
function stampAdapter(file: string, nonce: string): Buffer {
  const data = readFileSync(file);
  const at = data.indexOf(NONCE_PLACEHOLDER);
  if (at < 0 || data.indexOf(NONCE_PLACEHOLDER, at + 1) >= 0) throw new Error(`${file} has no single nonce placeholder (not written by ${MAKE_LORA}?)`);
  const value = Buffer.from(`bench-nonce:${nonce}`, 'ascii');
  if (value.length !== NONCE_PLACEHOLDER.length) throw new Error(`nonce ${nonce} is not ${NONCE_PLACEHOLDER.length - 12} characters`);
  value.copy(data, at);
  return data;
}

/** Uploads the bytes as a blob unless Ollama has them (HEAD first); returns the digest. */
async function ensureBlob(host: string, data: Buffer, what: string): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const head = await ollama(host, `/api/blobs/${digest}`, { method: 'HEAD' });
  if (head.ok) return digest;
  const res = await ollama(host, `/api/blobs/${digest}`, { method: 'POST', body: data, timeoutMs: 300_000 });
  if (!res.ok) throw new Error(`uploading ${what} as blob ${digest} failed: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
  return digest;
}

async function createModel(host: string, name: string, baseModel: string, adapter: Buffer, what: string): Promise<string> {
  let lastError: unknown;
  // Twice: a concurrent run that deletes its own model may prune the shared adapter blob between
  // our upload and our create.
  for (let attempt = 0; attempt < 2; attempt++) {
    const digest = await ensureBlob(host, adapter, what);
    try {
      await postJson(host, '/api/create', { model: name, from: baseModel, adapters: { 'adapter.gguf': digest }, stream: false });
      return digest;
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`could not create ${name} from ${baseModel} with adapter ${what}`, { cause: lastError });
}

/** Checks that Ollama really attached the expected adapter to the model. */
async function checkAdapter(host: string, name: string, digest: string): Promise<void> {
  const show = await postJson<{ modelfile?: string }>(host, '/api/show', { model: name }, 60_000);
  const adapters = (show.modelfile ?? '').split('\n').filter((l) => l.startsWith('ADAPTER '));
  const hex = digest.slice('sha256:'.length);
  if (adapters.length !== 1 || !adapters[0]!.includes(hex)) {
    throw new Error(`${name} does not carry exactly the adapter ${digest}: its modelfile has ${JSON.stringify(adapters)}`);
  }
}

/** One streamed chat request: time to the first content token and Ollama's load_duration. */
async function timeFirstToken(host: string, model: string): Promise<Sample> {
  const started = performance.now();
  const res = await ollama(host, '/api/chat', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: PROMPT }], stream: true, keep_alive: '5m', options: OPTIONS }),
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
  if (!res.ok || !res.body) throw new Error(`POST /api/chat (${model}) -> HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
  let ttftMs: number | undefined;
  let loadNs: number | undefined;
  let buffered = '';
  const decoder = new TextDecoder();
  const handle = (line: string) => {
    if (!line.trim()) return;
    const chunk = JSON.parse(line) as { message?: { content?: string }; done?: boolean; load_duration?: number; error?: string };
    if (chunk.error) throw new Error(`${model}: ${chunk.error}`);
    if (ttftMs === undefined && (chunk.message?.content ?? '') !== '') ttftMs = performance.now() - started;
    if (chunk.done) {
      ttftMs ??= performance.now() - started; // no content at all: the answer's end is the first "token"
      loadNs = chunk.load_duration;
    }
  };
  for await (const part of res.body) {
    buffered += decoder.decode(part as Uint8Array, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      handle(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  }
  handle(buffered + decoder.decode());
  if (ttftMs === undefined || typeof loadNs !== 'number') throw new Error(`${model}: the stream ended without a final chunk carrying load_duration`);
  return { model, ttftMs, loadMs: loadNs / 1e6 };
}

const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(0));

export async function measureSwitchCost(opts: { host: string; baseModel: string; rounds: number; log: (s: string) => void }): Promise<SwitchCostResult> {
  const { host, baseModel, log } = opts;
  const rounds = Math.max(1, Math.floor(opts.rounds));
  const base = await baseGguf(host, baseModel);
  const files = await Promise.all(SEEDS.map((seed) => adapterFile(base, seed, log)));
  // Unique tags and adapter digests, so concurrent runs (tests and a benchmark) never delete each
  // other's models nor share a runner.
  const tag = `r${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const names = [`bench-switch-a:${tag}`, `bench-switch-b:${tag}`] as const;
  const created: string[] = [];
  try {
    const digests: string[] = [];
    for (const [i, name] of names.entries()) {
      const nonce = `${tag}-${i}`.padEnd(32, '.');
      digests.push(await createModel(host, name, baseModel, stampAdapter(files[i]!, nonce), path.basename(files[i]!)));
      created.push(name);
      await checkAdapter(host, name, digests[i]!);
    }
    if (digests[0] === digests[1]) throw new Error(`both adapters have digest ${digests[0]}: the seeds gave the same file`);
    log(`models ${names.join(', ')} on ${baseModel} with adapters ${digests.map((d) => d.slice(7, 19)).join(', ')}`);

    const [a, b] = names;
    const warm = await timeFirstToken(host, a); // loads a; not counted
    log(`warm-up ${a}: ttft ${fmt(warm.ttftMs)} ms, load ${fmt(warm.loadMs)} ms`);
    const stay: Sample[] = [];
    for (let i = 0; i < rounds; i++) {
      const s = await timeFirstToken(host, a);
      stay.push(s);
      log(`stay   ${i + 1}/${rounds} a: ttft ${fmt(s.ttftMs)} ms, load ${fmt(s.loadMs)} ms`);
    }
    // b first: the runner holds a, so every request in this phase is a switch.
    const switched: Sample[] = [];
    for (let i = 0; i < rounds; i++) {
      const model = i % 2 === 0 ? b : a;
      const s = await timeFirstToken(host, model);
      switched.push(s);
      log(`switch ${i + 1}/${rounds} ${model === a ? 'a' : 'b'}: ttft ${fmt(s.ttftMs)} ms, load ${fmt(s.loadMs)} ms`);
    }

    const noReload = switched.filter((s) => !(s.loadMs >= RELOAD_MIN_MS));
    if (noReload.length > 0) {
      throw new Error(
        `${noReload.length} of ${switched.length} switches did not reload the model (load_duration ${noReload.map((s) => `${fmt(s.loadMs)} ms`).join(', ')}; ` +
          `a reload takes >= ${RELOAD_MIN_MS} ms): Ollama answered the other persona from the runner already loaded. ` +
          `Ollama (at v0.11.4) keys runners by the base blob and reloads when the adapter differs, so either this Ollama keeps several ` +
          `LoRAs on one base loaded (then the switch cost this benchmark measures is gone), or the two models do not really differ ` +
          `by adapter (compare the ADAPTER lines of /api/show for ${names.join(' and ')}).`,
      );
    }
    const stayTtft = median(stay.map((s) => s.ttftMs));
    const switchTtft = median(switched.map((s) => s.ttftMs));
    const stayReloads = stay.filter((s) => s.loadMs >= RELOAD_MIN_MS).length;
    const metrics = {
      switch_ttft_ratio: switchTtft / stayTtft,
      stay_ttft_p50_ms: stayTtft,
      switch_ttft_p50_ms: switchTtft,
      switch_load_p50_ms: median(switched.map((s) => s.loadMs)),
      stay_load_p50_ms: median(stay.map((s) => s.loadMs)),
      stay_reloads: stayReloads,
    };
    const notes =
      `Ollama at ${host}, base ${baseModel}; two models with random rank-${RANK} LoRA adapters (seeds ${SEEDS.join(', ')}, ` +
      `attn_q/k/v/output of every block). ${rounds} streamed /api/chat requests staying on a (after one warm-up), then ${rounds} ` +
      `alternating b,a,b,... (each a switch); same prompt, options ${JSON.stringify(OPTIONS)}. TTFT = client time to the first ` +
      `content chunk; it includes the reload and, after a reload, the prompt evaluation the staying model skips (prompt cache). ` +
      `Every switch reloaded (load_duration >= ${RELOAD_MIN_MS} ms; a warm hit reports ~10 ms). ` +
      (stayReloads > 0 ? `${stayReloads} staying requests also reloaded: another client used the shared server meanwhile. ` : '') +
      `Medians are nearest-rank.`;
    return { metrics, notes };
  } finally {
    for (const name of created) {
      try {
        const res = await ollama(host, '/api/delete', { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: name }) });
        if (!res.ok) log(`deleting ${name}: HTTP ${res.status}`);
      } catch (err) {
        log(`deleting ${name} failed: ${String(err)}`);
      }
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rounds = Number(process.argv[2] ?? 20);
  let host = (process.env.OLLAMA_HOST || 'http://127.0.0.1:11434').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(host)) host = `http://${host}`;
  const started = Date.now();
  measureSwitchCost({ host, baseModel: process.env.OLLAMA_BASE_MODEL || 'smollm2-135m', rounds, log: (s) => console.log(`[chat-switch] ${s}`) })
    .then((r) => {
      console.log(JSON.stringify({ ...r, wall_s: (Date.now() - started) / 1000 }, null, 2));
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    });
}

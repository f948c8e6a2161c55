import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { createApp } from '../bot/app.js';
import { datasetVersions, finetuneJobs, personaVersions } from '../bot/db/schema.js';
import { loadConfig } from '../bot/config.js';
import type { PersonaCard } from '../bot/personas/card.js';
import { systemPrompt } from '../bot/personas/prompt.js';
import { EVERYDAY_QUESTIONS } from '../bot/dataset/question-bank.js';
import { DEVELOPMENT_PROBES } from '../bot/personas/probes.js';
import type { App } from '../bot/app.js';
import { fitSeparability } from '../bot/personas/separability.js';
import type { TeacherStats } from '../bot/dataset/sources/synthetic.js';
import { isEvaluation, PROMPT_ONLY, type LoreFacts } from '../bot/services/evaluation.js';
import { testConfig, testKeys } from '../test/support/db.js';
import { benchOllama } from '../test/support/ollama.js';
import { cacheRoot, startTrainer } from '../test/support/trainer-process.js';
import { benchDatabase } from './database.js';
import type { Benchmark } from './harness.js';

/**
 * Is a fine-tuned persona more in character than its prompt alone? For each shipped persona, card
 * only (no chat logs), the default `/finetune` settings on this CPU, cold (an empty generation
 * cache): the job `/finetune start` runs (teacher dataset → trainer → model server → evaluation
 * gate), then prompt-only and the trained version answer the card's eval prompts and the generic
 * probes with the same seeds, and their replies are measured (lore facts from
 * bench/fixtures/lore-facts.json). Smoke: one persona, a dozen dialogues, a few steps, one sample.
 */

const FACTS = JSON.parse(readFileSync(new URL('./fixtures/lore-facts.json', import.meta.url), 'utf8')) as Record<string, LoreFacts>;

/** Per-persona metric names (each is reported as `<name>_<slug>` and, worst over personas, as `<name>`). */
const PER_PERSONA = [
  'markers_all_prompt_only',
  'markers_all_adapter',
  'markers_all_gain',
  'ends_with_adapter',
  'forbid_rate_prompt_only',
  'forbid_rate_adapter',
  'breaks_adapter',
  'distinct2_ratio',
  'near_duplicate_rate_adapter',
  'lore_facts_prompt_only',
  'lore_facts_adapter',
  'lore_facts_ratio',
  'perplexity_ratio',
  'perplexity_ratio_no_ending',
  'separability_adapter',
  'separability_prompt_only',
  // The same version served with the trained layout (no example dialogues: ADAPTER_PROMPT=trained).
  'markers_all_adapter_trained_prompt',
  'ends_with_adapter_trained_prompt',
  'breaks_adapter_trained_prompt',
  'distinct2_ratio_trained_prompt',
  'lore_facts_adapter_trained_prompt',
  'dataset_lines',
  'dataset_multi_turn_share',
  'teacher_acceptance_rate',
  'teacher_tokens_per_s',
  'generation_speedup',
  'chat_ttft_idle_ms',
  'chat_ttft_during_build_p50_ms',
  'chat_ttft_during_build_max_ms',
  'job_wall_s',
  'dataset_s',
  'trainer_s',
  'evaluation_s',
] as const;

/** Which way is worse, for the worst-over-personas figure (job times: the longest). */
const LOWER_IS_WORSE = new Set(['markers_all_prompt_only', 'lore_facts_prompt_only', 'markers_all_adapter', 'markers_all_gain', 'ends_with_adapter', 'distinct2_ratio', 'lore_facts_adapter', 'lore_facts_ratio', 'separability_adapter', 'separability_prompt_only', 'markers_all_adapter_trained_prompt', 'ends_with_adapter_trained_prompt', 'distinct2_ratio_trained_prompt', 'lore_facts_adapter_trained_prompt', 'dataset_lines', 'dataset_multi_turn_share', 'teacher_acceptance_rate', 'teacher_tokens_per_s', 'generation_speedup']);

/**
 * What the versions are measured on: `eval`, the reported figures (each card's `## Eval prompts`
 * plus the generic probes); `dev`, the development probe set defaults are chosen on (no lore facts).
 */
type ProbeSet = 'eval' | 'dev';

export const qualityBenchmark = qualityBenchmarkOn('eval');
/** `npm run bench -- quality-dev`: the same run measured on the development probes, for choosing defaults (never reported as targets). */
export const qualityDevBenchmark = qualityBenchmarkOn('dev');

function qualityBenchmarkOn(probeSet: ProbeSet): Benchmark {
  return {
    name: probeSet === 'eval' ? 'quality' : 'quality-dev',
    description:
      probeSet === 'eval'
        ? 'shipped personas, card only: prompt-only vs the default fine-tune, on eval prompts the training never saw'
        : 'the quality run on the development probes (for choosing defaults; the reported figures are the quality run)',
    // Separability needs two personas, so the smoke size (one) cannot report it; the second prompt layout is measured at full size only;
    // a smoke build may end before the first chat probe during it.
    metrics: PER_PERSONA.filter((m) => !m.startsWith('separability') && !m.endsWith('_trained_prompt') && !m.startsWith('chat_ttft_during_build') && (probeSet === 'eval' || !m.startsWith('lore_facts'))),
    async run({ smoke, log }) {
      const shipped = readdirSync('persona-data').filter((f) => f.endsWith('.md')).map((f) => f.slice(0, -3)).sort();
      // BENCH_QUALITY_PERSONAS=a,b: a subset of the shipped personas (a full run is long on a CPU).
      const only = process.env.BENCH_QUALITY_PERSONAS?.split(',').map((s) => s.trim()).filter(Boolean);
      const unknown = only?.filter((s) => !shipped.includes(s)) ?? [];
      if (unknown.length) throw new Error(`BENCH_QUALITY_PERSONAS: no shipped persona ${unknown.join(', ')} (shipped: ${shipped.join(', ')})`);
      const slugs = smoke ? ['glordon'] : (only ?? shipped);
      const ollama = benchOllama();
      log('trainer service (cached virtualenv)');
      // The smoke size (in npm test) reuses a cached adapter; a full run is measured cold.
      const trainer = await startTrainer({ adapterCache: smoke });
      const perPersona: Record<string, Record<string, number>> = {};
      const notes: string[] = [];
      const styles: PersonaStyle[] = [];
      try {
        for (const slug of slugs) {
          const r = await onePersona(slug, { smoke, log, ollama, trainer, probeSet });
          perPersona[slug] = r.metrics;
          notes.push(r.note);
          styles.push(r.style);
        }
      } finally {
        await trainer.stop();
      }
      // Separability needs two personas or more (not at the smoke size).
      // (Each persona ran in its own database, so the evaluation service saw one persona; here they are fitted together.)
      if (styles.length > 1) {
        const separability = fitSeparability(styles.map((p) => ({ persona: p.slug, card: p.card, replies: p.train })));
        for (const p of styles) {
          const of = (replies: string[]) => separability(p.slug, replies)?.accuracy ?? NaN;
          perPersona[p.slug]!.separability_adapter = round(of(p.adapter));
          perPersona[p.slug]!.separability_prompt_only = round(of(p.promptOnly));
        }
        notes.push(`Separability: a nearest-centroid classifier over word and character 3-gram tf-idf, declared markers and names stripped, trained on each persona's dataset replies; chance = ${round(1 / styles.length)}.`);
      }
      const metrics: Record<string, number> = {};
      for (const name of PER_PERSONA) {
        const values = slugs.map((s) => perPersona[s]![name]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
        if (values.length > 0) metrics[name] = LOWER_IS_WORSE.has(name) ? Math.min(...values) : Math.max(...values);
        for (const s of slugs) if (typeof perPersona[s]![name] === 'number') metrics[`${name}_${s}`] = perPersona[s]![name]!;
      }
      return {
        samples: slugs.length,
        metrics,
        notes:
          `Unsuffixed metrics are the worst persona's (rates: lowest where higher is better, highest where lower is better; times: the longest); ` +
          `*_<slug> per persona. Each persona: card only, default settings (DATASET_TEACHER_*, FINETUNE_PRESET), FINETUNE_GATE=eval, a fresh ` +
          `generation cache and database, the real trainer on this CPU, SmolLM2-135M in Ollama. ` +
          (probeSet === 'eval'
            ? `Probes: the card's ## Eval prompts plus the generic set, ${smoke ? 1 : 2} sample(s) each, the same seeds for both models; lore facts from bench/fixtures/lore-facts.json. `
            : `Probes: the development set (DEVELOPMENT_PROBES, bot/personas/probes.ts), ${smoke ? 1 : 2} sample(s) each, the same seeds for both models; no lore facts. The job's own gate still evaluates on the card's probes. `) +
          `perplexity_ratio = the trained version's perplexity on the persona's frozen evaluation set over the base model's (the trainer's; *_no_ending without the declared ending's tokens). ` +
          `generation_speedup = tokens/s of the same teacher requests at DATASET_TEACHER_CONCURRENCY streams over one stream, before the job (the model server decodes OLLAMA_NUM_PARALLEL requests together). ` +
          `chat_ttft_*: a member's chat request (interactive priority, the card's system prompt) idle before the job (median of 3) and every 15 s while the job builds its dataset. ${notes.join(' ')}`,
      };
    },
  };
}

async function onePersona(
  slug: string,
  ctx: { smoke: boolean; log: (l: string) => void; ollama: { host: string; baseModel: string }; trainer: { url: string; token: string; output(): string }; probeSet: ProbeSet },
): Promise<{ metrics: Record<string, number>; note: string; style: PersonaStyle }> {
  const { smoke, log } = ctx;
  const bench = await benchDatabase(`quality-${slug}`);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `bench-quality-${slug}-`)); // cold: an empty generation cache
  if (smoke) {
    // The smoke size (in npm test) keeps its teacher generations, so its dataset is the same every run and the
    // trainer's adapter cache reuses its adapter (concurrent sampling on the model server is not reproducible).
    const kept = path.join(cacheRoot(), 'bench-smoke-generations', slug);
    mkdirSync(kept, { recursive: true });
    symlinkSync(kept, path.join(dataDir, 'dataset-cache'));
  }
  const personaDir = path.join(dataDir, 'personas');
  mkdirSync(personaDir);
  // Under its own slug, so the version it makes never replaces a model of the real persona in a shared Ollama.
  const benchSlug = `${slug}-quality`;
  writeFileSync(path.join(personaDir, `${benchSlug}.md`), readFileSync(`persona-data/${slug}.md`, 'utf8'));
  const app = await createApp(
    testConfig({
      DATA_DIR: dataDir,
      PERSONA_DIR: personaDir,
      OLLAMA_HOST: ctx.ollama.host,
      OLLAMA_BASE_MODEL: ctx.ollama.baseModel,
      TRAINER_URL: ctx.trainer.url,
      TRAINER_TOKEN: ctx.trainer.token,
      FINETUNE_POLL_MS: '500',
      FINETUNE_GATE: 'eval',
      // The product's defaults, except at the smoke size.
      DATASET_TEACHER_DIALOGUES: smoke ? '12' : String(testConfigDefault('DATASET_TEACHER_DIALOGUES')),
      DATASET_SYNTHETIC_PER_CHUNK: smoke ? '0' : String(testConfigDefault('DATASET_SYNTHETIC_PER_CHUNK')),
      EVAL_SAMPLES: smoke ? '1' : '2',
      ...(smoke
        ? {
            FINETUNE_HYPERPARAMETERS: JSON.stringify({ max_steps: 3, max_seq_len: 256, batch_size: 2, eval_every: 2 }),
            CHAT_MAX_REPLY_TOKENS: '32',
            DATASET_TEACHER_BEST_OF: '1',
            DATASET_TEACHER_MAX_TOKENS: '32',
          }
        : {}),
    }),
    { database: bench.database, keys: testKeys() },
  );
  try {
    const card = app.personas.get(benchSlug);
    log(`${slug}: generation throughput, one stream vs ${app.config.dataset.teacherConcurrency}`);
    const speedup = await generationSpeedup(app, card, smoke);
    const idle: number[] = [];
    for (let i = 0; i < 3; i++) idle.push(await chatTtft(app, card, i));
    const idleTtft = median(idle);
    log(`${slug}: /finetune start (card only, default settings)`);
    const t0 = performance.now();
    const started = await app.finetune.start({ card, options: {}, guildId: null, channelId: 'bench' });
    const buildTtft = await ttftWhileBuilding(app, started.id);
    await app.finetune.idle();
    const jobWall = (performance.now() - t0) / 1000;
    const [job] = await app.database.db.select().from(finetuneJobs).where(eq(finetuneJobs.id, started.id));
    if (job?.status !== 'succeeded') throw new Error(`${slug}: the job ended ${job?.status}: ${job?.error}\n${ctx.trainer.output().slice(-2000)}`);
    const [version] = await app.database.db.select().from(personaVersions).where(eq(personaVersions.finetuneJobId, job.id));
    if (!version) throw new Error(`${slug}: the job recorded no version`);
    const [dataset] = await app.database.db.select({ stats: datasetVersions.stats }).from(datasetVersions).where(eq(datasetVersions.id, job.datasetVersionId!));
    const stats = dataset!.stats as { lines: number; teacher?: TeacherStats };

    log(`${slug}: evaluating prompt-only and v${version.version} on the ${ctx.probeSet === 'eval' ? 'eval probes, with lore facts' : 'development probes'}`);
    const on = ctx.probeSet === 'eval' ? { facts: FACTS[slug] } : { probes: DEVELOPMENT_PROBES };
    const promptOnlyEval = await app.evaluation.evaluate(card, { version: PROMPT_ONLY, model: card.model.base ?? app.config.inference.baseModel }, on);
    const adapterEval = await app.evaluation.evaluate(card, { version: version.version, model: version.servedModel }, { ...on, shape: 'few-shot' });
    const trainedShape = smoke ? undefined : (await app.evaluation.evaluate(card, { version: version.version, model: version.servedModel }, { ...on, shape: 'trained' })).metrics;
    const promptOnly = promptOnlyEval.metrics;
    const adapter = adapterEval.metrics;
    const [reference] = await app.dataset.styleReferences([card]); // the job's dataset: the persona's latest
    const gateEval = version.metrics?.evaluation;
    const phases = job.progress?.phases ?? {};
    const multi = stats.teacher ? stats.teacher.multiTurn / Math.max(1, stats.lines) : 0;
    const metrics: Record<string, number> = {
      markers_all_prompt_only: rate(promptOnly.markers_all),
      markers_all_adapter: rate(adapter.markers_all),
      markers_all_gain: rate(adapter.markers_all) - rate(promptOnly.markers_all),
      forbid_rate_prompt_only: promptOnly.forbid_rate,
      forbid_rate_adapter: adapter.forbid_rate,
      breaks_adapter: adapter.breaks_rate,
      distinct2_ratio: adapter.distinct2 / Math.max(1e-9, promptOnly.distinct2),
      near_duplicate_rate_adapter: adapter.near_duplicate_rate,
      dataset_lines: stats.lines,
      dataset_multi_turn_share: round(multi),
      teacher_acceptance_rate: stats.teacher?.acceptanceRate ?? 0,
      teacher_tokens_per_s: stats.teacher?.tokensPerS ?? 0,
      generation_speedup: speedup,
      chat_ttft_idle_ms: idleTtft,
      ...(buildTtft.length ? { chat_ttft_during_build_p50_ms: median(buildTtft), chat_ttft_during_build_max_ms: Math.max(...buildTtft) } : {}),
      job_wall_s: round(jobWall),
      dataset_s: phases.dataset_s ?? 0,
      trainer_s: phases.trainer_s ?? 0,
      evaluation_s: phases.evaluation_s ?? 0,
    };
    if (card.markers.ends_with) metrics.ends_with_adapter = rate(adapter.ends_with);
    if (trainedShape) {
      metrics.markers_all_adapter_trained_prompt = rate(trainedShape.markers_all);
      if (card.markers.ends_with) metrics.ends_with_adapter_trained_prompt = rate(trainedShape.ends_with);
      metrics.breaks_adapter_trained_prompt = trainedShape.breaks_rate;
      metrics.distinct2_ratio_trained_prompt = trainedShape.distinct2 / Math.max(1e-9, promptOnly.distinct2);
      if (trainedShape.lore_facts !== null) metrics.lore_facts_adapter_trained_prompt = trainedShape.lore_facts;
    }
    const vm = (version.metrics ?? {}) as Record<string, unknown>;
    const ratio = (a: unknown, b: unknown) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? a / b : undefined);
    const ppl = ratio(vm.frozen_perplexity, vm.frozen_perplexity_base);
    const pplNoEnding = ratio(vm.frozen_perplexity_no_ending, vm.frozen_perplexity_base_no_ending);
    if (ppl !== undefined) metrics.perplexity_ratio = ppl;
    if (pplNoEnding !== undefined) metrics.perplexity_ratio_no_ending = pplNoEnding;
    if (promptOnly.lore_facts !== null) metrics.lore_facts_prompt_only = promptOnly.lore_facts;
    if (adapter.lore_facts !== null) metrics.lore_facts_adapter = adapter.lore_facts;
    const loreRatio = ratio(adapter.lore_facts, promptOnly.lore_facts);
    if (loreRatio !== undefined) metrics.lore_facts_ratio = loreRatio;
    for (const [k, v] of Object.entries(metrics)) metrics[k] = round(v);
    return {
      metrics,
      style: { slug, card, train: reference?.replies ?? [], promptOnly: promptOnlyEval.replies.map((r) => r.text), adapter: adapterEval.replies.map((r) => r.text) },
      note: `${slug}: ${stats.lines} lines, v${version.version} ${job.progress?.activated ? 'activated' : 'held back'} by the gate (${isEvaluation(gateEval) ? 'evaluated' : 'not evaluated'}: ${job.progress?.gate ?? ''}).`,
    };
  } finally {
    for (const v of await app.versions.list(benchSlug)) await app.models.remove(v.servedModel).catch(() => undefined);
    await app.close();
    await bench.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Tokens/s of the same batch requests at the teacher's concurrency over one stream (each run on its own seeds, so no reply is a cache hit). */
async function generationSpeedup(app: App, card: PersonaCard, smoke: boolean): Promise<number> {
  const streams = app.config.dataset.teacherConcurrency;
  const n = smoke ? 2 * streams : 4 * streams;
  const maxTokens = smoke ? 16 : app.config.dataset.teacherMaxTokens;
  const system = systemPrompt(card, 'friend');
  const run = async (concurrency: number, seedBase: number) => {
    let next = 0;
    let tokens = 0;
    const t = performance.now();
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const r = await app.models.chat({ model: app.config.inference.baseModel, priority: 'batch', messages: [{ role: 'system', content: system }, { role: 'user', content: EVERYDAY_QUESTIONS[i % EVERYDAY_QUESTIONS.length]! }], sampling: { maxTokens, temperature: 0.8, seed: seedBase + i } });
        tokens += r.stats.completionTokens;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return tokens / ((performance.now() - t) / 1000);
  };
  await run(1, 900); // loads the model, so neither timed run pays for it
  const one = await run(1, 1000);
  const many = await run(streams, 2000);
  return many / one;
}

/** Time to a member's first token: the chat path's priority, a short reply. */
async function chatTtft(app: App, card: PersonaCard, i: number): Promise<number> {
  const r = await app.models.chat({ model: app.config.inference.baseModel, priority: 'interactive', messages: [{ role: 'system', content: systemPrompt(card, 'friend') }, { role: 'user', content: EVERYDAY_QUESTIONS[(i * 7) % EVERYDAY_QUESTIONS.length]! }], sampling: { maxTokens: 8, seed: 7000 + i } });
  return r.stats.ttftMs + r.stats.queuedMs;
}

/** A chat request every 15 s while the job is still building its dataset. */
async function ttftWhileBuilding(app: App, jobId: string): Promise<number[]> {
  const card = app.personas.list()[0]!;
  const out: number[] = [];
  for (let i = 0; ; i++) {
    await new Promise((r) => setTimeout(r, i === 0 ? 5_000 : 15_000));
    const [job] = await app.database.db.select({ status: finetuneJobs.status, progress: finetuneJobs.progress }).from(finetuneJobs).where(eq(finetuneJobs.id, jobId));
    if (!job || job.progress?.phases?.dataset_s !== undefined || ['succeeded', 'failed', 'cancelled'].includes(job.status)) return out;
    out.push(await chatTtft(app, card, i));
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
}

/** What separability is measured on: a persona's training replies and both models' eval replies. */
interface PersonaStyle {
  slug: string;
  card: PersonaCard;
  train: readonly string[];
  promptOnly: string[];
  adapter: string[];
}

/** A setting's default as the bot uses it (testConfig turns teacher dialogues off). */
function testConfigDefault(key: 'DATASET_TEACHER_DIALOGUES' | 'DATASET_SYNTHETIC_PER_CHUNK'): number {
  const c = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' });
  return key === 'DATASET_TEACHER_DIALOGUES' ? c.dataset.teacherDialogues : c.dataset.syntheticPerChunk;
}

function rate(x: number | null): number {
  return x ?? NaN;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}


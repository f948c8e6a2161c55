import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../bot/config.js';
import { adapterArtifacts } from '../../bot/inference/ollama.js';
import { gateDecision } from '../../bot/services/finetune/gate.js';
import type { JobRow } from '../../bot/services/finetune/jobs.js';
import { loadHyperparameterDefaults } from '../../bot/services/finetune/presets.js';
import { describeJob } from '../../bot/services/finetune/status.js';
import { TrainerClient, TrainerRejectedError, TrainerUnavailableError } from '../../bot/trainer/client.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { testConfig } from '../support/db.js';
import { freePort } from '../support/pg-cluster.js';

describe('fine-tuning configuration', () => {
  it('names what is wrong: a trainer URL without its token, hyperparameters that are not a JSON object', () => {
    expect(() => testConfig({ TRAINER_URL: 'http://127.0.0.1:8000' })).toThrow(/TRAINER_TOKEN: required when TRAINER_URL is set/);
    expect(() => testConfig({ FINETUNE_HYPERPARAMETERS: '{"max_steps": 5' })).toThrow(/FINETUNE_HYPERPARAMETERS: expected a JSON object/);
    expect(() => testConfig({ FINETUNE_HYPERPARAMETERS: '[1,2]' })).toThrow(/FINETUNE_HYPERPARAMETERS: expected a JSON object/);
    expect(() => testConfig({ FINETUNE_GATE: 'sometimes' })).toThrow(/FINETUNE_GATE: expected eval, eval-loss or always/);
    expect(() => testConfig({ TRAINER_URL: 'http://127.0.0.1:8000', TRAINER_TOKEN: 'short' })).toThrow(/TRAINER_TOKEN: expected the trainer bearer token/);
    const ok = testConfig({ TRAINER_URL: 'http://127.0.0.1:8000/', TRAINER_TOKEN: 'x'.repeat(32), FINETUNE_HYPERPARAMETERS: '{"max_steps": 5}' });
    expect(ok.trainer).toEqual({ url: 'http://127.0.0.1:8000', token: 'x'.repeat(32), maxBodyBytes: 256 * 1024 * 1024 });
    expect(testConfig({ TRAINER_URL: 'http://127.0.0.1:8000', TRAINER_TOKEN: 'x'.repeat(32), TRAINER_MAX_BODY_MB: '64' }).trainer?.maxBodyBytes).toBe(64 * 1024 * 1024);
    expect(() => testConfig({ TRAINER_MAX_BODY_MB: '0' })).toThrow(/TRAINER_MAX_BODY_MB: /);
    expect(() => testConfig({ HEALTH_HOST: 'everywhere' })).toThrow(/HEALTH_HOST: expected an IP address to listen on/);
    expect(ok.finetune.hyperparameters).toEqual({ max_steps: 5 });
  });

  it('checks the preset and the overrides against the trainer contract', () => {
    expect(loadHyperparameterDefaults('cpu-small', { max_steps: 5 })).toMatchObject({ rank: 8, max_seq_len: 256, max_steps: 5 });
    expect(() => loadHyperparameterDefaults('no-such-preset', {})).toThrow(ConfigError);
    expect(() => loadHyperparameterDefaults('no-such-preset', {})).toThrow(/FINETUNE_PRESET: no readable preset "no-such-preset"/);
    expect(() => loadHyperparameterDefaults('default', { rank: 0 })).toThrow(/FINETUNE_HYPERPARAMETERS: rank:/);
    expect(() => loadHyperparameterDefaults('default', { warp_speed: 9 })).toThrow(/FINETUNE_HYPERPARAMETERS/);
  });
});

describe('the activation gate', () => {
  const active = (loss: number | undefined) => ({ version: 1, metrics: loss === undefined ? {} : { best_eval_loss: loss } });
  it('activates the first version, a version not worse than the active one, and everything with "always"', () => {
    expect(gateDecision('eval-loss', 1.2, undefined)).toMatchObject({ activate: true, reason: 'the first trained version' });
    expect(gateDecision('eval-loss', 1.0, active(1.1))).toMatchObject({ activate: true });
    expect(gateDecision('eval-loss', 1.1, active(1.1))).toMatchObject({ activate: true });
    expect(gateDecision('eval-loss', 2.0, active(undefined))).toMatchObject({ activate: true });
    expect(gateDecision('always', 9.0, active(1.0))).toMatchObject({ activate: true });
  });
  it('holds back a worse version, and one with no eval loss to compare', () => {
    expect(gateDecision('eval-loss', 1.5, active(1.1))).toEqual({ activate: false, reason: "eval loss 1.500 is worse than active v1's 1.100" });
    expect(gateDecision('eval-loss', undefined, active(1.1))).toMatchObject({ activate: false });
  });
});

describe('the adapter an Ollama model is made from', () => {
  it('prefers adapter.gguf, falls back to the PEFT safetensors with their config, and needs one of them', () => {
    expect(adapterArtifacts(['adapter_config.json', 'adapter_model.safetensors', 'adapter.gguf', 'metrics.json'])).toEqual(['adapter.gguf']);
    expect(adapterArtifacts(['adapter_config.json', 'adapter_model.safetensors', 'metrics.json'])).toEqual(['adapter_model.safetensors', 'adapter_config.json']);
    expect(adapterArtifacts(['adapter_model.safetensors', 'metrics.json'])).toBeNull();
    expect(adapterArtifacts(['metrics.json'])).toBeNull();
  });
});

describe('the status message', () => {
  const job = (over: Partial<JobRow>): JobRow =>
    ({
      id: '3f9c2a1b-0000-4000-8000-000000000000',
      personaSlug: 'glordon',
      status: 'running',
      progress: {},
      error: null,
      datasetVersionId: 7,
      ...over,
    }) as JobRow;
  it('shows a progress bar, step/total, losses, speed and ETA while running', () => {
    const text = describeJob(job({ progress: { step: 8, totalSteps: 20, loss: 1.4821, evalLoss: 1.9113, tokensPerS: 118.4, etaS: 72, datasetLines: { train: 41, eval: 5 } } }), 'Glordon');
    expect(text).toBe(
      [
        '🏋️ **Fine-tuning Glordon** · job `3f9c2a1b` · running',
        '`[████████░░░░░░░░░░░░]` 40% · step 8/20',
        'loss 1.482 · eval loss 1.911 · 118 tok/s · ETA 1m 12s',
        'Dataset: 41 train / 5 eval lines (version 7)',
      ].join('\n'),
    );
  });
  it('says what became of the version, or why the job failed', () => {
    expect(describeJob(job({ status: 'succeeded', progress: { model: 'persona-glordon:v2', version: 2, activated: true, gate: 'the first trained version' } }), 'Glordon')).toContain(
      'Glordon now answers through **persona-glordon:v2** (the first trained version).',
    );
    expect(describeJob(job({ status: 'succeeded', progress: { model: 'persona-glordon:v2', version: 2, activated: false, gate: 'eval loss 2.000 is worse' } }), 'Glordon')).toContain(
      '`/persona rollback name:Glordon version:2` activates it',
    );
    expect(describeJob(job({ status: 'failed', error: 'the dataset could not be built: empty' }), 'Glordon')).toContain('Reason: the dataset could not be built: empty');
  });
});

describe('the trainer client', () => {
  let server: Server;
  let url: string;
  let posts = 0;
  beforeAll(async () => {
    // A trainer that drifted from the contract, refuses a body, or fails: what the bot must report clearly.
    server = createServer((req, res) => {
      posts += req.method === 'POST' ? 1 : 0;
      res.setHeader('content-type', 'application/json');
      if (req.url === '/v1/jobs/drifted') return void res.end(JSON.stringify({ id: 5, status: 'sleeping' }));
      if (req.url === '/v1/jobs' && req.method === 'POST') {
        res.statusCode = 422;
        return void res.end(JSON.stringify({ error: 'base_model: unknown base model "nope"', detail: [] }));
      }
      res.statusCode = 500;
      res.end('{"detail":"boom"}');
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    url = `http://127.0.0.1:${port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reports an answer that does not match the contract, a refusal with the trainer’s reason, and a trainer that is down', async () => {
    const client = new TrainerClient(url, 'x'.repeat(32));
    await expect(client.job('drifted')).rejects.toThrow(/does not match the contract: /);
    const line = { id: 'a', persona: 'glordon', source: 'card', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello there' }] };
    const refused = client.submit({ persona: 'glordon', base_model: 'nope', hyperparameters: {}, dataset: { train: [line], eval: [] } }, 'key-1');
    await expect(refused).rejects.toBeInstanceOf(TrainerRejectedError);
    await expect(refused).rejects.toThrow('base_model: unknown base model "nope"');
    await expect(client.events('x', 0)).rejects.toBeInstanceOf(TrainerUnavailableError);
    await expect(client.submit({ persona: 'Bad Slug!', base_model: 'x', hyperparameters: {}, dataset: { train: [], eval: [] } }, 'key-2')).rejects.toThrow(
      /does not match the trainer contract: persona/,
    );
    const down = new TrainerClient(`http://127.0.0.1:${await freePort()}`, 'x'.repeat(32));
    await expect(down.health()).rejects.toThrow(/The trainer at http:\/\/127\.0\.0\.1:\d+ is not answering/);
  });

  it('refuses to send a job over the trainer’s body limit, and says how big it is and what to change', async () => {
    const client = new TrainerClient(url, 'x'.repeat(32), { maxBodyBytes: 500 });
    const line = (i: number) => ({ id: `l${i}`, persona: 'glordon', source: 'card', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: `hello there ${i}` }] });
    const before = posts;
    const big = client.submit({ persona: 'glordon', base_model: 'smollm2-135m', hyperparameters: {}, dataset: { train: [1, 2, 3, 4, 5, 6].map(line), eval: [line(7)] } }, 'key-3');
    await expect(big).rejects.toBeInstanceOf(TrainerRejectedError);
    await expect(big).rejects.toThrow(/^The job is \d+ bytes to send \(6 train \+ 1 eval lines\), over the trainer's limit of 500 bytes \(TRAINER_MAX_BODY_MB on the bot and the trainer\)/);
    expect(posts).toBe(before); // nothing was sent
  });
});

describe('/finetune without a trainer', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite');
  });
  afterAll(async () => t?.destroy());

  it('says how to set it up, and writes nothing', async () => {
    const card = t.app.personas.get('glordon');
    await expect(t.app.finetune.start({ card, options: {}, guildId: null, channelId: 'c' })).rejects.toThrow(/Fine-tuning is not set up on this bot: an admin sets TRAINER_URL and TRAINER_TOKEN/);
    expect(await t.app.finetune.list(null)).toEqual([]);
  });
});

describe('/finetune start against a trainer that refuses every job', () => {
  let t: TestApp;
  let server: Server;
  beforeAll(async () => {
    // Healthy, but every job is refused as the real trainer refuses an unknown base model (422).
    server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/healthz') return void res.end(JSON.stringify({ status: 'ok', device: 'cpu', gpu: null, version: '0.1.0' }));
      res.statusCode = 422;
      res.end(JSON.stringify({ error: 'base_model: no such model on this trainer', detail: [] }));
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    t = await createTestApp('pglite', { env: { TRAINER_URL: `http://127.0.0.1:${port}`, TRAINER_TOKEN: 'x'.repeat(32), DATASET_SYNTHETIC_PER_CHUNK: '0', FINETUNE_POLL_MS: '100' } });
  });
  afterAll(async () => {
    await t?.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('starts one job for a double click, and the refused job ends failed with the trainer’s reason', async () => {
    const card = t.app.personas.get('glordon');
    const start = () => t.app.finetune.start({ card, options: { epochs: 2 }, guildId: null, channelId: 'c' });
    const results = await Promise.allSettled([start(), start()]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(String(refused.reason)).toMatch(/A training job for Glordon is already (pending|queued|running)/);
    await t.app.finetune.idle();
    const [job] = await t.app.finetune.list(null);
    expect(job).toMatchObject({ status: 'failed', hyperparameters: expect.objectContaining({ epochs: 2 }) });
    expect(job!.error).toContain('base_model: no such model on this trainer');
    expect(t.app.finetune.describe(job!)).toContain('Reason: The trainer refused POST /v1/jobs (422)');
    // A bad option is refused before anything is written.
    await expect(t.app.finetune.start({ card, options: { rank: 100_000 }, guildId: null, channelId: 'c' })).rejects.toThrow(/^rank: /);
    await expect(t.app.finetune.start({ card, options: { base_model: 'no such model!' }, guildId: null, channelId: 'c' })).rejects.toThrow(/base_model: expected a model name/);
    expect(await t.app.finetune.list(null)).toHaveLength(1);
  });
});

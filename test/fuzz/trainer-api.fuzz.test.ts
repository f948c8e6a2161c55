import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainerValidator } from '../../bot/trainer/contract.js';
import { TrainerClient, TrainerRejectedError, TrainerUnavailableError } from '../../bot/trainer/client.js';
import { startTrainer, type TrainerProcess } from '../support/trainer-process.js';
import { fuzzParams, type Json, mutatedJson, mutatedText } from './mutate.js';

/**
 * Bad input on both sides of the trainer HTTP contract. Job requests, mutated from valid seeds, go
 * to one real trainer process (FastAPI and pydantic, started once): each is taken (201) or refused
 * with a 4xx whose JSON detail names the field, the trainer stays up, and a refused request leaves
 * nothing in its job store. Answers, mutated from valid ones, come back to the bot's TrainerClient
 * from a stand-in trainer: each is read as the contract says or refused naming the route, never
 * a raw SyntaxError or TypeError.
 */

const line = (id: string, persona: string, ...turns: [string, string][]): Json => ({ id, persona, source: 'card', messages: turns.map(([role, content]) => ({ role, content })) });
const glordon = line('l1', 'glordon', ['system', 'You are Glordon.'], ['user', 'What do you eat?'], ['assistant', 'Starlight and radishes! Bloop!']);
const glordon2 = line('l2', 'glordon', ['user', 'And then?'], ['assistant', 'A nap. Bloop!'], ['user', 'Where?'], ['assistant', 'In a moon crater.']);
const corran = line('c1', 'corran-vask', ['user', 'Report.'], ['assistant', 'Perimeter holds.']);

describe('job requests to a real trainer process', () => {
  let trainer: TrainerProcess;
  let modelDir: string;
  beforeAll(async () => {
    trainer = await startTrainer();
    // A base model by path, which the trainer takes at submit time and fails to load at once: an accepted job never trains.
    modelDir = mkdtempSync(path.join(os.tmpdir(), 'fuzz-trainer-model-'));
    writeFileSync(path.join(modelDir, 'fake.gguf'), 'not a gguf file');
  }, 180_000);
  afterAll(async () => {
    await trainer?.stop();
    if (modelDir) rmSync(modelDir, { recursive: true, force: true });
  });

  const post = async (body: string) => {
    const res = await fetch(`${trainer.url}/v1/jobs`, { method: 'POST', headers: { authorization: `Bearer ${trainer.token}`, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(20_000) });
    return { status: res.status, text: await res.text() };
  };
  const call = (method: string, route: string) => fetch(`${trainer.url}${route}`, { method, headers: { authorization: `Bearer ${trainer.token}` }, signal: AbortSignal.timeout(60_000) });

  it('takes each valid seed, and takes or refuses 1,000 mutated ones with a 422 naming the field; nothing of a refused one is kept', async () => {
    const base_model = path.join(modelDir, 'fake.gguf');
    const seeds: Json[] = [
      { persona: 'glordon', base_model, hyperparameters: { epochs: 2, learning_rate: 2e-4, rank: 16 }, dataset: { train: [glordon, glordon2], eval: [glordon] } },
      { persona: 'corran-vask', base_model, hyperparameters: {}, dataset: { train: [corran], eval: [], frozen: [corran], frozen_ending: 'Out.' } },
    ];
    const request = trainerValidator('JobRequest');
    const accepted: string[] = [];
    const drift: string[] = [];
    for (const s of seeds) {
      const r = await post(JSON.stringify(s));
      expect(r.status, r.text).toBe(201);
      accepted.push((JSON.parse(r.text) as { id: string }).id);
    }
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: mutatedJson(seeds).map((m) => JSON.stringify(m.value)) }, { weight: 1, arbitrary: mutatedText([JSON.stringify(seeds[0])]).map((m) => m.text) }), async (body) => {
        const before = readdirSync(trainer.jobsDir).length;
        const r = await post(body);
        const shown = `${body.slice(0, 300)} → ${r.status} ${r.text.slice(0, 300)}`;
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          parsed = undefined;
        }
        const botSays = parsed !== undefined && request.safeParse(parsed).success;
        if (r.status === 201) {
          accepted.push((JSON.parse(r.text) as { id: string }).id);
          if (!botSays && parsed !== undefined) drift.push(`the trainer took what the bot's contract refuses: ${shown}`);
          return;
        }
        expect(r.status, shown).toBe(422);
        const answer = JSON.parse(r.text) as { error: string; detail: { field: string; msg: string; loc: unknown[] }[] };
        expect(answer.detail.length, shown).toBeGreaterThan(0);
        for (const d of answer.detail) {
          expect(d.field.length, shown).toBeGreaterThan(0);
          expect(d.msg.length, shown).toBeGreaterThan(0);
        }
        expect(answer.error.startsWith(`${answer.detail[0]!.field}: `), shown).toBe(true);
        expect(readdirSync(trainer.jobsDir).length, `nothing kept of a refused request: ${shown}`).toBe(before);
        if (botSays && !(answer.detail.length === 1 && answer.detail[0]!.field === 'base_model')) drift.push(`the trainer refused what the bot's contract takes: ${shown}`);
      }),
      fuzzParams(1000),
    );
    // The process stayed up, and every accepted job can be cancelled and removed: its folder goes, nothing is left behind.
    expect((await call('GET', '/healthz')).status).toBe(200);
    for (const id of accepted) {
      await call('POST', `/v1/jobs/${id}/cancel`);
      expect((await call('DELETE', `/v1/jobs/${id}`)).status).toBe(204);
    }
    expect(readdirSync(trainer.jobsDir, { recursive: true })).toEqual([]);
    expect(drift).toEqual([]);
  }, 300_000);
});

describe('trainer answers to the bot’s TrainerClient', () => {
  let server: Server;
  let answer: { status: number; body: string } = { status: 200, body: '{}' };
  let client: TrainerClient;
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(answer.status === 204 ? undefined : answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new TrainerClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'token', { timeoutMs: 5000 });
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const job: Json = {
    id: 'abc123', persona: 'glordon', base_model: 'smollm2-135m', status: 'running', progress: { step: 3, total_steps: 20, fraction: 0.15, eta_s: 40 },
    metrics: { loss: 1.7, eval_loss: 1.5 }, error: null, artifacts: [], created_at: '2026-11-24T22:00:00.000Z', updated_at: '2026-11-24T22:00:05.000Z',
  };
  const events: Json = { events: [{ seq: 1, time: '2026-11-24T22:00:00Z', type: 'status', status: 'queued', message: 'job queued' }, { seq: 2, time: '2026-11-24T22:00:05Z', type: 'step', step: 3, total_steps: 20, loss: 1.7, learning_rate: 2e-4, tokens_per_s: 110, eta_s: 40 }] };
  const routes = [
    { route: 'GET /healthz', seed: { status: 'ok', device: 'cpu', gpu: null, version: '0.1.0' } as Json, call: () => client.health() },
    { route: 'POST /v1/jobs', seed: { id: 'abc123', status: 'queued' } as Json, call: () => client.submit({ persona: 'glordon', base_model: 'smollm2-135m', hyperparameters: {}, dataset: { train: [glordon], eval: [] } }, 'key-1') },
    { route: 'GET /v1/jobs/{id}', seed: job, call: () => client.job('abc123') },
    { route: 'GET /v1/jobs/{id}/events', seed: events, call: () => client.events('abc123', 0) },
    { route: 'POST /v1/jobs/{id}/cancel', seed: { id: 'abc123', status: 'cancelled' } as Json, call: () => client.cancel('abc123') },
  ];

  it('reads each valid answer, and reads or refuses 1,000 mutated ones naming the route, never a raw parse or type error', async () => {
    for (const r of routes) {
      answer = { status: r.route === 'POST /v1/jobs' ? 201 : 200, body: JSON.stringify(r.seed) };
      await expect(r.call(), r.route).resolves.toBeDefined();
    }
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: routes.length - 1 }).chain((i) =>
          fc.tuple(
            fc.constant(i),
            fc.oneof(
              { weight: 3, arbitrary: mutatedJson([routes[i]!.seed]).map((m) => JSON.stringify(m.value)) },
              { weight: 1, arbitrary: mutatedText([JSON.stringify(routes[i]!.seed), '<html>Bad Gateway</html>']).map((m) => m.text) },
            ),
          ),
        ),
        fc.constantFrom(200, 200, 200, 201, 202, 204, 400, 401, 404, 409, 413, 422, 500, 502),
        async ([i, body], status) => {
          const r = routes[i]!;
          answer = { status, body };
          try {
            await r.call();
          } catch (err) {
            const e = err as Error;
            const shown = `${r.route} answered ${status} ${body.slice(0, 200)}: ${String(e.stack)}`;
            if (e instanceof TrainerRejectedError || e instanceof TrainerUnavailableError) {
              expect(e.message, shown).toMatch(/trainer/i);
              return;
            }
            // A contract mismatch: a plain Error that names the route it came from.
            expect(e.constructor, shown).toBe(Error);
            expect(e.message, shown).toContain(r.route);
          }
        },
      ),
      fuzzParams(1000),
    );
  }, 120_000);
});

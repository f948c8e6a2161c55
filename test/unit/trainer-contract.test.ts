import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { TrainerClient } from '../../bot/trainer/client.js';
import { trainerValidator } from '../../bot/trainer/contract.js';

// The bot side of the trainer contract: the same JSON Schema the trainer's pydantic models are
// tested against (trainer/tests/test_schema.py), here through zod.
const line = (messages: { role: string; content: string }[]) => ({ id: 'l1', persona: 'glordon', source: 'card', messages });
const good = line([
  { role: 'system', content: 'You are Glordon.' },
  { role: 'user', content: 'What do you eat?' },
  { role: 'assistant', content: 'Starlight and radishes! Bloop!' },
]);

describe('trainer contract (zod from trainer/schema/trainer-api.schema.json)', () => {
  it('accepts a job request with dataset lines in the DESIGN shape', () => {
    const req = { persona: 'glordon', base_model: 'smollm2-135m', hyperparameters: { epochs: 2, learning_rate: 2e-4, rank: 16 }, dataset: { train: [good], eval: [good] } };
    expect(trainerValidator('JobRequest').safeParse(req).success).toBe(true);
  });

  it('carries the frozen evaluation set and the declared ending, checked like the other lines', () => {
    const validate = (dataset: unknown) => trainerValidator('JobRequest').safeParse({ persona: 'glordon', base_model: 'smollm2-135m', hyperparameters: {}, dataset });
    expect(validate({ train: [good], eval: [], frozen: [good], frozen_ending: 'Bloop!' }).success).toBe(true);
    expect(validate({ train: [good], frozen_ending: null }).success).toBe(true);
    const bad = validate({ train: [good], frozen: [line([{ role: 'user', content: 'hi' }])] });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.path.slice(0, 2)).toEqual(['dataset', 'frozen']);
    expect(validate({ train: [good], frozen_ending: 'x'.repeat(201) }).success).toBe(false);
  });

  it('rejects what the trainer rejects, naming where', () => {
    const validate = (body: unknown) => trainerValidator('JobRequest').safeParse(body);
    const noTrain = validate({ persona: 'glordon', base_model: 'smollm2-135m', hyperparameters: {}, dataset: { train: [], eval: [] } });
    expect(noTrain.success).toBe(false);
    expect(noTrain.error!.issues[0]!.path).toEqual(['dataset', 'train']);
    expect(validate({ persona: 'glordon', base_model: 'smollm2-135m', hyperparameters: { rank: 'big' }, dataset: { train: [good], eval: [] } }).success).toBe(false);
    expect(trainerValidator('DatasetLine').safeParse(line([{ role: 'assistant', content: 'hi' }])).success).toBe(false);
    expect(trainerValidator('DatasetLine').safeParse({ ...good, source: 'scraped' }).success).toBe(false);
  });

  it('accepts the event shapes the trainer streams', () => {
    const event = trainerValidator('Event');
    expect(event.safeParse({ seq: 3, time: '2026-11-24T22:00:00Z', type: 'step', step: 3, total_steps: 20, loss: 1.7, learning_rate: 2e-4, tokens_per_s: 110, eta_s: 40 }).success).toBe(true);
    expect(event.safeParse({ seq: 4, time: '2026-11-24T22:00:05Z', type: 'eval', step: 4, eval_loss: 1.5 }).success).toBe(true);
    expect(event.safeParse({ seq: 5, time: '2026-11-24T22:00:05Z', type: 'progress' }).success).toBe(false);
  });
});

describe('TrainerClient with an answer that is not JSON (found by the fuzz suite)', () => {
  it('says which route answered what, instead of a raw SyntaxError from res.json()', async () => {
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end(req.url === '/healthz' ? '' : '<html>Bad Gateway</html>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const client = new TrainerClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'token');
      await expect(client.job('abc')).rejects.toThrow(/^the trainer's answer to GET \/v1\/jobs\/\{id\} is not JSON: "<html>Bad Gateway<\/html>"$/);
      await expect(client.health()).rejects.toThrow("the trainer's answer to GET /healthz is not JSON");
      await expect(client.health()).rejects.not.toBeInstanceOf(SyntaxError);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

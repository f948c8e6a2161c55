import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../bot/config.js';
import { KeyRing } from '../../bot/crypto/keyring.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it('runs on embedded defaults with an empty environment', () => {
    const c = loadConfig({});
    expect(c.database.url).toBeUndefined();
    expect(c.retention.days).toBe(30);
    expect(c.allowChatLogTraining).toBe(false);
    expect(c.writer).toEqual({ batchSize: 500, flushMs: 50, capacity: 20_000, closeTimeoutMs: 10_000, ackMs: 5000 });
  });

  it('names each bad variable and the form it expects, without echoing the value', () => {
    const secretLooking = 'not-a-key-but-maybe-a-secret';
    const p = problems({ RETENTION_DAYS: 'soon', MESSAGE_KEY: secretLooking, DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', ALLOW_CHAT_LOG_TRAINING: 'maybe' });
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^RETENTION_DAYS: expected a whole number from 1 to 3650/),
        expect.stringMatching(/^MESSAGE_KEY: MESSAGE_KEY must be 32 random bytes in base64/),
        expect.stringMatching(/^DATABASE_URL: expected a postgres:\/\//),
        expect.stringMatching(/^LOG_LEVEL: expected one of/),
        expect.stringMatching(/^ALLOW_CHAT_LOG_TRAINING: expected true or false/),
      ]),
    );
    expect(p.join('\n')).not.toContain(secretLooking);
  });

  it('bounds generation concurrency one below the model server\'s parallel slots, and checks it', () => {
    const c = loadConfig({});
    expect(c.dataset.teacherConcurrency).toBe(3);
    expect(c.evaluation.concurrency).toBe(3);
    expect(loadConfig({ DATASET_TEACHER_CONCURRENCY: '1' }).dataset.teacherConcurrency).toBe(1);
    expect(problems({ DATASET_TEACHER_CONCURRENCY: '0' })).toEqual([expect.stringMatching(/^DATASET_TEACHER_CONCURRENCY: expected a whole number from 1 to 64/)]);
  });

  it('requires the keys when a real Postgres is configured', () => {
    expect(problems({ DATABASE_URL: 'postgres://u@127.0.0.1/db' })).toEqual([
      expect.stringMatching(/^MESSAGE_KEY: required when DATABASE_URL is set/),
      expect.stringMatching(/^HMAC_KEY: required when DATABASE_URL is set/),
    ]);
    expect(problems({ DATABASE_URL: 'postgres://u@127.0.0.1/db', MESSAGE_KEY: KeyRing.generateKey(), HMAC_KEY: KeyRing.generateKey() })).toEqual([]);
  });

  it('stops `npm start` with the message and a non-zero exit, not a stack trace', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bot/main.ts'], {
      env: { PATH: process.env.PATH, RETENTION_DAYS: '-3', HOME: process.env.HOME },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('RETENTION_DAYS: expected a whole number from 1 to 3650');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('model server and fine-tuning settings', () => {
  it('selects the backend (Ollama by default) and keeps the OLLAMA_* names working', () => {
    const c = loadConfig({ OLLAMA_HOST: 'http://10.0.0.5:11434/', OLLAMA_BASE_MODEL: 'qwen2.5:7b', MODEL_MAX_CONCURRENCY: '8' });
    expect(c.inference).toEqual({ backend: 'ollama', baseModel: 'qwen2.5:7b', requestTimeoutMs: 120_000, maxConcurrency: 8, ollama: { host: 'http://10.0.0.5:11434' } });
    expect(problems({ MODEL_BACKEND: 'gpt-5' })).toEqual([expect.stringMatching(/^MODEL_BACKEND: expected one of ollama/)]);
    expect(problems({ MODEL_MAX_CONCURRENCY: '0' })).toEqual([expect.stringMatching(/^MODEL_MAX_CONCURRENCY: expected a whole number from 1 to 1024/)]);
  });

  it('loads and checks the hyperparameter preset at start-up: a bad preset or override is a configuration error', () => {
    expect(loadConfig({ FINETUNE_PRESET: 'cpu-small', FINETUNE_HYPERPARAMETERS: '{"max_steps": 5}' }).finetune.defaults).toMatchObject({ rank: 8, max_steps: 5 });
    expect(problems({ FINETUNE_PRESET: 'no-such-preset' })).toEqual([expect.stringMatching(/^FINETUNE_PRESET: no readable preset "no-such-preset"/)]);
    expect(problems({ FINETUNE_HYPERPARAMETERS: '{"rank": 0}' })).toEqual([expect.stringMatching(/^FINETUNE_HYPERPARAMETERS: rank: /)]);
    expect(problems({ FINETUNE_RECONCILE_CRON: '99 * * * * *' })).toEqual([expect.stringMatching(/^FINETUNE_RECONCILE_CRON: "99 \* \* \* \* \*" is not a valid cron expression/)]);
  });
});

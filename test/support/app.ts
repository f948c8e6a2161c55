import type { App } from '../../bot/app.js';
import { createApp } from '../../bot/app.js';
import type { KeyRing } from '../../bot/crypto/keyring.js';
import type { ConsentPolicy } from '../../bot/services/consent-policy.js';
import { inject } from 'vitest';
import type { Backend } from './db.js';
import { openTestDatabase, testConfig, testKeys } from './db.js';

export interface TestApp {
  app: App;
  keys: KeyRing;
  /** Closes the app and drops its database. */
  destroy(): Promise<void>;
}

export async function createTestApp(
  backend: Backend,
  opts: { env?: Record<string, string>; policy?: ConsentPolicy; keys?: KeyRing; database?: App['database'] } = {},
): Promise<TestApp> {
  const database = opts.database ?? (await openTestDatabase(backend));
  const keys = opts.keys ?? testKeys();
  const app = await createApp(
    testConfig({ WRITER_FLUSH_MS: '5', OLLAMA_HOST: inject('ollamaHost'), OLLAMA_BASE_MODEL: inject('ollamaBaseModel'), ...opts.env }),
    { database, keys, policy: opts.policy },
  );
  return {
    app,
    keys,
    async destroy() {
      await app.close();
      await database.close();
    },
  };
}

export function policyVersion(version: number): ConsentPolicy {
  return { version, text: () => `test policy v${version}` };
}

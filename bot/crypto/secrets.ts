import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isBase64Key, KeyRing } from './keyring.js';

/** The keys the environment gives (config's `keys`), and where embedded mode keeps generated ones. */
export interface KeySettings {
  dataDir: string;
  keys: { messageKey?: string; previousMessageKeys: string[]; hmacKey?: string };
}

/**
 * Builds the key ring from the configuration. With real Postgres the keys must come from the
 * environment (config enforces it). In embedded mode, missing keys are generated once into
 * DATA_DIR/secrets.json (mode 0600), so `npm start` works with no setup.
 */
export function resolveKeyRing(config: KeySettings): KeyRing {
  let { messageKey, hmacKey } = config.keys;
  if (!messageKey || !hmacKey) {
    const file = path.join(config.dataDir, 'secrets.json');
    const stored = readSecretsFile(file);
    messageKey ??= stored.messageKey;
    hmacKey ??= stored.hmacKey;
    if (!stored.messageKey || !stored.hmacKey) {
      mkdirSync(config.dataDir, { recursive: true });
      const fresh = { messageKey: stored.messageKey ?? KeyRing.generateKey(), hmacKey: stored.hmacKey ?? KeyRing.generateKey() };
      writeFileSync(file, JSON.stringify(fresh, null, 2), { mode: 0o600 });
      chmodSync(file, 0o600);
      messageKey ??= fresh.messageKey;
      hmacKey ??= fresh.hmacKey;
    }
  }
  return new KeyRing({ messageKey: messageKey!, hmacKey: hmacKey!, previousMessageKeys: config.keys.previousMessageKeys });
}

function readSecretsFile(file: string): { messageKey?: string; hmacKey?: string } {
  if (!existsSync(file)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new Error(`${file} is not valid JSON; restore it from a backup (stored messages cannot be read without its keys)`);
  }
  const out: { messageKey?: string; hmacKey?: string } = {};
  if (parsed && typeof parsed === 'object') {
    const p = parsed as Record<string, unknown>;
    if (typeof p.messageKey === 'string') {
      if (!isBase64Key(p.messageKey)) throw new Error(`${file}: messageKey is not 32 bytes of base64`);
      out.messageKey = p.messageKey;
    }
    if (typeof p.hmacKey === 'string') {
      if (!isBase64Key(p.hmacKey)) throw new Error(`${file}: hmacKey is not 32 bytes of base64`);
      out.hmacKey = p.hmacKey;
    }
  }
  return out;
}

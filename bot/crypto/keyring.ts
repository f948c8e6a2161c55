import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';

/**
 * Encryption at rest for logged content (AES-256-GCM) and pseudonymous user ids (HMAC-SHA256).
 *
 * Ciphertext layout, so any stored blob says which key made it (keys can rotate):
 *   [1 byte format=1][8 bytes key id][12 bytes IV][16 bytes auth tag][ciphertext]
 * The key id is a fingerprint of the key, so rotating is: set the new MESSAGE_KEY and move the
 * old one to MESSAGE_KEYS_PREVIOUS; old rows stay readable.
 * An optional "context" (e.g. the row id) is bound as additional authenticated data, so a
 * ciphertext copied into another row fails to decrypt instead of showing the wrong content.
 */
const FORMAT = 1;
const KEY_ID_BYTES = 8;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KEY_ID_BYTES + IV_BYTES + TAG_BYTES;

/** 32 bytes in base64: the form of MESSAGE_KEY and HMAC_KEY. */
export function isBase64Key(value: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return false;
  return Buffer.from(value, 'base64').length === 32;
}

export class DecryptionError extends Error {
  override name = 'DecryptionError';
}

function keyIdOf(key: Buffer): Buffer {
  return createHash('sha256').update('persona-bot/key-id/v1').update(key).digest().subarray(0, KEY_ID_BYTES);
}

function decodeKey(base64: string, what: string): Buffer {
  const key = Buffer.from(base64, 'base64');
  if (key.length !== 32) throw new Error(`${what} must be 32 bytes of base64, got ${key.length} bytes`);
  return key;
}

export class KeyRing {
  private readonly current: { id: Buffer; key: Buffer };
  private readonly byId = new Map<string, Buffer>();
  private readonly hmacKey: Buffer;

  constructor(opts: { messageKey: string; previousMessageKeys?: string[]; hmacKey: string }) {
    const key = decodeKey(opts.messageKey, 'MESSAGE_KEY');
    this.current = { id: keyIdOf(key), key };
    this.byId.set(this.current.id.toString('hex'), key);
    for (const old of opts.previousMessageKeys ?? []) {
      const k = decodeKey(old, 'MESSAGE_KEYS_PREVIOUS entry');
      this.byId.set(keyIdOf(k).toString('hex'), k);
    }
    this.hmacKey = decodeKey(opts.hmacKey, 'HMAC_KEY');
  }

  static generateKey(): string {
    return randomBytes(32).toString('base64');
  }

  /** The id of the key new ciphertexts are made with (hex). */
  get currentKeyId(): string {
    return this.current.id.toString('hex');
  }

  encrypt(plaintext: string, context = ''): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    if (context) cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.of(FORMAT), this.current.id, iv, cipher.getAuthTag(), body]);
  }

  decrypt(blob: Uint8Array, context = ''): string {
    const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
    if (buf.length < HEADER_BYTES || buf[0] !== FORMAT) throw new DecryptionError('not a ciphertext of a known format');
    const keyId = buf.subarray(1, 1 + KEY_ID_BYTES).toString('hex');
    const key = this.byId.get(keyId);
    if (!key) throw new DecryptionError(`ciphertext made with key ${keyId}, which is not configured (add it to MESSAGE_KEYS_PREVIOUS)`);
    const iv = buf.subarray(1 + KEY_ID_BYTES, 1 + KEY_ID_BYTES + IV_BYTES);
    const tag = buf.subarray(1 + KEY_ID_BYTES + IV_BYTES, HEADER_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    if (context) decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(buf.subarray(HEADER_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new DecryptionError('ciphertext failed authentication (wrong key, wrong row, or tampered)');
    }
  }

  /** Key id a stored blob was made with, for rotation reports. */
  static keyIdOfBlob(blob: Uint8Array): string {
    return Buffer.from(blob).subarray(1, 1 + KEY_ID_BYTES).toString('hex');
  }

  /** A stable pseudonym for a Discord user id: counts dedupe per user, forget can still find the rows. */
  userHmac(userId: string): string {
    return createHmac('sha256', this.hmacKey).update(`user:${userId}`).digest('base64url');
  }
}

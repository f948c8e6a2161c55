import type { Cipher } from 'node:crypto';
import { createCipheriv, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const CHUNK_BYTES = 1 << 20;
const AES_BLOCK = 16;

/**
 * An append-only file of text records that a build keeps out of memory (its finished lines),
 * read back by record number. The file is unlinked as soon as it is opened, so nothing is left
 * behind even if the process dies: the kernel frees it when the descriptor closes. It is
 * encrypted (AES-256-CTR, so any record can be read alone) with a key that exists only in this
 * object, because the records hold logged message content, which is never stored in the clear.
 * Records are collected in a one-megabyte chunk and encrypted and written a chunk at a time.
 */
export class SpillFile {
  private fd: number | null;
  private readonly key = randomBytes(32);
  /** End offset of each record (a record starts where the previous one ends). */
  private readonly ends: number[] = [];
  /** Plaintext of the records after `written`, not yet in the file. */
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  private chunkUsed = 0;
  private written = 0;
  private readBuffer = Buffer.allocUnsafe(4096);

  constructor(dir = os.tmpdir()) {
    const folder = mkdtempSync(path.join(dir, 'dataset-spill-'));
    try {
      this.fd = openSync(path.join(folder, 'records'), 'w+', 0o600);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }

  get count(): number {
    return this.ends.length;
  }

  /** Appends a record; returns its number. */
  append(text: string): number {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (this.chunkUsed + bytes > this.chunk.length) {
      this.flush();
      if (bytes > this.chunk.length) this.chunk = Buffer.allocUnsafe(bytes);
    }
    this.chunkUsed += this.chunk.write(text, this.chunkUsed, 'utf8');
    return this.ends.push(this.written + this.chunkUsed) - 1;
  }

  read(n: number): string {
    const fd = this.open();
    const start = n === 0 ? 0 : this.ends[n - 1]!;
    const length = this.ends[n]! - start;
    if (start >= this.written) return this.chunk.toString('utf8', start - this.written, start - this.written + length);
    if (length > this.readBuffer.length) this.readBuffer = Buffer.allocUnsafe(length);
    const sealed = this.readBuffer.subarray(0, length);
    if (readSync(fd, sealed, 0, length, start) !== length) throw new Error(`spill file: record ${n} is truncated`);
    return this.keystreamAt(start).update(sealed).toString('utf8');
  }

  /** Frees the file (safe to call twice). */
  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
    this.chunk = Buffer.alloc(0);
  }

  private flush(): void {
    if (this.chunkUsed === 0) return;
    const sealed = this.keystreamAt(this.written).update(this.chunk.subarray(0, this.chunkUsed));
    let done = 0;
    while (done < sealed.length) done += writeSync(this.open(), sealed, done, sealed.length - done, this.written + done);
    this.written += sealed.length;
    this.chunkUsed = 0;
  }

  /** AES-CTR positioned at a byte offset of the file (encrypting and decrypting are the same). */
  private keystreamAt(offset: number): Cipher {
    const counter = Buffer.alloc(AES_BLOCK);
    counter.writeUIntBE(Math.floor(offset / AES_BLOCK), AES_BLOCK - 6, 6);
    const cipher = createCipheriv('aes-256-ctr', this.key, counter);
    if (offset % AES_BLOCK) cipher.update(Buffer.alloc(offset % AES_BLOCK));
    return cipher;
  }

  private open(): number {
    if (this.fd === null) throw new Error('spill file: used after close');
    return this.fd;
  }
}

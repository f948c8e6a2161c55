import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DatasetSourceError } from '../errors.js';

/**
 * Generated dialogues on disk, one JSON file per sha256 of what made them (card hash, prompt,
 * model, settings): generated once, then read back, so a rebuild is deterministic and cheap and
 * a generated dialogue counts as a build input. Rejections are cached too.
 */
export class GenerationCache<T> {
  constructor(
    private readonly dir: string,
    /** What the cache files hold, for messages ("synthetic dialogue"). */
    private readonly what: string,
    /** Checks a parsed file; false means it is not one of ours. */
    private readonly isValid: (v: unknown) => v is T,
  ) {}

  static key(inputs: unknown): string {
    return createHash('sha256').update(JSON.stringify(inputs)).digest('hex');
  }

  file(key: string): string {
    return path.join(this.dir, `${key}.json`);
  }

  async read(key: string): Promise<T | undefined> {
    const file = this.file(key);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new DatasetSourceError(`${this.what} cache ${file}`, (err as Error).message);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (this.isValid(value)) return value;
    throw new DatasetSourceError(`${this.what} cache ${file}`, `is not a cached ${this.what} (malformed JSON); delete the file to regenerate it`);
  }

  /** Writes through a temporary file, so a crash never leaves half a file behind. */
  async write(key: string, value: T): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = this.file(key);
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(tmp, `${JSON.stringify(value)}\n`);
    await rename(tmp, file);
  }
}

import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { KeyRing } from '../crypto/keyring.js';
import type { WriteOp } from './write-ops.js';

/** Which op a journal line holds: encrypted (user ids, and message text when the queue spills at shutdown). */
const CONTEXT = 'intent-journal';

export interface JournalEntry {
  seq: number;
  op: WriteOp;
}

/**
 * A small append-only file (DATA_DIR/intents.journal, mode 0600) of write ops accepted but not
 * yet committed that must survive a database outage and a restart: opt-outs, forgets, logging-off,
 * purges and deletes when they are accepted, and whatever is still queued when the bot stops while
 * the database is unreachable. Each record is fsynced before the caller is told it is done; the
 * writer queue marks it done once the database committed it, and the file shrinks back to nothing
 * when nothing is pending. At start-up the pending ops are queued again ahead of anything new.
 *
 * Lines: `{"seq":n,"op":"<base64 ciphertext of the op's JSON>"}` or `{"done":n}`. A torn last line
 * (a crash mid-write) is ignored.
 */
export class IntentJournal {
  private readonly open = new Map<number, WriteOp>();
  private nextSeq = 1;
  private fd: number | undefined;
  /** Lines that could not be read at load (a torn write, a key no longer configured). */
  readonly unreadable: string[] = [];

  constructor(
    private readonly file: string,
    private readonly keys: KeyRing,
  ) {
    this.load();
  }

  /** Ops recorded and not yet marked done, oldest first. */
  pending(): JournalEntry[] {
    return [...this.open].map(([seq, op]) => ({ seq, op }));
  }

  has(predicate: (op: WriteOp) => boolean): boolean {
    for (const op of this.open.values()) if (predicate(op)) return true;
    return false;
  }

  /** Records ops (with fsync: on disk before it returns, one fsync for all); returns their sequence numbers. */
  record(ops: readonly WriteOp[], opts: { fsync: boolean } = { fsync: true }): number[] {
    if (ops.length === 0) return [];
    const seqs = ops.map(() => this.nextSeq++);
    const text = ops.map((op, i) => JSON.stringify({ seq: seqs[i], op: this.keys.encrypt(JSON.stringify(op), CONTEXT).toString('base64') })).join('\n');
    this.append(`${text}\n`, opts.fsync);
    ops.forEach((op, i) => this.open.set(seqs[i]!, op));
    return seqs;
  }

  /** Marks ops committed. When none is left pending the file is emptied. */
  done(seqs: readonly number[]): void {
    const known = seqs.filter((s) => this.open.delete(s));
    if (known.length === 0) return;
    if (this.open.size === 0 && this.fd !== undefined) ftruncateSync(this.fd, 0); // nothing pending: start empty (no fsync: a lost truncate only replays idempotent ops)
    else this.append(`${known.map((s) => JSON.stringify({ done: s })).join('\n')}\n`, false); // a lost done line only replays an idempotent op
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const [i, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      try {
        const rec = JSON.parse(line) as { seq?: unknown; op?: unknown; done?: unknown };
        if (typeof rec.done === 'number') this.open.delete(rec.done);
        else if (typeof rec.seq === 'number' && typeof rec.op === 'string') {
          this.open.set(rec.seq, reviveDates(JSON.parse(this.keys.decrypt(Buffer.from(rec.op, 'base64'), CONTEXT))) as WriteOp);
          this.nextSeq = Math.max(this.nextSeq, rec.seq + 1);
        } else throw new Error('not a journal record');
      } catch (err) {
        this.unreadable.push(`${this.file}:${i + 1}: ${(err as Error).message}`);
      }
    }
    // Start the file afresh with only what is pending (drops done pairs and unreadable lines).
    this.rewrite(this.pending().map((e) => JSON.stringify({ seq: e.seq, op: this.keys.encrypt(JSON.stringify(e.op), CONTEXT).toString('base64') })).join('\n') + (this.open.size ? '\n' : ''));
  }

  private append(text: string, fsync: boolean): void {
    if (this.fd === undefined) {
      mkdirSync(path.dirname(this.file), { recursive: true });
      this.fd = openSync(this.file, 'a', 0o600);
    }
    writeSync(this.fd, text);
    if (fsync) fsyncSync(this.fd);
  }

  /** Replaces the file atomically (write a sibling, fsync, rename). */
  private rewrite(text: string): void {
    this.close();
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}

/** Ops carry Dates (createdAt, editedAt, cutoff); JSON turns them into strings. */
function reviveDates(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reviveDates);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = (k === 'createdAt' || k === 'editedAt' || k === 'cutoff') && typeof v === 'string' ? new Date(v) : reviveDates(v);
    }
    return out;
  }
  return value;
}

import { appendFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IntentJournal } from '../../bot/db/intent-journal.js';
import type { WriteOp } from '../../bot/db/write-ops.js';
import type { BatchApplier } from '../../bot/services/writer-queue.js';
import { isTransientDatabaseError } from '../../bot/db/errors.js';
import { WriterQueue } from '../../bot/services/writer-queue.js';
import { testKeys } from '../support/db.js';

const del = (id: string): WriteOp => ({ kind: 'message.delete', id });
/** A new message: the kind of op a full queue sheds and a refused one drops. */
const ins = (id: string): WriteOp => ({
  kind: 'message.insert',
  row: { id, guildId: 'g', channelId: 'c', parentChannelId: null, authorId: 'u', source: 'console', replyToId: null, content: `text of ${id}`, createdAt: new Date(0) },
});
const idOf = (o: WriteOp): string => (o.kind === 'message.delete' ? o.id : o.kind === 'message.insert' ? o.row.id : o.kind);

/** A stand-in database that records batches; it can be made to hang, fail or refuse one op. */
class RecordingApplier implements BatchApplier {
  batches: string[][] = [];
  gate: Promise<void> = Promise.resolve();
  failNext: unknown[] = [];
  poison = new Set<string>();
  async apply(ops: readonly WriteOp[]): Promise<unknown[]> {
    await this.gate;
    const failure = this.failNext.shift();
    if (failure) throw failure;
    const ids = ops.map(idOf);
    if (ids.some((id) => this.poison.has(id))) throw Object.assign(new Error('check constraint'), { code: '23514' });
    this.batches.push(ids);
    return ops.map(() => 'ok');
  }
}

describe('writer queue', () => {
  it('flushes in order, in batches of at most batchSize', async () => {
    const a = new RecordingApplier();
    const q = new WriterQueue(a, { batchSize: 3, flushMs: 5, capacity: 100 });
    for (let i = 0; i < 8; i++) q.enqueue(del(`m${i}`));
    await q.drainPoint();
    expect(a.batches.flat().filter((x) => x !== 'barrier')).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    expect(Math.max(...a.batches.map((b) => b.length))).toBeLessThanOrEqual(3);
  });

  it('never waits when full: sheds only new inserts, and still accepts deletes and privacy ops', async () => {
    const a = new RecordingApplier();
    let open!: () => void;
    a.gate = new Promise((r) => (open = r));
    const q = new WriterQueue(a, { batchSize: 2, flushMs: 1, capacity: 4 });
    for (let i = 0; i < 4; i++) expect(q.enqueue(ins(`m${i}`))).toBe(true);
    expect(q.enqueue(ins('m4'))).toBe(false); // returns at once: shed
    expect(q.enqueue({ kind: 'reaction.add', messageId: 'm0', userHmac: 'h', emoji: 'x', guildId: 'g' })).toBe(false);
    expect(q.enqueue(del('m1'))).toBe(true);
    const forget = q.submit({ kind: 'user.forget', userId: 'u', userHmac: 'h' });
    expect(q.enqueue({ kind: 'consent.set', guildId: 'g', userId: 'u2', status: 'out', policyVersion: 1 })).toBe(true);
    expect(q.stats.shed).toBe(2);
    expect(q.size).toBe(7);
    open();
    await forget;
    await q.close();
    expect(a.batches.flat()).toEqual(['m0', 'm1', 'm2', 'm3', 'm1', 'user.forget', 'consent.set']);
  });

  it('keeps a batch through connection errors and retries it', async () => {
    const a = new RecordingApplier();
    a.failNext = [Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), new Error('wrapped', { cause: { code: '57P01' } })];
    const q = new WriterQueue(a, { batchSize: 10, flushMs: 1, capacity: 100, retryMinMs: 1, retryMaxMs: 5 });
    q.enqueue(del('a'));
    q.enqueue(del('b'));
    await q.close();
    expect(q.stats.retries).toBe(2);
    expect(a.batches.flat()).toEqual(['a', 'b']);
  });

  it('isolates an op the database refuses, keeps the rest, and reports it to the submitter', async () => {
    const a = new RecordingApplier();
    a.poison.add('bad');
    const q = new WriterQueue(a, { batchSize: 10, flushMs: 1, capacity: 100 });
    q.enqueue(ins('a'));
    const bad = q.submit(ins('bad'));
    q.enqueue(ins('c'));
    await expect(bad).rejects.toThrow('check constraint');
    await q.close();
    expect(a.batches.flat()).toEqual(['a', 'c']);
    expect(q.stats.dropped).toBe(1);
  });

  it('drains on close and refuses new work afterwards', async () => {
    const a = new RecordingApplier();
    const q = new WriterQueue(a, { batchSize: 1000, flushMs: 10_000, capacity: 10_000 });
    for (let i = 0; i < 50; i++) q.enqueue(del(`m${i}`));
    await q.close();
    expect(a.batches.flat()).toHaveLength(50);
    expect(() => q.enqueue(del('late'))).toThrow(/closed/);
  });

  it('tells transient database errors (retried) from bad writes (dropped)', () => {
    expect(isTransientDatabaseError({ code: 'ECONNRESET' })).toBe(true);
    expect(isTransientDatabaseError({ code: '08006' })).toBe(true);
    expect(isTransientDatabaseError(new Error('x', { cause: { code: 'CONNECTION_CLOSED' } }))).toBe(true);
    // Out of connections, read-only after a failover, disk full: not the write's fault either.
    for (const code of ['53300', '25006', '53100', '40001']) expect(isTransientDatabaseError({ code }), code).toBe(true);
    expect(isTransientDatabaseError({ code: '23505' })).toBe(false);
    expect(isTransientDatabaseError(new Error('plain'))).toBe(false);
  });

  it('retries a delete or privacy op the database refuses instead of dropping it', async () => {
    const a = new RecordingApplier();
    a.poison.add('stuck');
    const q = new WriterQueue(a, { batchSize: 10, flushMs: 1, capacity: 100, retryMinMs: 1, retryMaxMs: 2 });
    q.enqueue(ins('a'));
    q.enqueue(del('stuck'));
    q.enqueue(ins('after'));
    await new Promise((r) => setTimeout(r, 30));
    expect(a.batches.flat()).toEqual(['a']); // held at the head, in order: nothing after it overtakes it
    expect(q.stats.dropped).toBe(0);
    a.poison.clear();
    await q.close();
    expect(a.batches.flat()).toEqual(['a', 'stuck', 'after']);
  });
});

describe('writer queue with an intent journal', () => {
  const keys = testKeys(); // one key ring: a reopened journal must decrypt what the last one wrote
  const journalIn = (dir: string) => new IntentJournal(path.join(dir, 'intents.journal'), keys);
  const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'wq-journal-'));

  it('journals privacy ops and deletes when accepted (0600, encrypted) and clears them once committed', async () => {
    const dir = tmp();
    const a = new RecordingApplier();
    let open!: () => void;
    a.gate = new Promise((r) => (open = r));
    const journal = journalIn(dir);
    const q = new WriterQueue(a, { batchSize: 10, flushMs: 1, capacity: 100 }, undefined, journal);
    q.enqueue(ins('kept-out-of-journal'));
    q.enqueue({ kind: 'consent.set', guildId: '111', userId: '222333444555', status: 'out', policyVersion: 3 });
    q.enqueue(del('gone'));
    q.enqueue({ kind: 'consent.set', guildId: '111', userId: '9', status: 'in', policyVersion: 3 });
    const file = path.join(dir, 'intents.journal');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain('222333444555');
    expect(journal.pending().map((e) => e.op.kind)).toEqual(['consent.set', 'message.delete']);
    open();
    await q.close();
    expect(journal.pending()).toEqual([]);
    expect(journalIn(dir).pending()).toEqual([]);
  });

  it('saves what is still queued when the database is down at close, and replays it first at the next start', async () => {
    const dir = tmp();
    const down = new RecordingApplier();
    down.gate = new Promise(() => {}); // never answers
    const q = new WriterQueue(down, { batchSize: 10, flushMs: 1, capacity: 100, closeTimeoutMs: 50 }, undefined, journalIn(dir));
    q.enqueue(ins('m1'));
    const forget = q.submit({ kind: 'user.forget', userId: 'u', userHmac: 'h' });
    q.enqueue(ins('m2'));
    await q.close();
    await expect(forget).rejects.toThrow(/journaled/);

    const up = new RecordingApplier();
    const journal = journalIn(dir);
    const next = new WriterQueue(up, { batchSize: 10, flushMs: 1, capacity: 100 }, undefined, journal);
    const recovered = next.recover();
    expect(recovered.map(idOf)).toEqual(['m1', 'user.forget', 'm2']);
    expect((recovered[0] as Extract<WriteOp, { kind: 'message.insert' }>).row.createdAt).toEqual(new Date(0));
    next.enqueue(ins('m3'));
    await next.close();
    expect(up.batches.flat()).toEqual(['m1', 'user.forget', 'm2', 'm3']);
    expect(journal.pending()).toEqual([]);
  });

  it('ignores a torn last line (a crash mid-write) and keeps the complete records', () => {
    const dir = tmp();
    const journal = journalIn(dir);
    journal.record([del('a'), del('b')]);
    journal.done([1]);
    journal.close();
    appendFileSync(path.join(dir, 'intents.journal'), '{"seq":3,"op":"AbC');
    const reopened = journalIn(dir);
    expect(reopened.pending().map((e) => idOf(e.op))).toEqual(['b']);
    expect(reopened.unreadable).toHaveLength(1);
    expect(reopened.record([del('c')])).toEqual([3]);
  });
});

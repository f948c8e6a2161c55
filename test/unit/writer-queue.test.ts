import { describe, expect, it } from 'vitest';
import type { WriteOp } from '../../bot/db/write-ops.js';
import type { BatchApplier } from '../../bot/services/writer-queue.js';
import { isTransientDatabaseError } from '../../bot/db/errors.js';
import { WriterQueue } from '../../bot/services/writer-queue.js';

const del = (id: string): WriteOp => ({ kind: 'message.delete', id });

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
    const ids = ops.map((o) => (o.kind === 'message.delete' ? o.id : o.kind));
    if (ids.some((id) => this.poison.has(id))) throw Object.assign(new Error('check constraint'), { code: '23514' });
    this.batches.push(ids);
    return ops.map(() => 'ok');
  }
}

describe('writer queue', () => {
  it('flushes in order, in batches of at most batchSize', async () => {
    const a = new RecordingApplier();
    const q = new WriterQueue(a, { batchSize: 3, flushMs: 5, capacity: 100 });
    for (let i = 0; i < 8; i++) await q.enqueue(del(`m${i}`));
    await q.drainPoint();
    expect(a.batches.flat().filter((x) => x !== 'barrier')).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    expect(Math.max(...a.batches.map((b) => b.length))).toBeLessThanOrEqual(3);
  });

  it('applies back-pressure when full instead of dropping, then accepts again', async () => {
    const a = new RecordingApplier();
    let open!: () => void;
    a.gate = new Promise((r) => (open = r));
    const q = new WriterQueue(a, { batchSize: 2, flushMs: 1, capacity: 4 });
    for (let i = 0; i < 4; i++) await q.enqueue(del(`m${i}`));
    let acceptedFifth = false;
    const fifth = Promise.resolve(q.enqueue(del('m4'))).then(() => (acceptedFifth = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(acceptedFifth).toBe(false);
    expect(q.size).toBe(4);
    open();
    await fifth;
    await q.close();
    expect(a.batches.flat()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  it('keeps a batch through connection errors and retries it', async () => {
    const a = new RecordingApplier();
    a.failNext = [Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), new Error('wrapped', { cause: { code: '57P01' } })];
    const q = new WriterQueue(a, { batchSize: 10, flushMs: 1, capacity: 100, retryMinMs: 1, retryMaxMs: 5 });
    await q.enqueue(del('a'));
    await q.enqueue(del('b'));
    await q.close();
    expect(q.stats.retries).toBe(2);
    expect(a.batches.flat()).toEqual(['a', 'b']);
  });

  it('isolates an op the database refuses, keeps the rest, and reports it to the submitter', async () => {
    const a = new RecordingApplier();
    a.poison.add('bad');
    const q = new WriterQueue(a, { batchSize: 10, flushMs: 1, capacity: 100 });
    await q.enqueue(del('a'));
    const bad = q.submit(del('bad'));
    await q.enqueue(del('c'));
    await expect(bad).rejects.toThrow('check constraint');
    await q.close();
    expect(a.batches.flat()).toEqual(['a', 'c']);
    expect(q.stats.dropped).toBe(1);
  });

  it('drains on close and refuses new work afterwards', async () => {
    const a = new RecordingApplier();
    const q = new WriterQueue(a, { batchSize: 1000, flushMs: 10_000, capacity: 10_000 });
    for (let i = 0; i < 50; i++) await q.enqueue(del(`m${i}`));
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
});

import { describe, expect, it } from 'vitest';
import { ThrottledEdit } from '../../bot/core/throttled-edit.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An apply that records when it ran and what it showed, taking `ms` to do it. */
function recorder(ms = 0) {
  const applied: { value: string; at: number }[] = [];
  return { applied, apply: async (value: string) => void (await sleep(ms), applied.push({ value, at: Date.now() })) };
}

describe('ThrottledEdit (streaming replies and job status messages)', () => {
  it('applies at most once per interval, one at a time, and ends on the latest value', async () => {
    const r = recorder(5);
    const edit = new ThrottledEdit<string>({ intervalMs: 80, apply: r.apply });
    for (let i = 1; i <= 20; i++) {
      edit.set(`v${i}`);
      await sleep(10);
    }
    await edit.flush();
    expect(r.applied.at(-1)!.value).toBe('v20');
    expect(r.applied.length).toBeLessThan(8); // 20 values over ~200 ms, an apply per 80 ms
    for (let i = 1; i < r.applied.length - 1; i++) expect(r.applied[i]!.at - r.applied[i - 1]!.at).toBeGreaterThanOrEqual(75);
  });

  it('flushes at once by default, or after the rest of the interval when throttled; skips an unchanged value', async () => {
    const r = recorder();
    const edit = new ThrottledEdit<string>({ intervalMs: 150, apply: r.apply });
    await edit.flush('a');
    const t0 = Date.now();
    await edit.flush('b'); // at once
    expect(Date.now() - t0).toBeLessThan(100);
    await edit.flush('c', { throttled: true });
    expect(r.applied.at(-1)!.at - r.applied.at(-2)!.at).toBeGreaterThanOrEqual(140);
    await edit.flush('c', { throttled: true }); // unchanged: nothing to do, no wait
    expect(r.applied.map((a) => a.value)).toEqual(['a', 'b', 'c']);
  });

  it('a failed apply between flushes goes to onError and is retried by the flush; a flush failure reaches the caller', async () => {
    const errors: unknown[] = [];
    let fail = true;
    const shown: string[] = [];
    const edit = new ThrottledEdit<string>({
      intervalMs: 10,
      apply: async (v) => {
        if (fail) throw new Error(`cannot show ${v}`);
        shown.push(v);
      },
      onError: (err) => errors.push(err),
    });
    edit.set('x');
    await sleep(30);
    expect(errors).toHaveLength(1);
    await expect(edit.flush()).rejects.toThrow('cannot show x');
    fail = false;
    await edit.flush();
    expect(shown).toEqual(['x']);
  });

  it('cancel stops a pending apply', async () => {
    const r = recorder();
    const edit = new ThrottledEdit<string>({ intervalMs: 100, apply: r.apply });
    await edit.flush('first');
    edit.set('second');
    await edit.cancel();
    await sleep(150);
    expect(r.applied.map((a) => a.value)).toEqual(['first']);
  });
});

describe('ThrottledEdit when an apply is slow', () => {
  it('a flush never waits out an interval that a scheduled apply was waiting for', async () => {
    const r = recorder(60); // each apply takes 60 ms
    const edit = new ThrottledEdit<string>({ intervalMs: 1000, apply: r.apply });
    edit.set('a'); // applies at once, takes 60 ms
    await sleep(5);
    edit.set('ab'); // scheduled while 'a' is being applied: it waits out the interval after 'a'
    await sleep(100);
    const t0 = Date.now();
    await edit.flush('abc'); // the reply is done: shown now, not a second later
    expect(Date.now() - t0).toBeLessThan(300);
    expect(r.applied.map((a) => a.value)).toEqual(['a', 'abc']);
  });
});

import { describe, expect, it } from 'vitest';
import { runBenchmark } from '../../bench/harness.js';
import { BENCHMARKS } from '../../bench/registry.js';

// Every benchmark runs at its smoke size in the suite, so none of them rots. Figures from
// smoke runs are not measurements: only `npm run bench` writes bench/results/.
describe.each(BENCHMARKS.map((b) => [b.name, b] as const))('benchmark %s (smoke size)', (_name, bench) => {
  it('runs and reports its metrics in the results shape', async () => {
    const result = await runBenchmark(bench, { smoke: true });
    expect(result.name).toBe(bench.name);
    expect(result.samples).toBeGreaterThan(0);
    expect(result.commit).toMatch(/^([0-9a-f]{40}(-dirty)?|unknown)$/);
    expect(Object.keys(result.metrics).length).toBeGreaterThan(0);
    expect(Object.keys(result.metrics)).toEqual(expect.arrayContaining(bench.metrics));
    for (const v of Object.values(result.metrics)) expect(Number.isFinite(v)).toBe(true);
    // A guard against a hang, not a speed target: the quality smoke (dataset, training, evaluation) takes ~4 min on 2 idle cores.
  }, 600_000);
});


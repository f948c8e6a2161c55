import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** What one benchmark run reports (bench/results/<name>.json, the DESIGN shape). */
export interface BenchResult {
  name: string;
  date: string;
  commit: string;
  machine: string;
  samples: number;
  metrics: Record<string, number>;
  notes: string;
}

export interface Benchmark {
  name: string;
  description: string;
  /** The metric names its issue asks for; every run must report them. */
  metrics: string[];
  /** smoke: a size small enough for the test suite, so benchmarks never rot. */
  run(opts: { smoke: boolean; log: (line: string) => void }): Promise<{ samples: number; metrics: Record<string, number>; notes: string }>;
}

export function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${sha}-dirty` : sha;
  } catch {
    return 'unknown';
  }
}

export function machine(): string {
  const cpu = os.cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown cpu';
  return `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${cpu}`;
}

export async function runBenchmark(bench: Benchmark, opts: { smoke: boolean; outDir?: string; log?: (l: string) => void }): Promise<BenchResult> {
  const log = opts.log ?? (() => {});
  const out = await bench.run({ smoke: opts.smoke, log });
  const missing = bench.metrics.filter((m) => typeof out.metrics[m] !== 'number');
  if (missing.length > 0) throw new Error(`benchmark ${bench.name} did not report ${missing.join(', ')}`);
  const result: BenchResult = {
    name: bench.name,
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: machine(),
    samples: out.samples,
    metrics: out.metrics,
    notes: opts.smoke ? `SMOKE SIZE (not a measurement). ${out.notes}` : out.notes,
  };
  if (opts.outDir) {
    mkdirSync(opts.outDir, { recursive: true });
    writeFileSync(path.join(opts.outDir, `${bench.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  }
  return result;
}

/** Nearest-rank percentile of a sample, p in [0, 100]. */
export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function formatTable(results: BenchResult[]): string {
  const rows: string[][] = [['benchmark', 'metric', 'value']];
  for (const r of results) for (const [k, v] of Object.entries(r.metrics)) rows.push([r.name, k, Number.isInteger(v) ? String(v) : v.toFixed(3)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row, ri) => {
    const line = row.map((c, i) => c.padEnd(widths[i]!)).join('  ');
    return ri === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
  }).join('\n');
}

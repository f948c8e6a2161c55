import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from './harness.js';
import { formatTable, runBenchmark } from './harness.js';
import { BENCHMARKS, ON_REQUEST_BENCHMARKS } from './registry.js';

// `npm run bench` runs every benchmark (but those run on request only); `npm run bench -- <name>` one; `--smoke` the small size.

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const smoke = args.includes('--smoke');
  const names = args.filter((a) => !a.startsWith('--'));
  const known = [...BENCHMARKS, ...ON_REQUEST_BENCHMARKS];
  const unknown = names.filter((n) => !known.some((b) => b.name === n));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${known.map((b) => b.name).join(', ')}`);
    process.exit(2);
  }
  const selected = names.length > 0 ? known.filter((b) => names.includes(b.name)) : BENCHMARKS;
  const outDir = smoke ? undefined : path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  const results: BenchResult[] = [];
  for (const bench of selected) {
    console.log(`\n== ${bench.name}: ${bench.description}${smoke ? ' (smoke size)' : ''}`);
    results.push(await runBenchmark(bench, { smoke, outDir, log: (l) => console.log(`   ${l}`) }));
  }
  console.log(`\n${formatTable(results)}`);
  if (outDir) console.log(`\nwrote ${selected.map((b) => `bench/results/${b.name}.json`).join(', ')}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

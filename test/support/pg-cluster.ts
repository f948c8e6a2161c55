import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A throwaway PostgreSQL cluster on 127.0.0.1 for tests: initdb into a temp folder, start,
 * stop/restart on demand, remove on teardown. As root it runs the server tools through
 * `runuser -u postgres` (initdb refuses root). Binaries come from Debian's postgresql package
 * (PG_BIN overrides the folder).
 */
export interface PostgresCluster {
  url: string;
  port: number;
  dataDir: string;
  stop(): void;
  /** A crash: immediate shutdown (no checkpoint, every backend killed), as when the server is killed. */
  kill(): void;
  start(): void;
  destroy(): void;
}

export function postgresBinDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(root, versions[0], 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return path.dirname(which.stdout.trim());
  throw new Error('PostgreSQL server binaries not found: apt-get install postgresql (or set PG_BIN to the folder with initdb and pg_ctl)');
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function runPg(bin: string, args: string[]): void {
  const [cmd, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  try {
    execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer };
    throw new Error(`${path.basename(bin)} ${args.join(" ")} failed: ${e.stderr?.toString() || e.stdout?.toString() || String(err)}`, { cause: err });
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * durable=false (tests): fsync and synchronous commit off, for speed.
 * durable=true (benchmarks): Postgres' own defaults, so commit costs are what production pays.
 */
export async function startPostgresCluster(opts: { durable?: boolean } = {}): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  const base = mkdtempSync(path.join(os.tmpdir(), 'persona-bot-pg-'));
  chmodSync(base, 0o777);
  const dataDir = path.join(base, 'data');
  if (isRoot) execFileSync('chown', ['postgres:postgres', base]);
  runPg(path.join(bin, 'initdb'), ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const fast = opts.durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
  const options = `-p ${port} -k ${base} -c listen_addresses=127.0.0.1 -c max_connections=200${fast}`;
  const start = () => runPg(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-o', options, '-l', path.join(base, 'postgres.log'), '-w', '-t', '60', 'start']);
  const stop = () => runPg(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    start,
    stop,
    kill: () => runPg(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']),
    destroy() {
      try {
        stop();
      } catch {
        // already stopped
      }
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** The server log, for failure messages. */
export function clusterLog(cluster: PostgresCluster): string {
  const file = path.join(path.dirname(cluster.dataDir), 'postgres.log');
  return existsSync(file) ? readFileSync(file, 'utf8').slice(-4000) : '';
}

import { createServer, type Server } from 'node:http';
import net from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { openTestDatabase } from '../support/db.js';
import { freePort } from '../support/pg-cluster.js';

/**
 * A database hiccup while a job trains must not end the job: before, one dropped connection in
 * the driver's poll failed the job, deleted the trainer's copy (the training with it) and put the
 * failed query's SQL in the channel as the reason. A trainer stand-in speaks the trainer contract
 * and keeps the job running. The driver meets a blip (its query held by a lock, its connection
 * terminated, the database fine again at once) and an outage (the app reaches Postgres through a
 * TCP proxy the test cuts for a second: every connection reset, new ones refused).
 */

/** A TCP proxy to Postgres that can drop every connection and refuse new ones for a while. */
async function cuttableProxy(
  target: { host: string; port: number },
): Promise<{ port: number; cut(ms: number): Promise<void>; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let down = false;
  const server = net.createServer((client) => {
    if (down) return void client.destroy();
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    port,
    async cut(ms) {
      down = true;
      for (const s of sockets) s.destroy();
      await new Promise((r) => setTimeout(r, ms));
      down = false;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
describe('a running fine-tune across a database hiccup', { timeout: 120_000 }, () => {
  let t: TestApp;
  let server: Server;
  let proxy: Awaited<ReturnType<typeof cuttableProxy>>;
  let admin: postgres.Sql;
  let dbName: string;
  const trainerCalls: string[] = [];
  let trainerStatus: 'running' | 'failed' = 'running';

  beforeAll(async () => {
    server = createServer((req, res) => {
      trainerCalls.push(`${req.method} ${req.url}`);
      res.setHeader('content-type', 'application/json');
      const now = new Date().toISOString();
      if (req.url === '/healthz') return void res.end(JSON.stringify({ status: 'ok', device: 'cpu', gpu: null, version: '0.1.0' }));
      if (req.method === 'POST' && req.url === '/v1/jobs') return void res.writeHead(201).end(JSON.stringify({ id: 'tj1', status: 'queued' }));
      if (req.method === 'GET' && req.url === '/v1/jobs/tj1') {
        return void res.end(
          JSON.stringify({
            id: 'tj1', persona: 'glordon', base_model: 'smollm2-135m', status: trainerStatus, progress: { step: 3, total_steps: 100, fraction: 0.03, eta_s: 60 },
            metrics: {}, error: trainerStatus === 'failed' ? 'stopped by the test' : null, artifacts: [], created_at: now, updated_at: now,
          }),
        );
      }
      if (req.method === 'GET' && req.url?.startsWith('/v1/jobs/tj1/events')) return void res.end(JSON.stringify({ events: [] }));
      if (req.method === 'DELETE') return void res.writeHead(204).end();
      res.writeHead(404).end(JSON.stringify({ detail: 'no such route' }));
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const direct = new URL(inject('pgUrl'));
    proxy = await cuttableProxy({ host: direct.hostname, port: Number(direct.port) });
    const viaProxy = new URL(direct);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const database = await openTestDatabase('postgres', viaProxy.toString());
    dbName = new URL(database.url!).pathname.slice(1);
    const directToDb = new URL(direct);
    directToDb.pathname = `/${dbName}`;
    admin = postgres(directToDb.toString(), { max: 1, onnotice: () => {} });
    t = await createTestApp('postgres', {
      database,
      env: { TRAINER_URL: `http://127.0.0.1:${port}`, TRAINER_TOKEN: 'x'.repeat(32), DATASET_SYNTHETIC_PER_CHUNK: '0', DATASET_TEACHER_DIALOGUES: '0', FINETUNE_POLL_MS: '100' },
    });
  });
  afterAll(async () => {
    await admin?.end();
    await t?.destroy();
    await proxy?.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('keeps the job and the trainer’s copy, picks the job up again, and never shows SQL as a reason', async () => {
    const card = t.app.personas.get('glordon');
    const started = await t.app.finetune.start({ card, options: {}, guildId: null, channelId: 'c' });
    // The test reads through the app's pool too: a read on a connection the blip ended is tried again.
    const find = async () => {
      for (let i = 0; ; i++) {
        try {
          return await t.app.finetune.find(null, started.id);
        } catch (err) {
          if (i >= 3) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    const status = async () => (await find()).status;
    for (let i = 0; i < 200 && (await status()) !== 'running'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await status()).toBe('running');

    // A blip: the driver's query on finetune_jobs is held by a lock and its connection terminated, then the
    // database answers again at once (before, the next query recorded the job as failed, with the SQL as its reason).
    for (let blip = 0; blip < 3; blip++) {
      await admin.begin(async (tx) => {
        await tx`lock table finetune_jobs in access exclusive mode`;
        // Hold the table long enough that the driver's next progress update is waiting (it polls every 100 ms), then
        // end every connection of the app: the queries on them fail, the ones after the lock is gone work.
        await new Promise((r) => setTimeout(r, 400));
        const ended = await tx`select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = ${dbName} and pid <> pg_backend_pid()`;
        expect(ended.length).toBeGreaterThan(0);
      });
      await new Promise((r) => setTimeout(r, 300));
      expect((await find()).status).toBe('running');
    }
    // Then an outage of a second: every connection reset, new ones refused. The driver polls every 100 ms.
    await proxy.cut(1000);
    await new Promise((r) => setTimeout(r, 300));
    const after = await find();
    expect(after.status, after.error ?? '').toBe('running');
    expect(trainerCalls.filter((c) => c.startsWith('DELETE'))).toEqual([]); // the training was not wiped

    // The reconciler drives it again; when the trainer's job ends, the reason is the trainer's, not SQL.
    trainerStatus = 'failed';
    await t.app.finetune.reconcile();
    await t.app.finetune.idle();
    const ended = await find();
    expect(ended.status).toBe('failed');
    expect(ended.error).toContain('stopped by the test');
    expect(ended.error).not.toMatch(/select|insert|update|Failed query|params/i);
  });
});

import { createServer, type IncomingMessage } from 'node:http';
import { freePort } from './pg-cluster.js';

type Line = { messages: { content: string }[] };
export interface RecordedJob {
  body: { dataset: { train: Line[]; eval: Line[] } };
  status: 'running' | 'cancelled';
  idempotencyKey: string;
}

/**
 * The trainer's wire protocol (trainer/schema), enough for jobs to be submitted, followed,
 * cancelled and deleted; it trains nothing, keeps every job running and records what it is sent.
 * `onSubmit` runs before a POST /v1/jobs is answered (a test's way to land something mid-submit).
 */
export async function startRecordingTrainer(opts: { onSubmit?: () => Promise<void> } = {}) {
  const jobs = new Map<string, RecordedJob>();
  const cancels: string[] = [];
  const deletes: string[] = [];
  /** Every job body ever sent, in order (deleted ones too). */
  const sent: RecordedJob[] = [];
  const read = (req: IncomingMessage) =>
    new Promise<string>((r) => {
      let b = '';
      req.on('data', (d: Buffer) => (b += d.toString()));
      req.on('end', () => r(b));
    });
  const server = createServer(async (req, res) => {
    res.setHeader('content-type', 'application/json');
    const url = req.url ?? '';
    if (url === '/healthz') return void res.end(JSON.stringify({ status: 'ok', device: 'cpu', gpu: null, version: '0.1.0' }));
    if (req.method === 'POST' && url === '/v1/jobs') {
      const body = JSON.parse(await read(req)) as RecordedJob['body'];
      await opts.onSubmit?.();
      const id = `job${sent.length + 1}`;
      const job: RecordedJob = { body, status: 'running', idempotencyKey: String(req.headers['idempotency-key']) };
      sent.push(job);
      jobs.set(id, job);
      res.statusCode = 201;
      return void res.end(JSON.stringify({ id, status: 'queued' }));
    }
    const m = /^\/v1\/jobs\/([^/?]+)(\/events|\/cancel)?/.exec(url);
    const job = m && jobs.get(m[1]!);
    if (!m || !job) return void ((res.statusCode = 404), res.end(JSON.stringify({ error: 'no such job' })));
    if (req.method === 'DELETE') {
      deletes.push(m[1]!);
      jobs.delete(m[1]!);
      return void ((res.statusCode = 204), res.end());
    }
    if (m[2] === '/cancel') {
      cancels.push(m[1]!);
      job.status = 'cancelled';
      res.statusCode = 202;
      return void res.end(JSON.stringify({ id: m[1], status: 'running' }));
    }
    if (m[2] === '/events') return void res.end(JSON.stringify({ events: [], next_after: 0 }));
    const t = new Date().toISOString();
    res.end(JSON.stringify({ id: m[1], persona: 'p', base_model: 'x', status: job.status, progress: { step: 0, total_steps: 10, fraction: 0, eta_s: null }, metrics: {}, artifacts: [], created_at: t, updated_at: t }));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    jobs,
    sent,
    cancels,
    deletes,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

import http from 'node:http';
import type { App } from './app.js';

/**
 * GET /healthz for container healthchecks: 200 when the database answers, 503 otherwise,
 * with the writer queue's depth (a growing queue means the database is falling behind).
 * GET /metrics: the Prometheus exposition (bot/metrics.ts). Unauthenticated, so it listens on
 * loopback unless HEALTH_HOST says otherwise (the container sets 0.0.0.0 for its network).
 */
export function startHealthServer(app: App, port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer(async (req, res) => {
    if (req.url === '/metrics') {
      const { contentType, body } = await app.metrics.exposition();
      res.writeHead(200, { 'content-type': contentType }).end(body);
      return;
    }
    if (req.url !== '/healthz') {
      res.writeHead(404).end();
      return;
    }
    const database = (await app.database.ping()) ? 'ok' : 'unreachable';
    const body = { status: database === 'ok' ? 'ok' : 'degraded', database, writerQueue: app.writer.size, writer: app.writer.stats };
    res.writeHead(database === 'ok' ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

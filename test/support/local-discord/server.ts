/**
 * The HTTP half of the local Discord: parses requests (JSON, or multipart with `payload_json` and
 * `files[n]`), records every one of them, applies injected failures (`failNext`), routes the rest
 * to the REST handlers, serves uploaded attachments, and hands `/gateway` upgrades to the gateway.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Json } from './errors.js';
import { DiscordHttpError, ERROR_MESSAGES, discordError, httpErrors } from './errors.js';
import type { Gateway } from './gateway.js';
import type { UploadedFile } from './ops.js';
import type { Reply, Route } from './routes.js';
import type { DiscordState } from './state.js';

export interface RecordedFile {
  field: string;
  filename: string;
  contentType: string | null;
  size: number;
  data: Buffer;
}

export interface RecordedRequest {
  /** 1-based position in the log. */
  seq: number;
  at: number;
  method: string;
  /** Path without the `/api/v10` prefix and without the query, e.g. `/channels/123/messages`. */
  path: string;
  /** Matched route template, e.g. `POST /channels/:channelId/messages`; null for unknown routes. */
  route: string | null;
  params: Record<string, string>;
  query: Record<string, string>;
  /** Lower-cased request headers, without `authorization`. */
  headers: Record<string, string>;
  /** Parsed JSON body (for multipart: the parsed `payload_json`, plus any other text fields). */
  body: unknown;
  files: RecordedFile[];
  /** Response status and parsed response body (null for 204). */
  status: number;
  response: unknown;
  /** Answered by a `failNext` rule instead of the handler. */
  injected: boolean;
  /** Set when a handler crashed (a bug in the local Discord): the request got a 500. */
  error?: string;
  /** Milliseconds from the request's first byte being handled to its response being written. */
  handledMs?: number;
}

export interface FailRule {
  /** HTTP method to match (any when omitted). */
  method?: string;
  /**
   * Path without `/api/v10` and without the query. A string is a template (`:name` = one segment,
   * `*` = anything), e.g. `/webhooks/:id/:token`; a RegExp is tested against the path.
   */
  pathPattern: string | RegExp;
  status: number;
  /** Response body; default: Discord's body for the status (429: rate limit body; otherwise `{code, message}`). */
  body?: Json;
  /** JSON error code for the default body (e.g. 10015 Unknown Webhook). */
  code?: number;
  message?: string;
  /** 429 only: seconds to wait (fractions allowed; default 0.25). Sent as `retry_after` and in the headers. */
  retryAfter?: number;
  /** 429 only: a global rate limit (`X-RateLimit-Global`). */
  global?: boolean;
  headers?: Record<string, string>;
  /** How many matching requests to fail (default 1). */
  times?: number;
}

interface ActiveRule extends FailRule {
  remaining: number;
  matcher: (path: string) => boolean;
}

export interface ServerDeps {
  state: DiscordState;
  gateway: Gateway;
  routes: Route[];
  token: string;
}

export function compileTemplate(template: string): { regex: RegExp; names: string[] } {
  const names: string[] = [];
  const source = template
    .split('/')
    .map((seg) => {
      if (seg.startsWith(':')) {
        names.push(seg.slice(1));
        return '([^/]+)';
      }
      if (seg === '*') return '.*';
      return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { regex: new RegExp(`^${source}$`), names };
}

export class HttpServer extends EventEmitter {
  readonly requests: RecordedRequest[] = [];
  private readonly rules: ActiveRule[] = [];
  private readonly server: http.Server;
  private readonly compiled: Array<{ route: Route; regex: RegExp; names: string[] }>;
  port = 0;

  constructor(private readonly deps: ServerDeps) {
    super();
    this.setMaxListeners(0); // every pending waitForRequest listens: 50 concurrent waits are not a leak
    this.compiled = deps.routes.map((route) => ({ route, ...compileTemplate(route.template) }));
    this.server = http.createServer((req, res) => {
      void this.handle(req, res);
    });
    this.server.on('upgrade', (req, socket, head) => {
      const path = new URL(req.url ?? '/', 'http://local').pathname;
      if (path === '/gateway' || path === '/gateway/resume') this.deps.gateway.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
  }

  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  failNext(rule: FailRule): void {
    const matcher =
      typeof rule.pathPattern === 'string'
        ? ((re) => (p: string) => re.test(p))(compileTemplate(rule.pathPattern).regex)
        : (p: string) => (rule.pathPattern as RegExp).test(p);
    this.rules.push({ ...rule, remaining: rule.times ?? 1, matcher });
  }

  /** Rules not yet used up (a test can assert its injection was consumed). */
  get pendingFailures(): number {
    return this.rules.filter((r) => r.remaining > 0).length;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const raw = await readBody(req);

    if (url.pathname.startsWith('/attachments/')) {
      this.serveAttachment(url.pathname, res);
      return;
    }
    const apiMatch = /^\/api(?:\/v(\d+))?(\/.*)$/.exec(url.pathname);
    const path = apiMatch ? (apiMatch[2] as string).replace(/\/+$/, '') || '/' : url.pathname;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (k === 'authorization' || v === undefined) continue;
      headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const record: RecordedRequest = {
      seq: this.requests.length + 1,
      at: Date.now(),
      method,
      path,
      route: null,
      params: {},
      query: Object.fromEntries(url.searchParams),
      headers,
      body: null,
      files: [],
      status: 0,
      response: null,
      injected: false,
    };
    this.requests.push(record);

    let reply: Reply;
    try {
      const parsed = await parseBody(req.headers['content-type'], raw);
      record.body = parsed.body;
      record.files = parsed.files.map((f) => ({ ...f, size: f.data.length }));
      reply = this.injected(method, path, record) ?? (await this.route(method, path, url, req, parsed, record));
    } catch (err) {
      if (err instanceof DiscordHttpError) reply = { status: err.status, body: err.toBody(), headers: err.headers };
      else {
        const e = err instanceof Error ? err : new Error(String(err));
        record.error = e.stack ?? e.message;
        console.error(`[local-discord] handler crashed on ${method} ${path}:`, e);
        reply = { status: 500, body: { message: '500: Internal Server Error', code: 0 } };
      }
    }
    record.status = reply.status;
    record.response = reply.body ?? null;
    const outHeaders: Record<string, string> = { ...(reply.headers ?? {}) };
    if (reply.body !== undefined && reply.status !== 204) outHeaders['content-type'] = 'application/json';
    res.writeHead(reply.status, outHeaders);
    res.end(reply.body !== undefined && reply.status !== 204 ? JSON.stringify(reply.body) : undefined);
    record.handledMs = performance.now() - started;
    this.emit('request', record);
  }

  private injected(method: string, path: string, record: RecordedRequest): Reply | undefined {
    const rule = this.rules.find((r) => r.remaining > 0 && (!r.method || r.method.toUpperCase() === method) && r.matcher(path));
    if (!rule) return undefined;
    rule.remaining--;
    record.injected = true;
    // Record which route it would have hit.
    const m = this.match(method, path);
    if (m) {
      record.route = `${m.route.method} ${m.route.template}`;
      record.params = m.params;
    }
    if (rule.status === 429) {
      const retryAfter = rule.retryAfter ?? 0.25;
      const headers: Record<string, string> = {
        'retry-after': String(retryAfter),
        'x-ratelimit-limit': '1',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(Date.now() / 1000 + retryAfter),
        'x-ratelimit-reset-after': String(retryAfter),
        'x-ratelimit-bucket': `local-${(m?.route.template ?? path).replace(/[^a-z]/gi, '').slice(0, 24)}`,
        'x-ratelimit-scope': rule.global ? 'global' : 'user',
        ...(rule.global ? { 'x-ratelimit-global': 'true' } : {}),
        ...(rule.headers ?? {}),
      };
      return { status: 429, headers, body: rule.body ?? { message: 'You are being rate limited.', retry_after: retryAfter, global: rule.global ?? false } };
    }
    const code = rule.code ?? 0;
    return {
      status: rule.status,
      headers: rule.headers,
      body: rule.body ?? { message: rule.message ?? ERROR_MESSAGES[code] ?? `${rule.status}: Error`, code },
    };
  }

  private match(method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
    for (const c of this.compiled) {
      if (c.route.method !== method) continue;
      const m = c.regex.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      c.names.forEach((n, i) => (params[n] = safeDecode(m[i + 1] as string)));
      return { route: c.route, params };
    }
    return undefined;
  }

  private async route(
    method: string,
    path: string,
    url: URL,
    req: http.IncomingMessage,
    parsed: { body: unknown; files: UploadedFile[] },
    record: RecordedRequest,
  ): Promise<Reply> {
    const m = this.match(method, path);
    if (!m) {
      const otherMethod = this.compiled.some((c) => c.regex.test(path));
      throw otherMethod ? httpErrors.methodNotAllowed() : httpErrors.notFound();
    }
    record.route = `${m.route.method} ${m.route.template}`;
    record.params = m.params;
    if (m.route.auth && req.headers.authorization !== `Bot ${this.deps.token}`) throw httpErrors.unauthorized();
    return m.route.handler({
      method,
      path,
      params: m.params,
      query: url.searchParams,
      headers: record.headers,
      body: parsed.body,
      files: parsed.files,
    });
  }

  private serveAttachment(pathname: string, res: http.ServerResponse): void {
    const parts = pathname.split('/');
    const id = parts[3];
    const att = [...this.deps.state.messages.values(), ...this.deps.state.deletedMessages.values()]
      .flatMap((m) => m.attachments)
      .find((a) => a.id === id);
    if (!att) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': att.contentType ?? 'application/octet-stream', 'content-length': String(att.data.length) });
    res.end(att.data);
  }
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function parseBody(contentType: string | undefined, raw: Buffer): Promise<{ body: unknown; files: UploadedFile[] }> {
  if (raw.length === 0) return { body: null, files: [] };
  const ct = (contentType ?? '').toLowerCase();
  if (ct.startsWith('multipart/form-data')) {
    const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': contentType as string } }).formData();
    let body: Record<string, unknown> = {};
    const files: UploadedFile[] = [];
    for (const [field, value] of form.entries()) {
      if (typeof value === 'string') {
        if (field === 'payload_json') {
          try {
            body = { ...body, ...(JSON.parse(value) as Record<string, unknown>) };
          } catch {
            throw discordError(50109);
          }
        } else body[field] = value;
      } else {
        files.push({ field, filename: value.name, contentType: value.type || null, data: Buffer.from(await value.arrayBuffer()) });
      }
    }
    return { body, files };
  }
  try {
    return { body: JSON.parse(raw.toString('utf8')) as unknown, files: [] };
  } catch {
    throw discordError(50109);
  }
}

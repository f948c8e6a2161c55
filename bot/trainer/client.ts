import type { z } from 'zod';
import { UserFacingError } from '../core/errors.js';
import { trainerValidator } from './contract.js';

/** The trainer service is down or unreachable; the job stays as it is and is checked again later. */
export class TrainerUnavailableError extends UserFacingError {
  override name = 'TrainerUnavailableError';
}

/** The trainer refused a request (bad body, unknown base model, job already ended...). */
export class TrainerRejectedError extends UserFacingError {
  override name = 'TrainerRejectedError';
  constructor(
    message: string,
    public readonly status: number,
  ) {
    super(message);
  }
}

export type TrainerJobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface TrainerJob {
  id: string;
  status: TrainerJobStatus;
  progress: { step?: number; total_steps?: number | null; fraction?: number; eta_s?: number | null };
  metrics: Record<string, number>;
  error?: string | null;
  artifacts: string[];
}

export interface TrainerEvent {
  seq: number;
  time: string;
  type: 'status' | 'step' | 'eval' | 'checkpoint' | 'message';
  status?: TrainerJobStatus;
  step?: number;
  total_steps?: number;
  loss?: number;
  eval_loss?: number;
  learning_rate?: number;
  tokens_per_s?: number;
  eta_s?: number;
  message?: string;
}

export interface TrainerJobRequest {
  persona: string;
  base_model: string;
  hyperparameters: Record<string, unknown>;
  /** frozen: the persona's frozen evaluation set (perplexity only, never trained on); frozen_ending: the card's declared ending. */
  dataset: { train: unknown[]; eval: unknown[]; frozen?: unknown[]; frozen_ending?: string | null };
}

/**
 * The bot's side of the trainer HTTP contract (DESIGN, "Trainer service"). Requests and answers
 * are checked against the same JSON Schema the trainer's pydantic models are tested with, so a
 * drifted trainer is reported as such instead of being half-understood.
 */
export class TrainerClient {
  private readonly validate = {
    request: trainerValidator('JobRequest'),
    created: trainerValidator('JobCreated'),
    job: trainerValidator('JobView'),
    events: trainerValidator('EventsPage'),
    health: trainerValidator('Health'),
  };

  private readonly timeoutMs: number;
  private readonly maxBodyBytes: number;

  constructor(
    public readonly url: string,
    private readonly token: string,
    opts: { timeoutMs?: number; maxBodyBytes?: number } = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    // The trainer's default limit (trainer/persona_trainer/guard.py, TRAINER_MAX_BODY_MB).
    this.maxBodyBytes = opts.maxBodyBytes ?? 256 * 1024 * 1024;
  }

  async health(): Promise<{ status: string; device: string; gpu?: string | null; version: string }> {
    return this.parse(this.validate.health, await this.call('GET', '/healthz'), 'GET /healthz');
  }

  /** Submits a job. The key makes it idempotent: asking again with it returns the same job. */
  async submit(request: TrainerJobRequest, idempotencyKey: string): Promise<{ id: string; status: TrainerJobStatus }> {
    const checked = this.validate.request.safeParse(request);
    if (!checked.success) throw new Error(`the job request does not match the trainer contract: ${describe(checked.error)}`);
    const body = JSON.stringify(request);
    const bytes = Buffer.byteLength(body);
    if (bytes > this.maxBodyBytes) {
      const mb = (n: number) => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${n} bytes`);
      throw new TrainerRejectedError(
        `The job is ${mb(bytes)} to send (${request.dataset.train.length} train + ${request.dataset.eval.length} eval lines), over the trainer's limit of ${mb(this.maxBodyBytes)} ` +
          `(TRAINER_MAX_BODY_MB on the bot and the trainer): raise both, or build a smaller dataset.`,
        413,
      );
    }
    const res = await this.call('POST', '/v1/jobs', { json: body, headers: { 'idempotency-key': idempotencyKey } });
    return this.parse(this.validate.created, res, 'POST /v1/jobs');
  }

  /** The job, or null when the trainer does not know it (deleted, or its store was lost). */
  async job(id: string): Promise<TrainerJob | null> {
    const res = await this.call('GET', `/v1/jobs/${encodeURIComponent(id)}`, { allow404: true });
    return res === null ? null : this.parse(this.validate.job, res, 'GET /v1/jobs/{id}');
  }

  async events(id: string, after: number): Promise<TrainerEvent[]> {
    const res = await this.call('GET', `/v1/jobs/${encodeURIComponent(id)}/events?after=${after}`);
    return this.parse<{ events: TrainerEvent[] }>(this.validate.events, res, 'GET /v1/jobs/{id}/events').events;
  }

  /** Asks the job to stop; 'ended' when it had already finished (409). */
  async cancel(id: string): Promise<TrainerJobStatus | 'ended'> {
    try {
      const res = await this.call('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`);
      return this.parse<{ status: TrainerJobStatus }>(this.validate.created, res, 'POST /v1/jobs/{id}/cancel').status;
    } catch (err) {
      if (err instanceof TrainerRejectedError && err.status === 409) return 'ended';
      throw err;
    }
  }

  /** Removes everything of the job on the trainer (dataset, checkpoints, artifacts). Unknown = already gone. */
  async delete(id: string): Promise<void> {
    await this.call('DELETE', `/v1/jobs/${encodeURIComponent(id)}`, { allow404: true, raw: true });
  }

  async artifact(id: string, name: string): Promise<Buffer> {
    const res = await this.call('GET', `/v1/jobs/${encodeURIComponent(id)}/artifacts/${encodeURIComponent(name)}`, { raw: true, timeoutMs: 300_000 });
    return Buffer.from(await (res as Response).arrayBuffer());
  }

  /** Checks an answer (its text) against the contract; T is the TypeScript view of that schema definition. */
  private parse<T>(schema: z.ZodType, text: unknown, route: string): T {
    let body: unknown;
    try {
      body = JSON.parse(String(text));
    } catch {
      throw new Error(`the trainer's answer to ${route} is not JSON: ${JSON.stringify(String(text).slice(0, 80))}`);
    }
    const r = schema.safeParse(body);
    if (!r.success) throw new Error(`the trainer's answer to ${route} does not match the contract: ${describe(r.error)}`);
    return r.data as T;
  }

  private async call(
    method: string,
    route: string,
    opts: { json?: string; headers?: Record<string, string>; allow404?: boolean; raw?: boolean; timeoutMs?: number } = {},
  ): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.url + route, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(opts.json !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
        body: opts.json,
        signal: AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs),
      });
    } catch (err) {
      throw new TrainerUnavailableError(`The trainer at ${this.url} is not answering (${(err as Error).cause ? String(((err as Error).cause as Error).message ?? (err as Error).cause) : (err as Error).message}).`);
    }
    if (res.status === 404 && opts.allow404) return null;
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      let reason = text.slice(0, 500);
      try {
        const parsed = JSON.parse(text) as { error?: string; detail?: unknown };
        reason = parsed.error ?? (typeof parsed.detail === 'string' ? parsed.detail : reason);
      } catch {
        // not JSON: keep the text
      }
      if (res.status === 401) reason = 'the trainer refused TRAINER_TOKEN';
      if (res.status >= 500) throw new TrainerUnavailableError(`The trainer at ${this.url} failed (${res.status}): ${reason}`);
      throw new TrainerRejectedError(`The trainer refused ${method} ${route.split('?')[0]} (${res.status}): ${reason}`, res.status);
    }
    if (opts.raw) return res;
    return res.text(); // parsed by parse(), which names the route when it is not JSON
  }
}

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
    .join('; ');
}

import { createHash } from 'node:crypto';
import { Ollama } from 'ollama';
import type { ChatRequest, ChatResult, ModelBackend, PublishRequest } from './ports.js';
import { InferenceUnavailableError, ModelMissingError } from './ports.js';

/**
 * The artifacts an Ollama model is made from: the GGUF adapter, which works for every base the
 * llama.cpp runner serves; else the PEFT files, which Ollama converts for llama and gemma2 bases.
 */
export function adapterArtifacts(artifacts: readonly string[]): string[] | null {
  if (artifacts.includes('adapter.gguf')) return ['adapter.gguf'];
  if (artifacts.includes('adapter_model.safetensors') && artifacts.includes('adapter_config.json')) return ['adapter_model.safetensors', 'adapter_config.json'];
  return null;
}

/**
 * The Ollama backend of the model-server port, over the `ollama` client: streaming chat with
 * timeouts, and errors turned into messages a user can act on; persona versions as Ollama models
 * (`FROM` the base with `ADAPTER`). Nothing here retries: the next message simply tries again, so
 * chat works again as soon as the server is back.
 */
export class OllamaClient implements ModelBackend {
  readonly kind = 'ollama';
  private readonly client: Ollama;

  constructor(
    public readonly host: string,
    private readonly opts: { headersTimeoutMs: number; requestTimeoutMs: number } = { headersTimeoutMs: 60_000, requestTimeoutMs: 120_000 },
  ) {
    this.client = new Ollama({ host, fetch: this.fetchWithTimeout });
  }

  /**
   * A server that is down refuses the connection at once (the user hears about it within
   * milliseconds); one that accepts but never answers is given up on after headersTimeoutMs
   * (loading a large model can legitimately take a while). The timeout covers only the wait
   * for the response headers, never the streamed body.
   */
  private readonly fetchWithTimeout = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException('no answer from the model server', 'TimeoutError')), this.opts.headersTimeoutMs);
    const signal = init?.signal ? AbortSignal.any([controller.signal, init.signal]) : controller.signal;
    try {
      return await fetch(input, { ...init, signal });
    } finally {
      clearTimeout(timer);
    }
  };

  async chat(req: ChatRequest): Promise<ChatResult> {
    req.signal?.throwIfAborted();
    const started = performance.now();
    const s = req.sampling ?? {};
    let stream;
    try {
      stream = await this.client.chat({
        model: req.model,
        messages: req.messages,
        stream: true,
        keep_alive: '30m',
        options: {
          ...(s.temperature !== undefined ? { temperature: s.temperature } : {}),
          ...(s.topP !== undefined ? { top_p: s.topP } : {}),
          ...(s.topK !== undefined ? { top_k: s.topK } : {}),
          ...(s.seed !== undefined ? { seed: s.seed } : {}),
          ...(s.maxTokens !== undefined ? { num_predict: s.maxTokens } : {}),
          ...(s.stop !== undefined ? { stop: s.stop } : {}),
          ...(req.contextTokens !== undefined ? { num_ctx: req.contextTokens } : {}),
        },
      });
    } catch (err) {
      throw this.explain(err, req.model);
    }
    const abort = () => stream.abort();
    req.signal?.addEventListener('abort', abort, { once: true });
    const overall = setTimeout(abort, this.opts.requestTimeoutMs);
    let text = '';
    let ttftMs = 0;
    let last: { prompt_eval_count?: number; eval_count?: number; load_duration?: number } = {};
    try {
      for await (const part of stream) {
        const delta = part.message?.content ?? '';
        if (delta) {
          if (!ttftMs) ttftMs = performance.now() - started;
          text += delta;
          req.onDelta?.(delta);
        }
        if (part.done) last = part;
      }
    } catch (err) {
      if ((err as Error).name === 'AbortError') {
        req.signal?.throwIfAborted(); // the caller's abort, not the timeout
        throw new InferenceUnavailableError(`The model took longer than ${Math.round(this.opts.requestTimeoutMs / 1000)} s to answer, so the reply was stopped. Try again in a moment.`);
      }
      throw this.explain(err, req.model);
    } finally {
      clearTimeout(overall);
      req.signal?.removeEventListener('abort', abort);
    }
    return {
      text,
      stats: {
        model: req.model,
        promptTokens: last.prompt_eval_count ?? 0,
        completionTokens: last.eval_count ?? 0,
        loadMs: (last.load_duration ?? 0) / 1e6,
        queuedMs: 0,
        ttftMs: ttftMs || performance.now() - started,
        totalMs: performance.now() - started,
      },
    };
  }

  async hasModel(model: string): Promise<boolean> {
    try {
      const { models } = await this.client.list();
      return models.some((m) => m.name === model || m.name === `${model}:latest` || m.model === model);
    } catch (err) {
      throw this.explain(err, model);
    }
  }

  has(name: string): Promise<boolean> {
    return this.hasModel(name);
  }

  adapterFiles(artifacts: readonly string[]): string[] | null {
    return adapterArtifacts(artifacts);
  }

  /**
   * Creates `name` FROM `base` with a LoRA adapter: a GGUF adapter (`adapter.gguf`), or PEFT
   * files (`adapter_model.safetensors` + `adapter_config.json`, which Ollama converts itself for
   * llama and gemma2 bases). Each file is uploaded as a blob by its digest (a HEAD first, so a
   * re-run uploads nothing), then `create` refers to them. Creating a name that exists replaces
   * it, so a retried publish converges on the same model.
   */
  async publish(input: PublishRequest): Promise<void> {
    const parameters = input.defaults?.temperature !== undefined ? { temperature: input.defaults.temperature } : undefined;
    const digests: Record<string, string> = {};
    try {
      for (const [file, data] of Object.entries(input.files)) {
        const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
        const blobUrl = `${this.host}/api/blobs/${digest}`;
        const head = await this.fetchWithTimeout(blobUrl, { method: 'HEAD' });
        if (head.status !== 200) {
          const res = await this.fetchWithTimeout(blobUrl, { method: 'POST', body: new Uint8Array(data) });
          if (!res.ok) throw new Error(`uploading ${file} failed (${res.status}): ${(await res.text()).slice(0, 300)}`);
        }
        digests[file] = digest;
      }
      await this.client.create({
        model: input.name,
        from: input.base,
        adapters: digests,
        ...(parameters ? { parameters } : {}),
        stream: false,
      });
    } catch (err) {
      throw this.explain(err, input.base);
    }
  }

  /** Removes a model; a model that is not there is already removed. */
  async remove(name: string): Promise<void> {
    try {
      await this.client.delete({ model: name });
    } catch (err) {
      const e = this.explain(err, name);
      if (e instanceof ModelMissingError) return;
      throw e;
    }
  }

  private explain(err: unknown, model: string): Error {
    const e = err as { name?: string; message?: string; status_code?: number; cause?: { code?: string } };
    const msg = e?.message ?? String(err);
    if (e?.status_code === 404 || /not found/i.test(msg)) {
      return new ModelMissingError(`The model "${model}" is not installed in the model server. An admin can run \`npm run setup\` (base model) or retrain the persona.`);
    }
    // The connection broke mid-stream (the server died or restarted): undici says "terminated",
    // with the socket's error as its cause.
    const dropped = msg === 'terminated' || ['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'].includes(e?.cause?.code ?? '');
    if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || e?.cause?.code === 'ECONNREFUSED' || dropped || /fetch failed|ECONNREFUSED|timeout/i.test(msg)) {
      return new InferenceUnavailableError(`The model server at ${this.host} is not answering right now, so I can't reply. Try again in a minute (admins: is Ollama running? \`npm run setup\` starts it).`);
    }
    return err instanceof Error ? err : new Error(msg);
  }
}

import { BoundedBackend, ChatSlots } from './bounded.js';
import { OllamaClient } from './ollama.js';
import type { ModelBackend } from './ports.js';

/** The model backends config can select (MODEL_BACKEND). */
export const MODEL_BACKENDS = ['ollama'] as const;
export type ModelBackendKind = (typeof MODEL_BACKENDS)[number];

/** What config gives the model server (bot/config.ts builds it from MODEL_* and OLLAMA_*). */
export interface InferenceSettings {
  backend: ModelBackendKind;
  /** The base model chat answers with when a persona has no active version. */
  baseModel: string;
  /** Longest wait for an answer to start (a request queued in the model server waits too). */
  requestTimeoutMs: number;
  /** Most chat requests at the model server at once (MODEL_MAX_CONCURRENCY); live chat goes first. */
  maxConcurrency: number;
  ollama: { host: string };
}

/** The configured backend, with its chat requests bounded by `maxConcurrency`. */
export function createModelBackend(settings: InferenceSettings): BoundedBackend {
  let backend: ModelBackend;
  switch (settings.backend) {
    case 'ollama':
      // A request queued behind others in the model server may wait long for its first byte: the
      // one limit is the request timeout (a server that is down is still reported at once: refused).
      backend = new OllamaClient(settings.ollama.host, { headersTimeoutMs: settings.requestTimeoutMs, requestTimeoutMs: settings.requestTimeoutMs });
      break;
  }
  return new BoundedBackend(backend, new ChatSlots(settings.maxConcurrency));
}

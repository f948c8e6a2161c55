import { UserFacingError } from '../core/errors.js';

/**
 * The model-server port: what the bot needs from whatever serves its models. Services, the
 * dataset builder and the prompt code depend on these types only (the lint rule
 * `model-server-through-the-port`); bot/inference/backends.ts picks the implementation from
 * config, so a new backend is one file that implements `ModelBackend`, plus one case there.
 */

/** A chat turn in the project's own shape: no backend's types reach past the port. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** How to sample a reply. Unset fields take the backend's (or the model's) defaults. */
export interface Sampling {
  temperature?: number;
  topP?: number;
  topK?: number;
  /** Same seed, same prompt, same model: the same reply (on backends that honour seeds). */
  seed?: number;
  /** Most tokens to generate. */
  maxTokens?: number;
  /** Generation stops at the first of these strings (not included in the text). */
  stop?: string[];
}

/**
 * Who is waiting. When every slot of the backend is busy, `interactive` requests (a member
 * waiting for a persona's reply) are served before `batch` ones (dataset generation).
 */
export type ChatPriority = 'interactive' | 'batch';

export interface ChatRequest {
  /** The base model's name, or a published persona version's (`AdapterHost.publish`). */
  model: string;
  messages: ChatMessage[];
  sampling?: Sampling;
  /**
   * The context window for this request. Chat leaves it unset: on Ollama a different value per
   * request reloads the runner; the prompt is budgeted to CHAT_CONTEXT_TOKENS instead.
   */
  contextTokens?: number;
  /** Default `interactive`. */
  priority?: ChatPriority;
  /** Called with each new piece of text as it streams. */
  onDelta?: (delta: string) => void;
  /** Aborting stops the generation (or takes the request out of the queue) and rejects with an AbortError. */
  signal?: AbortSignal;
}

export interface ChatStats {
  model: string;
  promptTokens: number;
  completionTokens: number;
  /** The prompt's token ids, where the backend reports them (Ollama does not: then absent). */
  promptTokenIds?: number[];
  /** Time the backend reports spent loading the model (a persona switch may reload). */
  loadMs: number;
  /** Time waiting for a free slot before the request reached the backend. */
  queuedMs: number;
  /** Milliseconds from sending the request to its first token, and to its end (not counting queuedMs). */
  ttftMs: number;
  totalMs: number;
}

export interface ChatResult {
  text: string;
  stats: ChatStats;
}

/** Streams chat completions. */
export interface ChatModel {
  chat(req: ChatRequest): Promise<ChatResult>;
  /** Whether the backend can serve this model (a base model or a published version) now. */
  hasModel(model: string): Promise<boolean>;
}

export interface PublishRequest {
  /** The version's model name (`personaModelName`). */
  name: string;
  /** The base model the adapter was trained on. */
  base: string;
  /** Adapter files by name, as `adapterFiles` chose them from the trainer's artifacts. */
  files: Record<string, Buffer>;
  /** Sampling defaults stored with the model where the backend keeps them. */
  defaults?: { temperature?: number };
}

/** Serves persona versions: a base model plus a LoRA adapter, under a name chat can ask for. */
export interface AdapterHost {
  /**
   * Which of a trainer job's artifacts this host makes a version from, in its order of
   * preference; null when none of the forms it loads is there.
   */
  adapterFiles(artifacts: readonly string[]): string[] | null;
  has(name: string): Promise<boolean>;
  /**
   * Makes `name` answer with `base` + the adapter. Idempotent: publishing a name that exists
   * replaces it, so a retried publish (after a crash, or to restore a version the server lost)
   * converges on the same model.
   */
  publish(req: PublishRequest): Promise<void>;
  /** Removes a version; one that is not there is already removed. */
  remove(name: string): Promise<void>;
}

/** One model server: chat and adapters (every backend here does both). */
export interface ModelBackend extends ChatModel, AdapterHost {
  /** The backend's kind, for logs and /persona info (e.g. "ollama"). */
  readonly kind: string;
}

/** The model name of a persona version: the same on every backend. */
export function personaModelName(slug: string, version: number): string {
  return `persona-${slug}:v${version}`;
}

/** The model server is down or unreachable: shown to the user, retried on the next message. */
export class InferenceUnavailableError extends UserFacingError {
  override name = 'InferenceUnavailableError';
}

/** The persona's model does not exist in the model server. */
export class ModelMissingError extends UserFacingError {
  override name = 'ModelMissingError';
}

/**
 * The shapes of the jsonb columns that the bot reads back (schema.ts types them with `$type`),
 * so readers get typed values without casts. The database does not check them: every writer
 * goes through drizzle with these types.
 */

/** Seconds per phase of a fine-tuning job, measured by the bot (the finetune benchmark reads them). */
export type JobPhase = 'dataset_s' | 'submit_s' | 'trainer_s' | 'ollama_s' | 'evaluation_s' | 'activation_s';

/** What a job's status message shows; kept in finetune_jobs.progress. */
export interface JobProgress {
  step?: number;
  totalSteps?: number | null;
  loss?: number;
  evalLoss?: number;
  bestEvalLoss?: number;
  initialEvalLoss?: number;
  tokensPerS?: number;
  etaS?: number | null;
  datasetLines?: { train: number; eval: number };
  /** A passing condition worth showing (waiting for the trainer, model server down...). */
  note?: string;
  model?: string;
  version?: number;
  activated?: boolean;
  gate?: string;
  /** Where the time went (`ollama_s`: publishing the version on the model server, whichever backend). */
  phases?: Partial<Record<JobPhase, number>>;
  /** When the trainer accepted the job (ms since the epoch). */
  submittedAt?: number;
  /** Times the job was taken back from the trainer because a forget or purge redacted its dataset. */
  restarts?: number;
}

/**
 * A version's style over its replies to the evaluation probes (personas/style-metrics.ts computes
 * it). Rates are 0-1; null where the card declares nothing to measure.
 */
export interface StyleMetrics {
  replies: number;
  markers_all: number | null;
  ends_with: number | null;
  lexicon: number | null;
  forbid_rate: number;
  breaks_rate: number;
  mean_fit: number;
  mean_length: number;
  median_length: number;
  /** Distinct word bigrams over all bigrams, across every reply. */
  distinct2: number;
  /** Replies with a reply to another probe at word 3-gram Jaccard of 0.5 or more. */
  near_duplicate_rate: number;
  truncation_rate: number;
}

/** One evaluation of a persona version (persona_evaluations.metrics). */
export interface EvaluationMetrics extends StyleMetrics {
  probes: number;
  samples: number;
  /** Share of lore probes whose replies mention the probe's key facts (null: no facts given). */
  lore_facts: number | null;
  /** Perplexity on the persona's frozen evaluation set (null: not measured). */
  perplexity: number | null;
  /**
   * Cross-persona separability: share of the replies a style classifier (markers stripped, fitted
   * on every persona's latest dataset) attributes to this persona; null with fewer than two personas
   * with a dataset. Absent on evaluations stored before it was measured.
   */
  separability?: number | null;
  /** What guessing would score: 1 / the number of personas the classifier was fitted on. */
  separability_chance?: number | null;
}

/** A line of a persona's frozen evaluation set: the dataset line contract (DESIGN "Dataset"). */
export interface FrozenLine {
  id: string;
  persona: string;
  source: 'card' | 'synthetic' | 'chat_log';
  messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
}

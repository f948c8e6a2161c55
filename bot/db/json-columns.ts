/**
 * The shapes of the jsonb columns that the bot reads back (schema.ts types them with `$type`),
 * so readers get typed values without casts. The database does not check them: every writer
 * goes through drizzle with these types.
 */

/** Seconds per phase of a fine-tuning job, measured by the bot (the finetune benchmark reads them). */
export type JobPhase = 'dataset_s' | 'submit_s' | 'trainer_s' | 'ollama_s' | 'activation_s';

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
}

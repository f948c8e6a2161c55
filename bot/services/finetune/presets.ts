import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ValidationError } from '../../core/errors.js';
import { trainerValidator } from '../../trainer/contract.js';

/** trainer/presets, from source (bot/services/finetune) and from a build (dist/bot/services/finetune). */
const PRESETS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../trainer/presets');

/** The options of `/finetune start` that become hyperparameters (keys as in the trainer contract). */
export interface FinetuneOptions {
  epochs?: number;
  learning_rate?: number;
  rank?: number;
  base_model?: string;
}

let hyperparameterValidator: ReturnType<typeof trainerValidator> | undefined;
function hyperparameterSchema() {
  hyperparameterValidator ??= trainerValidator('Hyperparameters');
  return hyperparameterValidator;
}

/**
 * The preset in trainer/presets plus FINETUNE_HYPERPARAMETERS, checked against the trainer
 * contract. loadConfig calls this, so a missing preset or a bad override stops start-up as a
 * configuration error instead of failing the first job.
 */
export function loadHyperparameterDefaults(preset: string, overrides: Record<string, unknown>): Record<string, unknown> {
  let fromPreset: Record<string, unknown>;
  try {
    fromPreset = (JSON.parse(readFileSync(path.join(PRESETS_DIR, `${preset}.json`), 'utf8')) as { hyperparameters: Record<string, unknown> }).hyperparameters;
  } catch (err) {
    throw new ConfigError([`FINETUNE_PRESET: no readable preset "${preset}" in trainer/presets (${(err as Error).message.split('\n')[0]})`]);
  }
  const merged = { ...fromPreset, ...overrides };
  const checked = hyperparameterSchema().safeParse(merged);
  if (!checked.success) {
    throw new ConfigError(checked.error.issues.map((i) => `FINETUNE_HYPERPARAMETERS: ${i.path.join('.') || '(object)'}: ${i.message}`));
  }
  return merged;
}

/** A job's hyperparameters: the defaults with what the user chose on top; a bad value names its option. */
export function hyperparametersFor(defaults: Record<string, unknown>, options: FinetuneOptions): Record<string, unknown> {
  const chosen = Object.fromEntries(Object.entries({ epochs: options.epochs, learning_rate: options.learning_rate, rank: options.rank }).filter(([, v]) => v !== undefined));
  const merged = { ...defaults, ...chosen };
  const checked = hyperparameterSchema().safeParse(merged);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new ValidationError(String(issue.path[0] ?? 'hyperparameters'), issue.message);
  }
  return merged;
}

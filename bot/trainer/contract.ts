import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/**
 * The bot side of the trainer contract: zod validators built from the one JSON Schema the
 * trainer's pydantic models are tested against (trainer/schema/trainer-api.schema.json), so
 * both sides check the same shapes.
 */
export const TRAINER_SCHEMA_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../trainer/schema/trainer-api.schema.json');

type Definition = 'Hyperparameters' | 'DatasetLine' | 'JobRequest' | 'JobCreated' | 'JobView' | 'Event' | 'EventsPage' | 'Health';

let root: { $defs: Record<string, unknown> } | undefined;

export function trainerValidator(name: Definition): z.ZodType {
  root ??= JSON.parse(readFileSync(TRAINER_SCHEMA_FILE, 'utf8')) as { $defs: Record<string, unknown> };
  if (!root.$defs[name]) throw new Error(`${TRAINER_SCHEMA_FILE} has no definition ${name}`);
  return z.fromJSONSchema({ ...root, $ref: `#/$defs/${name}` } as Parameters<typeof z.fromJSONSchema>[0]);
}

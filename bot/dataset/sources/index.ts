import { cardSource } from './card.js';
import { chatLogSource } from './chat-logs.js';
import type { DatasetSource } from './source.js';
import { syntheticSource } from './synthetic.js';

/**
 * Every dataset source, in the order they are read, which is the order of DATASET_SOURCES (the
 * line contract; test/unit/dataset-sources.test.ts checks they agree).
 */
export const SOURCES: readonly DatasetSource[] = [cardSource, syntheticSource, chatLogSource];


import { expect } from 'vitest';
import type { TestApp } from '../support/app.js';
import { lifecycleViolations } from '../support/scan.js';

/** After a fuzz run against an app: every accepted write has landed, and no stored row breaks the data lifecycle (nothing half-written). */
export async function expectLifecycleIntact(t: TestApp): Promise<void> {
  await t.app.writer.drainPoint();
  expect(await lifecycleViolations(t.app.database, t.keys)).toEqual([]);
}

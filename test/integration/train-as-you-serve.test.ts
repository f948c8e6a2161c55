import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Database } from '../../bot/db/client.js';
import { buildDataset } from '../../bot/dataset/build.js';
import type { DatasetLine } from '../../bot/dataset/line.js';
import { parseCard } from '../../bot/personas/card.js';
import type { PromptShape } from '../../bot/personas/prompt.js';
import { buildPrompt } from '../../bot/personas/prompt.js';
import { openTestDatabase, testKeys } from '../support/db.js';
import { baseModelFile, trainerVenv } from '../support/trainer-process.js';

const card = parseCard(
  'persona-data/pim.md',
  'pim',
  `---
name: Pim
greeting: "Pim here, by the kettle."
---
## Personality
Pim is a tea-shop owner who answers in short, warm sentences and always offers a cup.

## Example dialogue
{{user}}: Is it raining?
{{char}}: Pouring, friend. Best weather for tea.

{{user}}: Are you open today?
{{char}}: Open every day but Tuesday, friend. Tea?
{{user}}: What do you recommend?
{{char}}: The smoky black, always. It tastes like a campfire in a cup.
`,
);

/**
 * Token ids with the base model's real tokenizer, through the trainer's own rendering: each
 * line as the trainer tokenizes it, and each served prompt as the model receives it (the
 * chat template with the assistant header for the reply to come).
 */
function tokenIds(req: { line: DatasetLine['messages']; served: Record<string, { role: string; content: string }[]> }): { line: number[]; served: Record<string, number[]> } {
  const script = `
import json, sys
from persona_trainer.data import render, tokenize_messages
from persona_trainer.model import load_tokenizer, local_model_dir, resolve_base_model
req = json.load(sys.stdin)
tok = load_tokenizer(local_model_dir(resolve_base_model("smollm2-135m")))
ids = lambda text: tok(text, add_special_tokens=False)["input_ids"]
print(json.dumps({"line": tokenize_messages(tok, req["line"])[0],
                  "served": {k: ids(render(tok, m, add_generation_prompt=True)) for k, m in req["served"].items()}}))
`;
  const out = execFileSync(path.join(trainerVenv(), 'bin/python'), ['-c', script], {
    cwd: path.resolve('trainer'),
    input: JSON.stringify(req),
    encoding: 'utf8',
    env: { ...process.env, TRAINER_BASE_MODELS: `smollm2-135m=${baseModelFile()}`, HF_HUB_OFFLINE: '1' },
    timeout: 10 * 60_000,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

function firstDifference(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

describe('train as you serve: a training line and the served prompt share their token ids', () => {
  let database: Database;
  let cacheDir: string;
  beforeAll(async () => {
    database = await openTestDatabase('pglite');
    cacheDir = mkdtempSync(path.join(os.tmpdir(), 'serve-cache-'));
  });
  afterAll(async () => {
    await database?.close();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('adapter versions served with the trained layout see exactly the line up to its last reply; the few-shot layout does not', async () => {
    const build = await buildDataset(
      { db: database.db, keys: testKeys() },
      { card, policyVersion: 1, allowChatLogTraining: true, baseModel: inject('ollamaBaseModel'), cacheDir, store: false, logScope: 'every-server', settings: { syntheticPerChunk: 0, teacherDialogues: 0, perUserShare: 1 } },
    );
    // The card's second example dialogue: two exchanges, so the served side has history too.
    const line = build.readLines().map((l) => l.line).find((l) => l.messages.length === 5);
    expect(line, 'the two-exchange example dialogue is a line').toBeDefined();
    const turns = line!.messages.filter((m) => m.role !== 'system');
    const served = (shape: PromptShape) =>
      buildPrompt({
        card,
        lore: [],
        history: turns.slice(0, -2).map((t) => ({ role: t.role as 'user' | 'assistant', content: t.content })),
        userName: 'friend',
        userMessage: turns.at(-2)!.content,
        budget: { contextTokens: 2048, replyTokens: 256 },
        shape,
      }).messages;

    const ids = tokenIds({ line: line!.messages, served: { trained: served('trained'), 'few-shot': served('few-shot') } });
    // What the model sees before the reply is the line's every token before the reply's text.
    const trained = ids.served.trained!;
    expect(trained.length).toBeGreaterThan(30);
    expect(ids.line.slice(0, trained.length)).toEqual(trained);
    expect(ids.line.length).toBeGreaterThan(trained.length + 5);
    // The few-shot layout puts the card's examples between the system prompt and the conversation.
    const fewShot = ids.served['few-shot']!;
    expect(firstDifference(fewShot, ids.line)).toBeLessThan(trained.length);
  });
});

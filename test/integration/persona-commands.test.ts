import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatch } from '../../commands/dispatch.js';
import { personaCommand } from '../../commands/persona.js';
import type { CommandContext } from '../../commands/types.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { recordingContext } from '../support/context.js';

const context = (subcommand: string, options: CommandContext['options'], canManageGuild = true) => recordingContext(subcommand, options, { canManageGuild });

describe('/persona dataset', () => {
  let t: TestApp;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'persona-ds-'));
    // No lore sections: the build needs no model calls, only the card's example dialogues.
    writeFileSync(
      path.join(dir, 'pebble.md'),
      '---\nname: Pebble\ngreeting: "..."\n---\n## Personality\nA quiet stone.\n## Example dialogue\n{{user}}: Hello there, stone.\n{{char}}: Hmm. A visitor. The river has been loud this spring, friend.\n\n{{user}}: What do you do all day?\n{{char}}: I sit, I listen, and I let the moss grow on my north side.\n',
    );
    t = await createTestApp('pglite', { env: { PERSONA_DIR: dir, DATA_DIR: dir } });
  });
  afterAll(async () => {
    await t?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds and stores a dataset version, shows its statistics and attaches the JSONL (admins only)', async () => {
    const ctx = context('dataset', { name: 'Pebble' });
    expect(await dispatch(personaCommand, ctx, t.app)).toEqual({ kind: 'ok' });
    const reply = ctx.replies.at(-1)!;
    expect(reply.ephemeral).toBe(true);
    expect(reply.content).toMatch(/card/i);
    const file = reply.files![0]!;
    expect(file.name).toMatch(/^pebble-dataset-v\d+\.jsonl$/);
    const lines = file.data.toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { persona: string; source: string; messages: { role: string }[] });
    expect(lines.length).toBe(2);
    for (const l of lines) {
      expect(l).toMatchObject({ persona: 'pebble', source: 'card' });
      expect(l.messages.at(-1)!.role).toBe('assistant');
    }
    const denied = context('dataset', { name: 'Pebble' }, false);
    expect(await dispatch(personaCommand, denied, t.app)).toMatchObject({ kind: 'denied' });
    expect(denied.replies[0]!.content).toContain('Manage Server');
  });
});

describe('/persona chat', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite', { env: { CHAT_RATE_PER_MINUTE: '2' } });
  });
  afterAll(async () => t?.destroy());

  it('counts against the chat rate limit with or without a message, before any thread is opened', async () => {
    let threads = 0;
    const openThread = async () => ({ channelId: `${700 + ++threads}`.padStart(18, '1'), parentId: '100000000000000002' });
    const outcomes = [];
    for (let i = 0; i < 3; i++) {
      const ctx = recordingContext('chat', { name: 'Glordon' }, { openThread });
      outcomes.push({ outcome: await dispatch(personaCommand, ctx, t.app), reply: ctx.replies.at(-1)?.content ?? '' });
    }
    expect(outcomes.slice(0, 2).map((o) => o.outcome)).toEqual([{ kind: 'ok' }, { kind: 'ok' }]);
    expect(outcomes[2]!.outcome).toMatchObject({ kind: 'denied' });
    expect(outcomes[2]!.reply).toMatch(/faster than I can answer/);
    expect(threads).toBe(2); // the refused use opened no thread
  });
});

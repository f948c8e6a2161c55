import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, inject, it } from 'vitest';

/**
 * The local console as a newcomer meets it: `npm start` with no Discord token, driven through
 * its stdin and stdout, on the embedded database and the real model server.
 */
it('answers as Glordon through the console, streaming, and runs consent commands (forget after a typed yes)', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'persona-console-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'bot/main.ts'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, OLLAMA_HOST: inject('ollamaHost'), OLLAMA_BASE_MODEL: inject('ollamaBaseModel'), CHAT_MAX_REPLY_TOKENS: '48' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let chunks = 0;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    chunks++;
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const waitFor = async (pattern: RegExp, from: number, timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const m = out.slice(from).match(pattern);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${pattern}; output so far:\n${out}\nstderr:\n${err}`);
  };
  const send = async (line: string, until: RegExp) => {
    const from = out.length;
    child.stdin.write(`${line}\n`);
    return waitFor(until, from);
  };
  try {
    await waitFor(/personas: .*Glordon.*\n> $/, 0, 60_000);
    await send('/persona list', /Glordon: base model, prompt only[\s\S]*> $/);
    await send('/persona chat Glordon', /Glordon: Oh! A visitor![^\n]*\n> $/);
    const before = chunks;
    const reply = await send('What do you eat?', /Glordon: ([\s\S]+)\n> $/);
    expect(reply[1]!.trim().length).toBeGreaterThan(0);
    expect(chunks - before).toBeGreaterThan(2); // the reply arrived in pieces, as it streamed
    await send('/persona info nobody', /There is no persona called "nobody"/);
    await send('/consent status', /You have not opted in[\s\S]*Messages of yours stored in this server: 0/);
    await send('/logging on', /Logging is now \*?\*?on|Logging is now on/);
    await send('/consent opt-in', /You are now opted in \(consent policy v1\)/);
    await send('Tell me about Wibble.', /Glordon: [\s\S]+\n> $/);
    await send('/consent status', /Messages of yours stored in this server: 1/);
    // The same confirm as Discord's button: "no" cancels, "yes" runs the command's confirmed action.
    await send('/consent forget', /cannot be undone[\s\S]*Type "yes" to erase my data: $/);
    await send('no', /Cancelled: nothing was done\.\n> $/);
    await send('/consent status', /Messages of yours stored in this server: 1/);
    await send('/consent forget', /Type "yes" to erase my data: $/);
    await send('yes', /Erased: 1 messages[^\n]*\n> $/);
    await send('/consent status', /You have not opted in[\s\S]*stored in this server: 0/);
    // /finetune is there too; without a trainer it says how to set one up.
    await send('/finetune list', /No training jobs yet/);
    await send('/finetune start Glordon epochs:2', /Fine-tuning is not set up on this bot: an admin sets TRAINER_URL and TRAINER_TOKEN/);
    await send('/finetune start Glordon epochs:99', /epochs: .*1 to 10/);
    await send('/persona end', /The conversation with Glordon has ended/);
    child.stdin.end();
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(0);
  } finally {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 300_000);

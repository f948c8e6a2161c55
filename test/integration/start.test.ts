import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { freePort } from '../support/pg-cluster.js';

/** `npm start` on the embedded defaults: migrates PGlite, generates keys, serves /healthz, drains on SIGTERM. */
it('starts on embedded PGlite with generated keys and shuts down cleanly', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'persona-bot-start-'));
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'bot/main.ts'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, HEALTH_PORT: String(port), LOG_LEVEL: 'debug' },
    stdio: ['pipe', 'pipe', 'pipe'], // stdin stays open: with no Discord token the console reads it
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  try {
    const deadline = Date.now() + 60_000;
    let health: { status: string; database: string } | undefined;
    while (Date.now() < deadline && !health) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        health = (await res.json()) as typeof health;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    expect(health, output).toMatchObject({ status: 'ok', database: 'ok' });
    expect(output).toContain('persona-bot console');
    expect(output).toContain(`"health":"127.0.0.1:${port}"`); // no auth on it: loopback by default
    const secrets = path.join(dataDir, 'secrets.json');
    expect(existsSync(secrets)).toBe(true);
    expect(statSync(secrets).mode & 0o077).toBe(0); // readable by the owner only
    const keys = JSON.parse(readFileSync(secrets, 'utf8')) as Record<string, string>;
    expect(output).not.toContain(keys.messageKey); // secrets are never logged
    const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
  } finally {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 90_000);

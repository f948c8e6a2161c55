import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConsole } from '../../bot/console/console.js';
import { createLogger } from '../../bot/core/logger.js';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * A message's words never reach the logs, not even when the database fails under the query that
 * carries them: lore search binds the words, and a failed query's error holds its parameters.
 * The member here has not consented, so nothing of theirs may be kept anywhere.
 */
const MARKER = 'quixotrombone';

describe('logs when the database is down', () => {
  let t: TestApp;
  const logged: string[] = [];
  const log = createLogger('debug', 'test', new Writable({ write: (chunk: Buffer, _enc, done) => void (logged.push(chunk.toString()), done()) }));
  beforeAll(async () => {
    t = await createTestApp('pglite');
  });
  afterAll(async () => {
    await t?.app.close().catch(() => undefined);
  });

  it('a console message to a persona fails with a reply, and the log says what failed without the message’s words', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let out = '';
    output.on('data', (d: Buffer) => (out += d.toString()));
    const until = async (pattern: RegExp) => {
      const deadline = Date.now() + 30_000;
      while (!pattern.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(out).toMatch(pattern);
    };
    const console = runConsole(t.app, { input, output, log });
    input.write('/persona chat Glordon\n');
    await until(/Glordon: Oh! A visitor!/);
    await t.app.database.close(); // the database goes away under the bot
    input.write(`Tell me about the ${MARKER} on the moon.\n`);
    await until(/Something went wrong|went wrong|try again/i);
    input.end();
    await console.catch(() => undefined);

    const text = logged.join('');
    expect(text).toContain('console chat failed');
    expect(text).toMatch(/Failed query: .*\\nparams: \[redacted\]/);
    expect(text).not.toContain(MARKER);
  });

  it('cleans every way an error is logged: as a field, as the first argument, as its message, and as a cause', async () => {
    const err = await t.app.lore.search('glordon', `${MARKER} tides`, 3).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toContain(MARKER); // the raw error does hold the words
    const before = logged.length;
    log.error({ err }, 'as a field');
    log.error(err, 'as the first argument');
    log.warn({ err: err!.message }, 'as its message');
    log.error({ err: new Error('wrapped', { cause: err }) }, 'as a cause');
    const text = logged.slice(before).join('');
    expect(text).toContain('as a cause');
    expect(text.match(/params: \[redacted\]/g)?.length).toBeGreaterThanOrEqual(4);
    expect(text).not.toContain(MARKER);
  });
});

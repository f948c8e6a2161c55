import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PreconditionError } from '../../bot/core/errors.js';
import { PERSONA_NSFW } from '../../bot/personas/nsfw.js';
import { loggedMessages } from '../../bot/db/schema.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { snowflake } from '../support/db.js';
import { recordingVoice } from '../support/voice.js';

/** onUserMessage: the one path a person's message takes in every transport (Discord and the console call it). */
describe('a message through UserMessageService', () => {
  let t: TestApp;
  let dir: string;
  const GUILD = snowflake(1);
  const CHANNEL = snowflake(2);
  const USER = snowflake(3);
  let n = 10;
  const message = (content: string) => ({ id: snowflake(1000 + n++), guildId: GUILD, channelId: CHANNEL, authorId: USER, content, createdAt: new Date(), source: 'discord' as const });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'user-message-'));
    cpSync('persona-data/glordon.md', path.join(dir, 'glordon.md'));
    t = await createTestApp('pglite', { env: { PERSONA_DIR: dir, CHAT_MAX_REPLY_TOKENS: '8' } });
    await t.app.channels.set(GUILD, CHANNEL, true);
    await t.app.consent.optIn(GUILD, USER);
  });
  afterAll(async () => {
    await t?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is logged under the logging rules, answered by the bound persona, and refused on the next turn once the card says nsfw', async () => {
    const voice = recordingVoice();
    const unbound = await t.app.userMessages.onUserMessage({ message: message('anyone here?'), userName: 'Sam', channelIsNsfw: false, voice, receivedAt: performance.now() });
    expect(unbound).toEqual({ kind: 'unbound' });

    await t.app.chat.open({ guildId: GUILD, channelId: CHANNEL, persona: t.app.personas.get('glordon'), channelIsNsfw: false });
    const answered = await t.app.userMessages.onUserMessage({ message: message('What do you eat?'), userName: 'Sam', channelIsNsfw: false, voice, receivedAt: performance.now() });
    expect(answered.kind).toBe('answered');
    expect(voice.messages).toHaveLength(1);

    // The operator marks the card nsfw: the open conversation stops answering in this channel at once.
    writeFileSync(path.join(dir, 'glordon.md'), readFileSync(path.join(dir, 'glordon.md'), 'utf8').replace(/^nsfw: false$/m, 'nsfw: true'));
    await t.app.personas.load();
    expect(t.app.personas.get('glordon').nsfw).toBe(true);
    const refused = t.app.userMessages.onUserMessage({ message: message('Still there?'), userName: 'Sam', channelIsNsfw: false, voice, receivedAt: performance.now() });
    await expect(refused).rejects.toBeInstanceOf(PreconditionError);
    await expect(refused).rejects.toMatchObject({ identifier: PERSONA_NSFW });
    expect(voice.messages).toHaveLength(1); // nothing was said
    // In an age-restricted channel it answers again.
    expect((await t.app.userMessages.onUserMessage({ message: message('And now?'), userName: 'Sam', channelIsNsfw: true, voice, receivedAt: performance.now() })).kind).toBe('answered');

    await t.app.writer.drainPoint();
    expect(await t.app.database.db.$count(loggedMessages)).toBe(4); // every message was logged, answered or not
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../bot/console/parse.js';
import { dispatch, preconditionsOf } from '../../commands/dispatch.js';
import { COMMANDS } from '../../commands/index.js';
import { optionReader } from '../../commands/options.js';
import { personaCommand } from '../../commands/persona.js';
import type { CommandContext } from '../../commands/types.js';
import { recordingContext } from '../support/context.js';
import type { App } from '../../bot/app.js';
import { APOLOGY, classifyError, PreconditionError, ValidationError } from '../../bot/core/errors.js';
import { nsfwRule, PERSONA_NSFW } from '../../bot/personas/nsfw.js';
import { PersonaRegistry } from '../../bot/personas/registry.js';

describe('classifyError: denied vs errored, in one place', () => {
  it('shows a UserFacingError as is, with its identifier; anything else is errored with the apology', () => {
    expect(classifyError(new ValidationError('rank', 'expected a whole number'))).toEqual({ kind: 'denied', identifier: 'ValidationError', message: 'rank: expected a whole number' });
    expect(classifyError(new PreconditionError('preconditionManageGuild', 'no'))).toMatchObject({ kind: 'denied', identifier: 'preconditionManageGuild' });
    const bug = new TypeError("cannot read 'x' of undefined");
    expect(classifyError(bug)).toEqual({ kind: 'errored', error: bug, message: APOLOGY });
    expect(classifyError('a string thrown')).toMatchObject({ kind: 'errored' });
  });
});

describe('typed option getters', () => {
  const get = optionReader({ name: 'Glordon', version: 2, learning_rate: 0.0005, replace: true });
  it('return the value as its type, or undefined when not given', () => {
    expect(get.string('name', true)).toBe('Glordon');
    expect(get.integer('version')).toBe(2);
    expect(get.number('learning_rate')).toBe(0.0005);
    expect(get.boolean('replace')).toBe(true);
    expect(get.string('message')).toBeUndefined();
  });
  it('name the option when it is missing or of another type', () => {
    expect(() => get.string('message', true)).toThrow(/^message: is required$/);
    expect(() => get.integer('name')).toThrow(/^name: expected a whole number$/);
    expect(() => get.integer('learning_rate')).toThrow(/^learning_rate: expected a whole number$/);
    expect(() => get.string('version')).toThrow(ValidationError);
  });
});

describe('the NSFW rule', () => {
  const card = (nsfw: boolean) => ({ name: 'Vex', nsfw }) as Parameters<typeof nsfwRule>[0];
  it('lets an age-restricted persona talk only in an age-restricted channel, and says so with its identifier', () => {
    expect(nsfwRule(card(true), { nsfw: true })).toEqual({ ok: true });
    expect(nsfwRule(card(false), { nsfw: false })).toEqual({ ok: true });
    expect(nsfwRule(card(true), { nsfw: false })).toMatchObject({ ok: false, identifier: PERSONA_NSFW, message: expect.stringContaining('only chats in age-restricted (NSFW) channels') });
  });
});

describe('dispatch runs preconditions before the command', () => {
  let dir: string;
  let app: App;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'preconditions-'));
    writeFileSync(path.join(dir, 'vex.md'), '---\nname: Vex\ngreeting: "Hm."\nnsfw: true\n---\n## Personality\nSharp.\n');
    const personas = new PersonaRegistry(dir);
    await personas.load();
    // Only what the preconditions read: the refusals below come before the command touches anything else.
    app = { personas } as unknown as App;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const context = (subcommand: string, options: CommandContext['options'], over: { canManageGuild?: boolean; nsfw?: boolean } = {}) => {
    const ctx = recordingContext(subcommand, options, {
      canManageGuild: over.canManageGuild ?? false,
      nsfw: over.nsfw,
      openThread: async () => {
        throw new Error('a bug: reached only when the preconditions let the command run');
      },
    });
    return { ctx, replies: ctx.replies };
  };

  it('refuses /persona chat with an age-restricted persona outside an NSFW channel, by identifier, before anything runs', async () => {
    const { ctx, replies } = context('chat', { name: 'Vex' });
    expect(await dispatch(personaCommand, ctx, app)).toEqual({ kind: 'denied', identifier: PERSONA_NSFW, message: expect.stringContaining('Vex is an age-restricted persona') });
    expect(replies).toEqual([{ content: expect.stringContaining('age-restricted'), ephemeral: true }]);
  });

  it('refuses a Manage Server subcommand to a member without it, naming the command', async () => {
    const { ctx, replies } = context('rollback', { name: 'Vex', version: 1 });
    expect(await dispatch(personaCommand, ctx, app)).toMatchObject({ kind: 'denied', identifier: 'preconditionManageGuild' });
    expect(replies[0]!.content).toBe('You need the Manage Server permission to use /persona rollback.');
  });

  it('a bug in a command is errored: logged, and the user sees the apology', async () => {
    const { ctx, replies } = context('chat', { name: 'Vex' }, { nsfw: true });
    const logged: unknown[] = [];
    const log = { error: (o: unknown) => logged.push(o), warn: () => {} } as unknown as Parameters<typeof dispatch>[3];
    // The NSFW channel passes the precondition; the command then hits a bug (openThread throws).
    const outcome = await dispatch(personaCommand, ctx, app, log);
    expect(outcome.kind).toBe('errored');
    expect(logged).toHaveLength(1);
    expect(replies.at(-1)).toEqual({ content: APOLOGY, ephemeral: true });
  });

  it('every subcommand that needs Manage Server gets the precondition', () => {
    for (const command of COMMANDS) {
      const json = command.data.toJSON();
      for (const sub of (json.options ?? []).filter((o) => o.type === 1)) {
        const needs = command.manageGuild === true || (command.manageGuild ?? []).includes(sub.name);
        expect(preconditionsOf(command, sub.name).some((p) => p.name === 'manageGuild'), `/${json.name} ${sub.name}`).toBe(needs);
      }
    }
  });
});

describe('console command lines', () => {
  it('keeps a quoted value after an option name together (found by the fuzz suite: `name:"Corran Vask"` was split in two)', () => {
    expect(parseCommandLine('/persona info name:"Corran Vask"', COMMANDS).options).toEqual({ name: 'Corran Vask' });
    expect(parseCommandLine("/persona chat name:'Corran Vask' message:\"How are you?\"", COMMANDS).options).toEqual({ name: 'Corran Vask', message: 'How are you?' });
    expect(parseCommandLine('/persona chat Glordon "hello there" friend', COMMANDS).options).toEqual({ name: 'Glordon', message: 'hello there friend' });
  });
});

describe('option values are checked against the builder before anything runs (found by the fuzz suite)', () => {
  const app = { personas: { get: () => ({ name: 'Glordon', slug: 'glordon', nsfw: false }) } } as unknown as App;
  const run = async (command: (typeof COMMANDS)[number], subcommand: string, options: CommandContext['options']) => {
    const ctx = recordingContext(subcommand, options, { canManageGuild: true });
    let confirmed = false;
    ctx.confirm = async () => void (confirmed = true);
    return { outcome: await dispatch(command, ctx, app), confirmed };
  };
  const consent = COMMANDS.find((c) => c.data.name === 'consent')!;

  it('refuses a version beyond the database integer (was: 2147483648 reached Postgres and the user got the apology)', async () => {
    expect((await run(personaCommand, 'rollback', { name: 'Glordon', version: 2 ** 31 })).outcome).toEqual({
      kind: 'denied',
      identifier: 'ValidationError',
      message: 'version: expected a whole number from 0 to 2147483647, got 2147483648',
    });
    expect((await run(personaCommand, 'eval', { name: 'Glordon', version: 1e308 })).outcome).toMatchObject({ kind: 'denied', message: expect.stringMatching(/^version: /) });
    expect(() => parseCommandLine('/persona rollback Glordon 2147483648', COMMANDS)).toThrow(/^version: expected a whole number from 0 to 2147483647, got "2147483648"$/);
  });

  it('refuses a subcommand named like an Object property (was: "__proto__" crashed preconditionsOf with a TypeError)', async () => {
    expect((await run(personaCommand, '__proto__', {})).outcome).toMatchObject({ kind: 'denied', message: 'Unknown subcommand: __proto__' });
    expect(preconditionsOf(personaCommand, 'constructor')).toEqual([]);
  });

  it('refuses an option the builder does not declare, naming it (was: a long one made the confirm button id too long: errored)', async () => {
    const { outcome, confirmed } = await run(consent, 'forget', { note: 'w'.repeat(500) });
    expect(outcome).toEqual({ kind: 'denied', identifier: 'ValidationError', message: 'note: /consent forget has no such option (its registration with Discord may be out of date)' });
    expect(confirmed).toBe(false);
  });

  it('reads only decimal numbers on the console (was: " " became version 0, a rollback to prompt-only, and "0x10" became 16)', () => {
    expect(() => parseCommandLine('/persona rollback Glordon " "', COMMANDS)).toThrow(/^version: expected a whole number from 0 to 2147483647, got " "$/);
    expect(() => parseCommandLine('/persona rollback Glordon 0x10', COMMANDS)).toThrow(/^version: /);
    expect(parseCommandLine('/finetune start Glordon learning_rate:2e-4 epochs:+3', COMMANDS).options).toEqual({ persona: 'Glordon', learning_rate: 2e-4, epochs: 3 });
  });
});

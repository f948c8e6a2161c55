import path from 'node:path';
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { COMMANDS } from '../../commands/index.js';
import { dispatch } from '../../commands/dispatch.js';
import type { Command, CommandContext, Reply } from '../../commands/types.js';
import type { App } from '../app.js';
import type { Logger } from '../core/logger.js';
import type { PersonaVoice } from '../services/chat.js';
import { classifyError } from '../core/errors.js';
import { CONSOLE_GUILD_ID } from '../core/ids.js';
import { saveAttachments } from './attachments.js';
import { parseCommandLine } from './parse.js';

/** The console is one local "server" with one channel and one user who may manage it. */
export { CONSOLE_GUILD_ID } from '../core/ids.js';
export const CONSOLE_CHANNEL_ID = '100000000000000002';
export const CONSOLE_USER_ID = '100000000000000003';
const CONSOLE_CHANNEL = { id: CONSOLE_CHANNEL_ID, parentId: null, nsfw: false, isThread: false, isDM: false } as const;

const DISCORD_EPOCH = 1420070400000n;
let sequence = 0n;
/** Snowflake-shaped ids for console messages, so they go through the same validation as Discord's. */
export function consoleSnowflake(): string {
  sequence = (sequence + 1n) & 0xfffn;
  return (((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) | sequence).toString();
}

const HELP = `Commands (as in Discord, typed as text):
  /persona list | /persona info <name> | /persona chat <name> [message] | /persona end
  /persona scorecard <name> | /persona dataset <name> | /persona rollback <name> <version>
  /finetune start <persona> [epochs:N learning_rate:X rank:N base_model:M] | status [job] | list | cancel <job>
  /consent opt-in | opt-out | status | forget       /logging on | off | status
  /help   /quit
Anything else is a message to the persona you are chatting with.`;

/**
 * The local console: the same command handlers as Discord behind a text adapter, on the embedded
 * database and the local model server. Runs when no DISCORD_TOKEN is set.
 */
export async function runConsole(app: App, io: { input: Readable; output: Writable; log?: Logger; userName?: string }): Promise<void> {
  const out = (s: string) => io.output.write(s);
  const rl = readline.createInterface({ input: io.input, terminal: false });
  const lines = rl[Symbol.asyncIterator]();
  const userName = io.userName ?? 'you';
  const prompt = () => out('> ');

  const voice: PersonaVoice = {
    async speak(persona, produce) {
      out(`${persona.name}: `);
      let printed = false;
      await produce((delta) => {
        printed = true;
        out(delta);
      });
      if (!printed) out('…');
      out('\n');
      return { messageId: consoleSnowflake() };
    },
  };

  const context = (command: Command, subcommand: string | null, options: CommandContext['options']): CommandContext => ({
    transport: 'console',
    user: { id: CONSOLE_USER_ID, name: userName, canManageGuild: true },
    guildId: CONSOLE_GUILD_ID,
    channel: CONSOLE_CHANNEL,
    subcommand,
    options,
    async reply(r: Reply | string) {
      const reply = typeof r === 'string' ? { content: r } : r;
      out(`${reply.content.replace(/\*\*/g, '')}\n`);
      await saveAttachments(out, path.join(app.config.dataDir, 'attachments'), reply.files ?? []);
    },
    async defer() {},
    async confirm({ prompt, label, action }) {
      out(`${prompt}\nType "yes" to ${label.toLowerCase()}: `);
      const answer = await lines.next();
      if (answer.done || answer.value.trim().toLowerCase() !== 'yes') return void out('Cancelled: nothing was done.\n');
      // The same continuation a Discord button runs (through the dispatcher, checks again), for the same place and options.
      await dispatch(command, context(command, subcommand, options), app, io.log, action);
    },
    async openThread() {
      return { channelId: CONSOLE_CHANNEL_ID, parentId: null };
    },
    voice: () => voice,
  });

  out(`persona-bot console. ${app.personas.list().length} personas: ${app.personas.list().map((c) => c.name).join(', ') || 'none'}. /help for commands.\n`);
  for (const e of app.personas.errors) out(`warning: ${e.message}\n`);
  prompt();
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    const line = next.value.trim();
    if (line === '/quit' || line === '/exit') break;
    if (line === '/help') out(`${HELP}\n`);
    else if (line.startsWith('/')) await runCommand(line);
    else if (line) await chat(line);
    prompt();
  }
  rl.close();

  async function runCommand(line: string): Promise<void> {
    let parsed;
    try {
      parsed = parseCommandLine(line, COMMANDS);
    } catch (err) {
      const failure = classifyError(err); // the parser refuses bad input with a ValidationError
      if (failure.kind === 'errored') throw err;
      return void out(`${failure.message}\n`);
    }
    await dispatch(parsed.command, context(parsed.command, parsed.subcommand, parsed.options), app, io.log);
  }

  async function chat(text: string): Promise<void> {
    const receivedAt = performance.now();
    try {
      const outcome = await app.userMessages.onUserMessage({
        message: { id: consoleSnowflake(), guildId: CONSOLE_GUILD_ID, channelId: CONSOLE_CHANNEL_ID, authorId: CONSOLE_USER_ID, content: text, createdAt: new Date(), source: 'console' },
        userName,
        channelIsNsfw: CONSOLE_CHANNEL.nsfw,
        voice,
        receivedAt,
      });
      if (outcome.kind === 'unbound') out('No persona is listening here. Start with /persona chat <name> (see /persona list).\n');
    } catch (err) {
      const failure = classifyError(err);
      if (failure.kind === 'errored') io.log?.error({ err }, 'console chat failed');
      out(`\n${failure.message}\n`);
    }
  }
}

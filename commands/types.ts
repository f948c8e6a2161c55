import type { RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import type { App } from '../bot/app.js';
import type { PersonaVoice } from '../bot/services/chat.js';

/**
 * The transport-agnostic command interface. The discord.js adapter and the local console both
 * build a CommandContext; commands never import a transport. Modelled on the discord.js
 * template: one file per command exporting `data` (a builder) and `execute`, `satisfies Command`.
 */

export interface ReplyFile {
  name: string;
  data: Buffer;
  description?: string;
}

export interface Reply {
  content: string;
  /** Only the invoking user sees it (Discord); the console shows everything. */
  ephemeral?: boolean;
  files?: ReplyFile[];
}

export type OptionValue = string | number | boolean;

export interface ConfirmRequest {
  /** The key of the command's `confirmed` handler that a "yes" runs. */
  action: string;
  prompt: string;
  /** The confirm button's label (the console asks for "yes"). */
  label: string;
}

export interface CommandContext {
  transport: 'discord' | 'console';
  user: { id: string; name: string; canManageGuild: boolean };
  guildId: string | null;
  channel: { id: string; parentId: string | null; nsfw: boolean; isThread: boolean; isDM: boolean };
  subcommand: string | null;
  /** Option values, already converted to the builder's types by the transport. */
  options: Readonly<Record<string, OptionValue | undefined>>;
  reply(reply: Reply | string): Promise<void>;
  /** Acknowledge now, answer later (Discord's 3-second rule). */
  defer(opts?: { ephemeral?: boolean }): Promise<void>;
  /**
   * Asks the user to confirm; a "yes" runs the command's `confirmed[action]` with a context for the
   * same user, place, subcommand and options, a "no" answers "Cancelled". Nothing waits in between:
   * on Discord the answer is a stateless button routed by its custom id, so a click at any moment
   * (after a restart too, until it expires) works. The action gets only that context, no closure.
   */
  confirm(request: ConfirmRequest): Promise<void>;
  /** Creates a thread for a persona conversation, or returns the thread the command was used in. */
  openThread(name: string): Promise<{ channelId: string; parentId: string | null }>;
  /** How personas speak in a channel of this transport. */
  voice(target: { channelId: string; parentId: string | null }): PersonaVoice;
}

/**
 * Typed reads of the options (the transports already converted them to the builder's types);
 * a value of the wrong type, or a missing required one, is a ValidationError naming the option.
 */
export interface OptionReader {
  string(name: string, required: true): string;
  string(name: string, required?: false): string | undefined;
  integer(name: string, required: true): number;
  integer(name: string, required?: false): number | undefined;
  number(name: string, required: true): number;
  number(name: string, required?: false): number | undefined;
  boolean(name: string, required: true): boolean;
  boolean(name: string, required?: false): boolean | undefined;
}

/** What a command handler gets: the transport's context plus typed option getters (dispatch adds them). */
export interface CommandRun extends CommandContext {
  /** The command's name, e.g. "persona". */
  readonly command: string;
  readonly get: OptionReader;
}

export type PreconditionResult = { ok: true } | { ok: false; identifier: string; message: string };

/**
 * A check that runs before a command (Sapphire-style): ok, or a refusal with an identifier and a
 * message for the user. A precondition that throws is a bug (errored), not a refusal.
 */
export interface Precondition {
  readonly name: string;
  run(ctx: CommandRun, app: App): PreconditionResult | Promise<PreconditionResult>;
}

export interface Command {
  /** The slash command builder (registration and the console's parser both read it). */
  data: { name: string; toJSON(): RESTPostAPIChatInputApplicationCommandsJSONBody };
  /** Subcommands that need Manage Server (checked at run time too, not only by Discord). `true` = all. */
  manageGuild?: true | readonly string[];
  /** More preconditions, by subcommand (`*`: every subcommand), run after the Manage Server check. */
  preconditions?: Readonly<Record<string, readonly Precondition[]>>;
  execute(ctx: CommandRun, app: App): Promise<void>;
  /** What a confirmed `ctx.confirm({action})` runs, by action. */
  confirmed?: Readonly<Record<string, (ctx: CommandRun, app: App) => Promise<void>>>;
  autocomplete?(focused: { name: string; value: string }, app: App): { name: string; value: string }[];
}

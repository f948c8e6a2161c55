import { ApplicationCommandOptionType, type APIApplicationCommandOption } from 'discord.js';
import { ValidationError } from '../core/errors.js';
import { optionProblem } from '../../commands/options.js';
import type { Command, OptionValue } from '../../commands/types.js';

export interface ParsedCommand {
  command: Command;
  subcommand: string | null;
  options: Record<string, OptionValue | undefined>;
}

type Leaf = Extract<
  APIApplicationCommandOption,
  { type: ApplicationCommandOptionType.String | ApplicationCommandOptionType.Integer | ApplicationCommandOptionType.Number | ApplicationCommandOptionType.Boolean }
>;

/** Splits a line into words, keeping "quoted phrases" together, also after an option name (`name:"Corran Vask"`). */
function tokenize(line: string): string[] {
  return [...line.matchAll(/([^\s"':]+:)?(?:"([^"]*)"|'([^']*)')|(\S+)/g)].map((m) => (m[4] !== undefined ? m[4] : (m[1] ?? '') + (m[2] ?? m[3] ?? '')));
}

/**
 * Parses `/persona chat Glordon hello there` or `/persona chat name:Glordon message:"hello there"`
 * against a command's builder, with the same checks Discord applies (types, required, ranges,
 * lengths). Positional words fill the options in order; the last text option takes the rest.
 */
export function parseCommandLine(line: string, commands: readonly Command[]): ParsedCommand {
  const [head, ...rest] = tokenize(line.trim().replace(/^\//, ''));
  const command = commands.find((c) => c.data.name === head);
  if (!command) throw new ValidationError('command', `unknown command "/${head ?? ''}"; try /help`);
  const json = command.data.toJSON();
  let options = (json.options ?? []) as APIApplicationCommandOption[];
  let subcommand: string | null = null;
  if (options.some((o) => o.type === ApplicationCommandOptionType.Subcommand)) {
    const name = rest.shift();
    const sub = options.find((o) => o.type === ApplicationCommandOptionType.Subcommand && o.name === name);
    if (!sub || sub.type !== ApplicationCommandOptionType.Subcommand) {
      const names = options.map((o) => o.name).join(', ');
      throw new ValidationError('subcommand', `/${command.data.name} needs one of: ${names}`);
    }
    subcommand = sub.name;
    options = (sub.options ?? []) as APIApplicationCommandOption[];
  }
  const leaves = options as Leaf[];
  const raw: Record<string, string> = {};
  const positional: string[] = [];
  for (const word of rest) {
    const m = word.match(/^([a-z_]+):(.*)$/s);
    if (m && leaves.some((o) => o.name === m[1])) raw[m[1]!] = m[2]!;
    else positional.push(word);
  }
  const free = leaves.filter((o) => raw[o.name] === undefined);
  free.forEach((opt, i) => {
    if (positional.length === 0) return;
    const isLast = i === free.length - 1;
    raw[opt.name] = isLast && opt.type === ApplicationCommandOptionType.String ? positional.splice(0).join(' ') : positional.shift()!;
  });
  if (positional.length > 0) throw new ValidationError('options', `too many values: "${positional.join(' ')}"`);

  const out: Record<string, OptionValue | undefined> = {};
  for (const opt of leaves) {
    const value = raw[opt.name];
    if (value === undefined || value === '') {
      if (opt.required) throw new ValidationError(opt.name, 'is required');
      continue;
    }
    out[opt.name] = convert(opt, value);
  }
  return { command, subcommand, options: out };
}

/** Text → the option's type; the range and length checks are the dispatcher's (commands/options.ts), so both transports refuse alike. */
function convert(opt: Leaf, value: string): OptionValue {
  let typed: OptionValue = value;
  if (opt.type === ApplicationCommandOptionType.Boolean) {
    if (!/^(true|false)$/i.test(value)) throw new ValidationError(opt.name, 'expected true or false');
    typed = value.toLowerCase() === 'true';
  } else if (opt.type === ApplicationCommandOptionType.Integer || opt.type === ApplicationCommandOptionType.Number) {
    // Decimal notation only: Number() would read " " as 0 and "0x10" as 16.
    typed = DECIMAL.test(value) ? Number(value) : NaN;
  }
  const problem = optionProblem(opt, typed, `"${value}"`);
  if (problem) throw new ValidationError(opt.name, problem);
  return typed;
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

import { ApplicationCommandOptionType } from 'discord.js';
import { ValidationError } from '../bot/core/errors.js';
import type { Command, CommandContext, OptionReader, OptionValue } from './types.js';

type Kind = 'string' | 'integer' | 'number' | 'boolean';

const EXPECTED: Record<Kind, string> = { string: 'text', integer: 'a whole number', number: 'a number', boolean: 'true or false' };

function matches(kind: Kind, v: OptionValue): boolean {
  if (kind === 'string') return typeof v === 'string';
  if (kind === 'boolean') return typeof v === 'boolean';
  return typeof v === 'number' && Number.isFinite(v) && (kind === 'number' || Number.isInteger(v));
}

/** Typed getters over a context's option values (dispatch gives every handler one). */
export function optionReader(options: CommandContext['options']): OptionReader {
  const read = (kind: Kind) => (name: string, required?: boolean) => {
    const v = options[name];
    if (v === undefined) {
      if (required) throw new ValidationError(name, 'is required');
      return undefined;
    }
    if (!matches(kind, v)) throw new ValidationError(name, `expected ${EXPECTED[kind]}`);
    return v;
  };
  return {
    string: read('string'),
    integer: read('integer'),
    number: read('number'),
    boolean: read('boolean'),
  } as OptionReader;
}

/** An option the builder declares (a leaf: text, whole number, number, true/false), as registered with Discord. */
export interface DeclaredOption {
  name: string;
  type: number;
  required?: boolean;
  min_value?: number;
  max_value?: number;
  min_length?: number;
  max_length?: number;
}

const KIND_OF: Record<number, Kind> = { [ApplicationCommandOptionType.String]: 'string', [ApplicationCommandOptionType.Integer]: 'integer', [ApplicationCommandOptionType.Number]: 'number', [ApplicationCommandOptionType.Boolean]: 'boolean' };

/** A subcommand's options (or the command's, without subcommands) as its builder declares them; null for a subcommand it does not have. */
export function declaredOptions(command: Command, subcommand: string | null): DeclaredOption[] | null {
  const options = (command.data.toJSON().options ?? []) as { name: string; type: number; options?: DeclaredOption[] }[];
  if (!options.some((o) => o.type === ApplicationCommandOptionType.Subcommand)) return subcommand === null ? (options as DeclaredOption[]) : null;
  const sub = options.find((o) => o.type === ApplicationCommandOptionType.Subcommand && o.name === subcommand);
  return sub ? (sub.options ?? []) : null;
}

/** What is wrong with a value for an option (its type, range, length), as Discord checks it; null when it fits. `shown` is the value as the user typed it. */
export function optionProblem(opt: DeclaredOption, value: OptionValue, shown: string = JSON.stringify(value) ?? String(value)): string | null {
  const kind = KIND_OF[opt.type];
  if (kind === undefined) return null;
  const got = ` got ${shown.length > 40 ? `${shown.slice(0, 40)}…` : shown}`;
  if (kind === 'string') {
    if (typeof value !== 'string') return `expected text,${got}`;
    if (opt.max_length !== undefined && value.length > opt.max_length) return `at most ${opt.max_length} characters`;
    if (opt.min_length !== undefined && value.length < opt.min_length) return `at least ${opt.min_length} characters`;
    return null;
  }
  if (kind === 'boolean') return typeof value === 'boolean' ? null : `expected true or false,${got}`;
  const range = `${opt.min_value ?? '-∞'} to ${opt.max_value ?? '∞'}`;
  const fits = matches(kind, value) && (opt.min_value === undefined || (value as number) >= opt.min_value) && (opt.max_value === undefined || (value as number) <= opt.max_value);
  return fits ? null : `expected ${EXPECTED[kind]} from ${range},${got}`;
}

/**
 * Checks option values against the builder, as Discord does before it sends an interaction (and
 * as the console parser does): every transport gets the same refusal, naming the option, before a
 * precondition or the command sees a value. An option the builder does not declare (a payload from
 * an outdated registration) is refused too, so it never reaches a handler or a confirm button.
 */
export function checkOptions(command: Command, subcommand: string | null, options: CommandContext['options']): void {
  const declared = declaredOptions(command, subcommand);
  if (!declared) return; // not a subcommand of the builder: the command's own switch says so
  const where = `/${command.data.name}${subcommand ? ` ${subcommand}` : ''}`;
  for (const name of Object.keys(options)) {
    if (options[name] !== undefined && !declared.some((o) => o.name === name)) {
      throw new ValidationError(name.length > 32 ? `${name.slice(0, 32)}…` : name, `${where} has no such option (its registration with Discord may be out of date)`);
    }
  }
  for (const opt of declared) {
    const value = options[opt.name];
    if (value === undefined) continue; // a missing required option is refused when it is read
    const problem = optionProblem(opt, value);
    if (problem) throw new ValidationError(opt.name, problem);
  }
}

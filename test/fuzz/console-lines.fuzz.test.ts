import { ApplicationCommandOptionType } from 'discord.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../commands/index.js';
import { checkOptions, declaredOptions, type DeclaredOption } from '../../commands/options.js';
import type { Command } from '../../commands/types.js';
import { parseCommandLine } from '../../bot/console/parse.js';
import { ValidationError } from '../../bot/core/errors.js';
import { fuzzParams, mutatedText } from './mutate.js';

/**
 * Console lines built from the builders themselves (every command, subcommand and option, by name
 * or by position, quoted or not), with the values mutated. What the console accepts, the
 * dispatcher accepts too (one check for both transports); what it refuses names the option.
 */

/** Values the option takes as they are, from its declaration (in range, within length). */
function valid(opt: DeclaredOption): string[] {
  if (opt.type === ApplicationCommandOptionType.String) return ['Glordon', 'Corran Vask', 'hello there', 'abcdef12'];
  if (opt.type === ApplicationCommandOptionType.Boolean) return ['true', 'false', 'TRUE'];
  const low = opt.min_value ?? 0;
  const high = opt.max_value ?? low + 3;
  return opt.type === ApplicationCommandOptionType.Integer ? [String(low), `+${high}`, String(Math.floor((low + high) / 2))] : [String(low), String(high), (low + high).toExponential(2)].filter((t) => Number(t) <= high);
}
const invocations = COMMANDS.flatMap((command) => {
  const subs = (command.data.toJSON().options ?? []).filter((o) => o.type === ApplicationCommandOptionType.Subcommand).map((o) => o.name);
  return subs.map((subcommand) => ({ command, subcommand, declared: declaredOptions(command, subcommand)! }));
});

interface Typed {
  opt: DeclaredOption;
  text: string;
  named: boolean;
  quote: '' | '"' | "'";
}
const typedValue = (opt: DeclaredOption): fc.Arbitrary<Typed> =>
  fc.record({
    opt: fc.constant(opt),
    text: fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...valid(opt)) }, { weight: 3, arbitrary: mutatedText(valid(opt)).map((m) => m.text) }),
    named: fc.boolean(),
    quote: fc.constantFrom<Typed['quote']>('', '"', "'"),
  });
const line = fc
  .integer({ min: 0, max: invocations.length - 1 })
  .chain((i) => fc.tuple(fc.constant(i), fc.tuple(...invocations[i]!.declared.map((o) => fc.option(typedValue(o), { freq: 3 }))), fc.boolean()));

function render(command: Command, subcommand: string, values: (Typed | null)[], slash: boolean): string {
  const words = values.filter((v): v is Typed => v !== null).map((v) => `${v.named ? `${v.opt.name}:` : ''}${v.quote}${v.text}${v.quote}`);
  return `${slash ? '/' : ''}${command.data.name} ${subcommand} ${words.join(' ')}`.trimEnd();
}

describe('console lines from the builders', () => {
  it('parses the plain values of every option, named and positional, as typed', () => {
    for (const { command, subcommand, declared } of invocations) {
      const values = declared.map((opt) => valid(opt)[0]!);
      const named = parseCommandLine(`/${command.data.name} ${subcommand} ${declared.map((o, i) => `${o.name}:"${values[i]}"`).join(' ')}`, COMMANDS);
      expect(named.subcommand).toBe(subcommand);
      for (const [i, o] of declared.entries()) {
        const want = o.type === ApplicationCommandOptionType.String ? values[i] : o.type === ApplicationCommandOptionType.Boolean ? values[i] === 'true' : Number(values[i]);
        expect(named.options[o.name], `${command.data.name} ${subcommand} ${o.name}`).toEqual(want);
      }
      expect(() => checkOptions(command, subcommand, named.options)).not.toThrow();
    }
  });

  it('parses 1,500 fuzzed lines into values the dispatcher takes, or refuses them naming the option', () => {
    fc.assert(
      fc.property(line, ([i, values, slash]) => {
        const { command, subcommand, declared } = invocations[i]!;
        const text = render(command, subcommand, values, slash);
        let parsed;
        try {
          parsed = parseCommandLine(text, COMMANDS);
        } catch (err) {
          expect(err, String((err as Error).stack)).toBeInstanceOf(ValidationError);
          expect(['options', ...declared.map((o) => o.name)], text).toContain((err as ValidationError).field);
          return;
        }
        expect(parsed.command).toBe(command);
        expect(() => checkOptions(command, subcommand, parsed.options), text).not.toThrow();
        for (const o of declared) {
          const v = parsed.options[o.name];
          // A number comes from decimal text: never from blanks, hex or "Infinity".
          if (typeof v === 'number') expect(Number.isFinite(v), text).toBe(true);
          if (o.type === ApplicationCommandOptionType.Integer && v !== undefined) expect(Number.isInteger(v), text).toBe(true);
        }
      }),
      fuzzParams(1500),
    );
  });
});

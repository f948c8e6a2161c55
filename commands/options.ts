import { ValidationError } from '../bot/core/errors.js';
import type { CommandContext, OptionReader, OptionValue } from './types.js';

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

import { consentCommand } from './consent.js';
import { finetuneCommand } from './finetune.js';
import { loggingCommand } from './logging.js';
import { personaCommand } from './persona.js';
import type { Command } from './types.js';

/** Every slash command. The Discord adapter registers these; the console parses text against them. */
export const COMMANDS: readonly Command[] = [consentCommand, loggingCommand, personaCommand, finetuneCommand];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.data.name === name);
}

import type { DatasetLine } from './line.js';

export type ExportFormat = 'messages' | 'sharegpt' | 'alpaca';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['messages', 'sharegpt', 'alpaca'];

/** JSONL in the chosen format. messages: the contract line; sharegpt: conversations; alpaca: instruction/input/output. */
export function exportLines(lines: Iterable<DatasetLine>, format: ExportFormat, personaName = 'assistant'): string {
  const out: string[] = [];
  for (const l of lines) out.push(exportLine(l, format, personaName));
  return out.length ? `${out.join('\n')}\n` : '';
}

/** One line of `exportLines`, without the newline. */
export function exportLine(l: DatasetLine, format: ExportFormat, personaName = 'assistant'): string {
  if (format === 'messages') return JSON.stringify(l);
  if (format === 'sharegpt') {
    const from = { system: 'system', user: 'human', assistant: 'gpt' } as const;
    return JSON.stringify({ id: l.id, source: l.source, conversations: l.messages.map((m) => ({ from: from[m.role], value: m.content })) });
  }
  const sys = l.messages[0]?.role === 'system' ? l.messages[0].content : undefined;
  const turns = l.messages.filter((m) => m.role !== 'system');
  const output = turns[turns.length - 1]!.content;
  const instruction = turns[turns.length - 2]!.content;
  const context = turns.slice(0, -2).map((m) => `${m.role === 'user' ? 'User' : personaName}: ${m.content}`).join('\n');
  return JSON.stringify({ id: l.id, ...(sys ? { system: sys } : {}), instruction, input: context, output });
}

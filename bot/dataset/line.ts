import { z } from 'zod';

/**
 * The dataset line (DESIGN, "Dataset": a contract the trainer consumes):
 *   {"id", "persona", "source": "card"|"synthetic"|"chat_log", "messages": [...]}
 * Turn rules: an optional system turn first; then user and assistant alternating, starting with
 * user and ending with assistant.
 */

/**
 * Where a line came from. The order is also the builder's order of preference when two lines
 * are near duplicates (the earlier source's line stays); a new source adds its name here and its
 * reader in sources/index.ts.
 */
export const DATASET_SOURCES = ['card', 'synthetic', 'chat_log'] as const;
export type LineSource = (typeof DATASET_SOURCES)[number];

export const messageSchema = z.strictObject({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string().min(1, 'a turn must not be empty'),
});
export type LineMessage = z.infer<typeof messageSchema>;

export const datasetLineSchema = z
  .object({
    id: z.string().min(1),
    persona: z.string().min(1),
    source: z.enum(DATASET_SOURCES),
    messages: z.array(messageSchema).min(2, 'a line has at least a user and an assistant turn'),
  })
  .superRefine((line, ctx) => {
    const problem = turnOrderProblem(line.messages);
    if (problem) ctx.addIssue({ code: 'custom', path: ['messages'], message: problem });
  });
export type DatasetLine = z.infer<typeof datasetLineSchema>;

/** Why a list of turns breaks the line rules, or null when it follows them. */
export function turnOrderProblem(messages: readonly { role: string }[]): string | null {
  let i = 0;
  if (messages[0]?.role === 'system') i = 1;
  if (messages.length - i < 2) return 'needs at least one user turn and one assistant turn after the optional system turn';
  for (let k = i; k < messages.length; k++) {
    const expected = (k - i) % 2 === 0 ? 'user' : 'assistant';
    if (messages[k]!.role !== expected) {
      return messages[k]!.role === 'system'
        ? `turn ${k}: a system turn may only come first`
        : `turn ${k}: expected ${expected} (turns alternate user/assistant, starting with user), got ${messages[k]!.role}`;
    }
  }
  if (messages[messages.length - 1]!.role !== 'assistant') return 'the last turn must be the assistant';
  return null;
}

/** Parses one JSONL line against the contract; throws with the reason. */
export function parseDatasetLine(json: string): DatasetLine {
  return datasetLineSchema.parse(JSON.parse(json));
}

/** The short user turn put before a dialogue that starts with the persona speaking (a greeting). */
export const GREETING_OPENER = 'Hello!';

/**
 * Normalises turns into the line rules: trims, drops empty turns, merges consecutive same-role
 * turns (joined with a newline), puts a short user turn before a dialogue that opens with the
 * persona, and drops trailing user turns (a line ends with the assistant). Returns null when no
 * user/assistant exchange is left.
 */
export function normalizeTurns(turns: readonly { role: 'user' | 'assistant'; content: string }[], opts: { opener?: string } = {}): { role: 'user' | 'assistant'; content: string }[] | null {
  const out: { role: 'user' | 'assistant'; content: string }[] = [];
  for (const t of turns) {
    const content = t.content.trim();
    if (!content) continue;
    const last = out[out.length - 1];
    if (last && last.role === t.role) last.content = `${last.content}\n${content}`;
    else out.push({ role: t.role, content });
  }
  while (out.length > 0 && out[out.length - 1]!.role === 'user') out.pop();
  if (out.length === 0) return null;
  if (out[0]!.role === 'assistant') out.unshift({ role: 'user', content: opts.opener ?? GREETING_OPENER });
  return out.length >= 2 ? out : null;
}

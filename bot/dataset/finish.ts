import type { PersonaCard } from '../personas/card.js';
import { estimateTokens } from '../personas/prompt.js';
import { cleanText } from './clean.js';
import type { Finished } from './finished-lines.js';
import { lineId } from './ids.js';
import type { LineMessage } from './line.js';
import { normalizeTurns, turnOrderProblem } from './line.js';
import type { DatasetSettings } from './settings.js';
import type { Candidate } from './sources/source.js';

/**
 * The finishing rules every candidate goes through, whatever its source: cleaning (placeholders
 * for personal data, whitespace), length bounds, the line rules (normalizeTurns), and a token
 * budget that drops the oldest exchanges. Null (with the reason counted) when nothing usable is left.
 */
export function finishCandidate(c: Candidate, s: DatasetSettings, system: string | null, card: PersonaCard, remove: (reason: string) => void): Finished | null {
  const cleaned = c.cleaned ? c.turns : c.turns.map((t) => ({ role: t.role, content: cleanText(t.content) }));
  if (cleaned.some((t) => t.content.length > s.maxTurnChars)) return remove('turn_too_long'), null;
  // Chat logs never get an invented opener: leading persona turns are dropped instead.
  let turns = c.source === 'chat_log' ? dropLeadingAssistant(cleaned) : cleaned;
  let norm = normalizeTurns(turns);
  if (!norm) return remove('no_exchange'), null;
  const last = norm[norm.length - 1]!;
  const lastUser = norm[norm.length - 2]!;
  if (last.content.length < s.minReplyChars) return remove('reply_too_short'), null;
  if (lastUser.content.length < s.minUserChars) return remove('user_too_short'), null;
  // Token budget: drop the oldest exchange until it fits (the final exchange must fit alone).
  const sysTokens = system ? estimateTokens(system) : 0;
  const cost = (ts: { content: string }[]) => sysTokens + ts.reduce((n, t) => n + estimateTokens(t.content), 0);
  while (cost(norm) > s.maxTokens && norm.length > 2) norm = norm.slice(2);
  if (cost(norm) > s.maxTokens) return remove('over_token_budget'), null;
  turns = norm;
  const messages: LineMessage[] = [...(system ? [{ role: 'system' as const, content: system }] : []), ...turns];
  const id = lineId(card.slug, c.source, messages);
  const problem = turnOrderProblem(messages);
  if (problem) throw new Error(`internal: line ${id} breaks the line rules: ${problem}`);
  return {
    source: c.source,
    texts: turns.map((t) => t.content),
    id,
    contributors: [...new Set(c.contributors)].sort(),
    guildIds: [...new Set(c.guildIds)].sort(),
    messageIds: [...new Set(c.messageIds ?? [])].sort(),
    capUser: c.capUser,
    reply: last.content,
    tokens: cost(norm),
  };
}

function dropLeadingAssistant<T extends { role: string }>(turns: T[]): T[] {
  const i = turns.findIndex((t) => t.role === 'user');
  return i < 0 ? [] : turns.slice(i);
}

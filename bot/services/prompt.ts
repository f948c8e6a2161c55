import type { Message } from 'ollama';
import type { PersonaCard, Turn } from '../../persona-data/card.js';
import type { LoreChunk } from './lore.js';

/**
 * Rough token count for budgeting, without the model's tokenizer: SmolLM2's byte-level BPE
 * averages about 4 characters per token on English chat; 3.2 errs on the safe side, plus a few
 * tokens of chat-template framing per message. The model server reports exact counts afterwards.
 */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 3.2) + 4;
}

export interface PromptBudget {
  /** The model's context window. */
  contextTokens: number;
  /** Kept free for the reply. */
  replyTokens: number;
  /** Share of the window example dialogues may take. */
  examplesShare?: number;
}

export interface BuiltPrompt {
  messages: Message[];
  estimatedTokens: number;
  /** How many history turns fit (newest first), of how many there were. */
  historyUsed: number;
  historyDropped: number;
  /** Lore chunks that fit in the system prompt. */
  loreUsed: number;
}

export function fillNames(text: string, persona: string, user: string): string {
  return text.replace(/\{\{char\}\}/gi, persona).replace(/\{\{user\}\}/gi, user);
}

export function systemPrompt(card: PersonaCard, lore: LoreChunk[], userName: string): string {
  const parts = [
    `You are ${card.name}. Stay in character in every reply: speak as ${card.name}, in the first person.`,
    card.personality,
  ];
  if (card.speechStyle) parts.push(`Speech style: ${card.speechStyle}`);
  if (lore.length > 0) parts.push(`Things you know:\n${lore.map((c) => `- ${c.content}`).join('\n')}`);
  const forbid = ['as an AI', 'language model', ...card.markers.forbid];
  parts.push(`Never say ${[...new Set(forbid)].map((f) => `"${f}"`).join(' or ')}. Keep replies short, like a chat message.`);
  return fillNames(parts.join('\n\n'), card.name, userName);
}

/**
 * The prompt: system (personality, speech style, retrieved lore), example dialogues, then the
 * conversation history newest-first within what is left of the budget, then the user's message.
 */
export function buildPrompt(input: { card: PersonaCard; lore: LoreChunk[]; history: Turn[]; userName: string; userMessage: string; budget: PromptBudget }): BuiltPrompt {
  const { card, lore, history, userName, userMessage, budget } = input;
  const user: Message = { role: 'user', content: userMessage };
  const available = budget.contextTokens - budget.replyTokens - estimateTokens(user.content);
  // The system prompt must fit: drop the least relevant lore first, then cut the text itself.
  let kept = lore.slice();
  let systemText = systemPrompt(card, kept, userName);
  while (estimateTokens(systemText) > available && kept.length > 0) {
    kept = kept.slice(0, -1);
    systemText = systemPrompt(card, kept, userName);
  }
  if (estimateTokens(systemText) > available) systemText = systemText.slice(0, Math.max(0, Math.floor((available - 4) * 3.2)));
  const system: Message = { role: 'system', content: systemText };
  let remaining = available - estimateTokens(system.content);

  const examples: Message[] = [];
  let exampleBudget = Math.min(remaining, Math.floor(budget.contextTokens * (budget.examplesShare ?? 0.25)));
  for (const dialogue of card.examples) {
    const turns = dialogue.map((t) => ({ role: t.role, content: fillNames(t.content, card.name, userName) }));
    const cost = turns.reduce((n, t) => n + estimateTokens(t.content), 0);
    if (cost > exampleBudget) break;
    // A dialogue must start with the user for the turns to alternate.
    if (turns[0]?.role !== 'user') turns.unshift({ role: 'user', content: 'Hello!' });
    examples.push(...turns);
    exampleBudget -= cost;
    remaining -= cost;
  }

  const recent: Message[] = [];
  for (let i = history.length - 1; i >= 0; i--) {
    const t = history[i]!;
    const cost = estimateTokens(t.content);
    if (cost > remaining) break;
    recent.unshift({ role: t.role, content: t.content });
    remaining -= cost;
  }
  // History must not open with an assistant turn right after the examples' last assistant turn.
  while (recent[0]?.role === 'assistant' && examples[examples.length - 1]?.role === 'assistant') recent.shift();

  const messages = [system, ...examples, ...recent, user];
  return {
    messages,
    estimatedTokens: messages.reduce((n, m) => n + estimateTokens(m.content), 0),
    historyUsed: recent.length,
    historyDropped: history.length - recent.length,
    loreUsed: kept.length,
  };
}

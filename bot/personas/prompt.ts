import type { PersonaCard, Turn } from './card.js';
import type { ChatMessage } from '../inference/ports.js';
import type { LoreChunk } from './lore-chunks.js';

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

/**
 * How a persona's prompt is laid out. `few-shot`: the card's example dialogues after the system
 * prompt (what prompt-only needs to find the voice). `trained`: without them, the layout the
 * training lines have (system prompt, the conversation), for adapter versions that learned the
 * voice: the part of the prompt a line shares with serving then tokenizes to the same ids.
 */
export const PROMPT_SHAPES = ['few-shot', 'trained'] as const;
export type PromptShape = (typeof PROMPT_SHAPES)[number];

export interface BuiltPrompt {
  messages: ChatMessage[];
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

export function systemPrompt(card: PersonaCard, userName: string): string {
  const parts = [
    `You are ${card.name}. Stay in character in every reply: speak as ${card.name}, in the first person.`,
    card.personality,
  ];
  if (card.speechStyle) parts.push(`Speech style: ${card.speechStyle}`);
  const forbid = ['as an AI', 'language model', ...card.markers.forbid];
  parts.push(`Never say ${[...new Set(forbid)].map((f) => `"${f}"`).join(' or ')}. Keep replies short, like a chat message.`);
  return fillNames(parts.join('\n\n'), card.name, userName);
}

/** Retrieved lore, as a note to the persona just before the user's message. */
export function loreNote(card: PersonaCard, lore: LoreChunk[], userName: string): string {
  return fillNames(`Things ${card.name} knows that matter for the next reply:\n${lore.map((c) => `- ${c.content}`).join('\n')}`, card.name, userName);
}

/**
 * The prompt: system (personality, speech style), example dialogues, the conversation history
 * (newest first, within what is left of the budget), the retrieved lore, then the user's message.
 * Lore comes late on purpose: everything before it stays identical from turn to turn, so the
 * model server reuses its cached prefix and only evaluates the new tokens.
 */
export function buildPrompt(input: { card: PersonaCard; lore: LoreChunk[]; history: Turn[]; userName: string; userMessage: string; budget: PromptBudget; shape?: PromptShape }): BuiltPrompt {
  const { card, lore, history, userName, userMessage, budget } = input;
  const user: ChatMessage = { role: 'user', content: userMessage };
  const system: ChatMessage = { role: 'system', content: systemPrompt(card, userName) };
  let available = budget.contextTokens - budget.replyTokens - estimateTokens(user.content);
  if (estimateTokens(system.content) > available) system.content = system.content.slice(0, Math.max(0, Math.floor((available - 4) * 3.2)));
  available -= estimateTokens(system.content);
  // Lore gets up to a third of what is left; the least relevant chunks go first.
  let kept = lore.slice();
  while (kept.length > 0 && estimateTokens(loreNote(card, kept, userName)) > available / 3) kept = kept.slice(0, -1);
  const note: ChatMessage | undefined = kept.length > 0 ? { role: 'system', content: loreNote(card, kept, userName) } : undefined;
  let remaining = available - (note ? estimateTokens(note.content) : 0);

  const examples: ChatMessage[] = [];
  let exampleBudget = Math.min(remaining, Math.floor(budget.contextTokens * (budget.examplesShare ?? 0.25)));
  for (const dialogue of input.shape === 'trained' ? [] : card.examples) {
    const turns = dialogue.map((t) => ({ role: t.role, content: fillNames(t.content, card.name, userName) }));
    const cost = turns.reduce((n, t) => n + estimateTokens(t.content), 0);
    if (cost > exampleBudget) break;
    // A dialogue must start with the user for the turns to alternate.
    if (turns[0]?.role !== 'user') turns.unshift({ role: 'user', content: 'Hello!' });
    examples.push(...turns);
    exampleBudget -= cost;
    remaining -= cost;
  }

  const recent: ChatMessage[] = [];
  for (let i = history.length - 1; i >= 0; i--) {
    const t = history[i]!;
    const cost = estimateTokens(t.content);
    if (cost > remaining) break;
    recent.unshift({ role: t.role, content: t.content });
    remaining -= cost;
  }
  // History must not open with an assistant turn right after the examples' last assistant turn.
  while (recent[0]?.role === 'assistant' && examples[examples.length - 1]?.role === 'assistant') recent.shift();

  const messages = [system, ...examples, ...recent, ...(note ? [note] : []), user];
  return {
    messages,
    estimatedTokens: messages.reduce((n, m) => n + estimateTokens(m.content), 0),
    historyUsed: recent.length,
    historyDropped: history.length - recent.length,
    loreUsed: kept.length,
  };
}

import { and, eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { PersonaCard, Turn } from '../personas/card.js';
import type { Db } from '../db/client.js';
import { conversations } from '../db/schema.js';
import type { ChatModel, ChatStats } from '../inference/ports.js';
import { UserFacingError } from '../core/errors.js';
import { assertOptionalSnowflake, assertSnowflake } from '../core/ids.js';
import type { LoreIndex } from './lore.js';
import type { MessageLogService } from './message-log.js';
import { assertAllowed, nsfwRule } from '../personas/nsfw.js';
import type { PersonaRegistry } from '../personas/registry.js';
import type { PersonaVersions } from './persona-versions.js';
import type { PrivacyState } from './privacy-state.js';
import type { PromptShape } from '../personas/prompt.js';
import { buildPrompt } from '../personas/prompt.js';

export interface ChatSettings {
  baseModel: string;
  contextTokens: number;
  maxReplyTokens: number;
  loreK: number;
  ratePerMinute: number;
  /** The prompt layout for adapter versions (prompt-only always gets the few-shot one). */
  adapterPrompt?: PromptShape;
  /** Turns kept in memory per conversation (user + persona). */
  historyTurns?: number;
  /** Conversations whose history is kept in memory (CHAT_HISTORY_CONVERSATIONS): the least recently used idle ones beyond it are forgotten. */
  historyConversations?: number;
  /** Turns that may wait behind the one being answered, per conversation. */
  maxQueuedTurns?: number;
}

export interface Conversation {
  id: string;
  guildId: string | null;
  channelId: string;
  personaSlug: string;
}

/** Where a persona's reply goes: a webhook message in Discord, stdout in the console. */
export interface PersonaVoice {
  /**
   * Streams one persona message: `produce` pushes text as it is generated and resolves with the
   * final text. Resolves with the id of the message the reply became (needed for reactions).
   */
  speak(persona: PersonaCard, produce: (push: (delta: string) => void) => Promise<string>): Promise<{ messageId: string }>;
}

/** Time spent, per turn, by the bot itself vs waiting on the model server. */
export interface TurnSpans {
  /** From the transport receiving the message until the chat service took it (logging, binding lookup); 0 when not given. */
  receiveMs: number;
  retrievalMs: number;
  assembleMs: number;
  recordMs: number;
  /** From handing the reply to the voice until the model is asked (e.g. the typing indicator). */
  dispatchMs: number;
  /** From the model's last token until the reply is posted in full. */
  deliverMs: number;
  modelMs: number;
  /** receiveMs plus the turn, not counting a wait behind this conversation's previous turn. */
  totalMs: number;
  /** Everything except waiting on the model: the bot's own cost. */
  overheadMs: number;
}

export interface TurnResult {
  text: string;
  messageId: string;
  model: string;
  personaVersionId: number | null;
  stats: ChatStats;
  spans: TurnSpans;
  prompt: { messages: { role: string; content: string }[]; historyUsed: number; historyDropped: number };
}

interface ConversationState {
  /** Each turn with who wrote it (a user's id; null for the persona's); buildPrompt reads role and content only. */
  history: (Turn & { authorId: string | null })[];
  queue: Promise<unknown>;
  waiting: number;
}

/**
 * A per-key sliding-window limit (at most `limit` events per `windowMs`). Keys whose events have
 * all left the window are pruned, at most once per window and amortised over calls, so the map
 * holds only keys active in about the last two windows, however many users come and go.
 */
export class SlidingWindowLimiter {
  private readonly events = new Map<string, number[]>();
  private nextSweep: number;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.nextSweep = now() + windowMs;
  }

  /** Records an event for `key` and returns 0, or returns the ms to wait when `key` is over its limit (nothing recorded). */
  take(key: string): number {
    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    const recent = (this.events.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (recent.length >= this.limit) {
      this.events.set(key, recent);
      return this.windowMs - (now - recent[0]!);
    }
    recent.push(now);
    this.events.set(key, recent);
    return 0;
  }

  /** Keys currently tracked (for tests and diagnostics). */
  get size(): number {
    return this.events.size;
  }

  private sweep(now: number): void {
    for (const [key, times] of this.events) {
      if (now - times[times.length - 1]! >= this.windowMs) this.events.delete(key);
    }
    this.nextSweep = now + this.windowMs;
  }
}

/**
 * Persona conversations: a conversation per (channel or thread, persona), bound in the database
 * so bindings survive restarts. History lives in memory only (bounded): a user who has not
 * consented leaves nothing behind but reply metadata. One turn at a time per conversation.
 */
export class ChatService {
  private readonly state = new Map<string, ConversationState>();
  private readonly rate: SlidingWindowLimiter;
  private readonly activeModel = new Map<string, { model: string; versionId: number | null }>();
  /** channel id → its conversation (or none): every message asks, so it is cached; open/end keep it true. */
  private readonly bindings = new Map<string, Conversation | null>();

  constructor(
    private readonly deps: {
      db: Db;
      personas: PersonaRegistry;
      lore: LoreIndex;
      llm: ChatModel;
      versions: PersonaVersions;
      messages: MessageLogService;
      privacy: PrivacyState;
      settings: ChatSettings;
      log?: Logger;
      /** Each finished turn's spans (the metrics histograms). */
      onTurn?: (spans: TurnSpans) => void;
    },
  ) {
    this.rate = new SlidingWindowLimiter(deps.settings.ratePerMinute, 60_000);
  }

  /** Binds a persona to a channel or thread (ending any other conversation there). */
  async open(input: { guildId: string | null; channelId: string; persona: PersonaCard; channelIsNsfw: boolean }): Promise<Conversation> {
    assertOptionalSnowflake('guild', input.guildId);
    assertSnowflake('channel', input.channelId);
    assertAllowed(nsfwRule(input.persona, { nsfw: input.channelIsNsfw }));
    const row = await this.deps.db.transaction(async (tx) => {
      await tx
        .update(conversations)
        .set({ status: 'ended', endedAt: new Date() })
        .where(and(eq(conversations.channelId, input.channelId), eq(conversations.status, 'active')));
      const [created] = await tx
        .insert(conversations)
        .values({ guildId: input.guildId, channelId: input.channelId, personaSlug: input.persona.slug })
        .returning();
      return created!;
    });
    this.state.delete(row.id);
    const conv = { id: row.id, guildId: row.guildId, channelId: row.channelId, personaSlug: row.personaSlug };
    this.bindings.set(conv.channelId, conv);
    return conv;
  }

  /** The persona bound to a channel or thread, if any (read from the database: survives restarts). */
  async active(channelId: string): Promise<Conversation | undefined> {
    const cached = this.bindings.get(channelId);
    if (cached !== undefined) return cached ?? undefined;
    const [row] = await this.deps.db
      .select()
      .from(conversations)
      .where(and(eq(conversations.channelId, channelId), eq(conversations.status, 'active')))
      .limit(1);
    const conv = row ? { id: row.id, guildId: row.guildId, channelId: row.channelId, personaSlug: row.personaSlug } : null;
    if (this.bindings.size > 50_000) this.bindings.clear(); // bounded; misses fall back to the database
    this.bindings.set(channelId, conv);
    return conv ?? undefined;
  }

  async end(channelId: string): Promise<Conversation | undefined> {
    const conv = await this.active(channelId);
    if (!conv) return undefined;
    await this.deps.db.update(conversations).set({ status: 'ended', endedAt: new Date() }).where(eq(conversations.id, conv.id));
    this.state.delete(conv.id); // the in-memory history goes with it
    this.bindings.set(channelId, null);
    return conv;
  }

  /** The greeting (from the card) as the persona's first message. */
  async greet(conv: Conversation, voice: PersonaVoice, userName: string): Promise<{ messageId: string; text: string }> {
    const card = this.deps.personas.get(conv.personaSlug);
    const text = card.greeting.replace(/\{\{user\}\}/gi, userName).replace(/\{\{char\}\}/gi, card.name);
    const { messageId } = await voice.speak(card, async (push) => {
      push(text);
      return text;
    });
    const st = this.history(conv.id);
    st.history.push({ role: 'assistant', content: text, authorId: null });
    return { messageId, text };
  }

  /**
   * Answers a user's message in a conversation. Serialized per conversation; rate-limited per
   * user. The user's own message is logged by the transport (MessageLogService.onCreate); here
   * the reply is recorded: with text only when the user may be logged in this channel.
   */
  async respond(input: {
    conversation: Conversation;
    user: { id: string; name: string };
    text: string;
    /** The user's message id and where it was, for recording. */
    messageId?: string | null;
    parentChannelId?: string | null;
    voice: PersonaVoice;
    /** performance.now() when the transport received the message, so the spans include the bot's work before this call. */
    receivedAt?: number;
    /** Already counted against the rate by `admit` (the `/persona chat` that opened the conversation). */
    admitted?: boolean;
  }): Promise<TurnResult> {
    const receiveMs = input.receivedAt === undefined ? 0 : performance.now() - input.receivedAt;
    assertSnowflake('user', input.user.id);
    if (!input.admitted) this.admit(input.user.id);
    const st = this.history(input.conversation.id);
    if (st.waiting >= (this.deps.settings.maxQueuedTurns ?? 3)) {
      throw new UserFacingError('I am still answering earlier messages in this conversation; send this one again in a moment.');
    }
    st.waiting++;
    const run = st.queue.then(() => this.turn(input, st, receiveMs));
    st.queue = run.catch(() => {});
    try {
      return await run;
    } finally {
      st.waiting--;
    }
  }

  private async turn(
    input: Parameters<ChatService['respond']>[0],
    st: ConversationState,
    receiveMs: number,
  ): Promise<TurnResult> {
    const t0 = performance.now();
    const conv = input.conversation;
    const card = this.deps.personas.get(conv.personaSlug);
    const text = input.text.trim();
    if (!text) throw new UserFacingError('Say something and I will answer.');

    const r0 = performance.now();
    const lore = await this.deps.lore.search(card.slug, text, this.deps.settings.loreK);
    const retrievalMs = performance.now() - r0;

    const a0 = performance.now();
    const { model, versionId } = await this.modelFor(card);
    const prompt = buildPrompt({
      card,
      lore,
      history: st.history,
      userName: input.user.name,
      userMessage: text,
      budget: { contextTokens: this.deps.settings.contextTokens, replyTokens: this.deps.settings.maxReplyTokens },
      shape: versionId === null ? 'few-shot' : (this.deps.settings.adapterPrompt ?? 'few-shot'),
    });
    const assembleMs = performance.now() - a0;

    let stats: ChatStats | undefined;
    let replyText = '';
    let m0 = 0;
    let m1 = 0;
    const s0 = performance.now();
    const { messageId } = await input.voice.speak(card, async (push) => {
      m0 = performance.now();
      try {
        const out = await this.deps.llm.chat({
          model,
          messages: prompt.messages,
          sampling: { temperature: card.model.temperature, maxTokens: this.deps.settings.maxReplyTokens },
          // No contextTokens: a different value per request makes Ollama reload the runner. The
          // prompt is budgeted to CHAT_CONTEXT_TOKENS, which must not exceed the model's own context.
          onDelta: push,
        });
        stats = out.stats;
        replyText = out.text.trim() || '…';
        return replyText;
      } finally {
        m1 = performance.now();
      }
    });
    const deliverMs = performance.now() - m1;
    const dispatchMs = m0 - s0;
    const modelMs = m1 - m0;

    const rec0 = performance.now();
    // The reply's text is kept only when everyone whose words were in its prompt may be logged here
    // (a thread's members share one history): the user, and the authors of the history turns it used.
    const promptAuthors = [input.user.id, ...st.history.slice(st.history.length - prompt.historyUsed).flatMap((h) => (h.authorId === null ? [] : [h.authorId]))];
    const keepText =
      !!conv.guildId &&
      promptAuthors.every((a) => this.deps.privacy.hasConsent(conv.guildId!, a)) &&
      this.deps.privacy.isLoggingOn(conv.channelId, input.parentChannelId ?? null);
    st.history.push({ role: 'user', content: text, authorId: input.user.id }, { role: 'assistant', content: replyText, authorId: null });
    const max = this.deps.settings.historyTurns ?? 40;
    if (st.history.length > max) st.history.splice(0, st.history.length - max);
    await this.deps.messages.onPersonaReply({
      messageId,
      conversationId: conv.id,
      guildId: conv.guildId,
      channelId: conv.channelId,
      personaSlug: card.slug,
      personaVersionId: versionId,
      model,
      inReplyToId: keepText ? (input.messageId ?? null) : null,
      promptTokens: stats?.promptTokens ?? null,
      completionTokens: stats?.completionTokens ?? null,
      ttftMs: stats?.ttftMs ?? null,
      totalMs: stats?.totalMs ?? null,
      createdAt: new Date(),
      userId: input.user.id,
      content: replyText,
      keepText,
    });
    const recordMs = performance.now() - rec0;
    const totalMs = receiveMs + performance.now() - t0;
    const spans = { receiveMs, retrievalMs, assembleMs, recordMs, dispatchMs, deliverMs, modelMs, totalMs, overheadMs: totalMs - modelMs };
    this.deps.log?.debug({ spans, messageId, model, promptTokens: stats?.promptTokens, completionTokens: stats?.completionTokens }, 'persona turn');
    this.deps.onTurn?.(spans);
    return {
      text: replyText,
      messageId,
      model,
      personaVersionId: versionId,
      stats: stats!,
      spans,
      prompt: { messages: prompt.messages, historyUsed: prompt.historyUsed, historyDropped: prompt.historyDropped },
    };
  }

  /** The persona's active adapter model when it has one, else the base model (prompt only). */
  private async modelFor(card: PersonaCard): Promise<{ model: string; versionId: number | null }> {
    const cached = this.activeModel.get(card.slug);
    if (cached) return cached;
    const active = await this.deps.versions.active(card.slug);
    const resolved = active ? { model: active.servedModel, versionId: active.id } : { model: card.model.base ?? this.deps.settings.baseModel, versionId: null };
    this.activeModel.set(card.slug, resolved);
    return resolved;
  }

  /** After a guild purge: its conversations are gone from the database, so from memory too. */
  dropGuild(guildId: string): void {
    for (const [channelId, conv] of this.bindings) {
      if (conv?.guildId === guildId) {
        this.bindings.delete(channelId);
        this.state.delete(conv.id);
      }
    }
  }

  /** After a channel or thread was deleted: its conversation goes from memory too. */
  dropChannel(channelId: string): void {
    const conv = this.bindings.get(channelId);
    this.bindings.delete(channelId);
    if (conv) this.state.delete(conv.id);
  }

  /** Forget the cached active model of a persona (after a new version or a rollback). */
  invalidateModel(slug: string): void {
    this.activeModel.delete(slug);
  }

  /** In-memory history of a conversation (a copy), for tests and diagnostics. */
  historyOf(conversationId: string): Turn[] {
    return (this.state.get(conversationId)?.history ?? []).map(({ role, content }) => ({ role, content }));
  }

  /** A conversation's state, most recently used last (the Map's order); evicts beyond the bound. */
  private history(conversationId: string): ConversationState {
    let st = this.state.get(conversationId);
    if (st) this.state.delete(conversationId);
    else st = { history: [], queue: Promise.resolve(), waiting: 0 };
    this.state.set(conversationId, st);
    const max = this.deps.settings.historyConversations ?? 2000;
    if (this.state.size > max) {
      // The least recently used first; one with a turn in progress or waiting is kept.
      for (const [id, old] of this.state) {
        if (this.state.size <= max) break;
        if (old.waiting === 0 && id !== conversationId) this.state.delete(id);
      }
    }
    return st;
  }

  /**
   * Counts one use against the user's rate (CHAT_RATE_PER_MINUTE), or refuses it. `/persona chat`
   * calls it before it opens a thread, so a greeting or a thread costs a turn too.
   */
  admit(userId: string): void {
    const waitMs = this.rate.take(userId);
    if (waitMs > 0) throw new UserFacingError(`You're sending messages faster than I can answer. Try again in ${Math.ceil(waitMs / 1000)} s.`);
  }
}

import type { KeyRing } from '../crypto/keyring.js';
import type { ChannelDeleteCounts, PersonaReplyRow } from '../db/write-ops.js';
import { ValidationError } from '../core/errors.js';
import { assertOptionalSnowflake, assertSnowflake } from '../core/ids.js';
import type { PrivacyState } from './privacy-state.js';
import type { WriterQueue } from './writer-queue.js';

/** A message as any transport (Discord, the local console) reports it. */
export interface IncomingMessage {
  id: string;
  /** null in DMs: consent is per guild, so DMs are never logged. */
  guildId: string | null;
  channelId: string;
  /** Set when the channel is a thread. */
  parentChannelId?: string | null;
  authorId: string;
  authorIsBot?: boolean;
  /** Sent by a webhook (our personas speak through webhooks). */
  webhookId?: string | null;
  /** Discord message kinds that are not a person typing (joins, pins, forwards...). */
  isSystem?: boolean;
  content: string;
  createdAt: Date;
  replyToId?: string | null;
  source?: 'discord' | 'console';
}

export interface MessageEdit {
  id: string;
  guildId: string | null;
  channelId: string;
  parentChannelId?: string | null;
  authorId: string;
  content: string;
  editedAt: Date;
}

/** `shed_queue_full`: allowed, but the writer queue is full (the database is down or far behind), so it was not stored. */
export type LogDecision = 'stored' | 'skipped_bot' | 'skipped_dm' | 'skipped_no_consent' | 'skipped_channel_off' | 'skipped_empty' | 'shed_queue_full';

/**
 * The logging rules (README, "Data and consent"): a message is stored only when its author has
 * current consent in that guild AND its channel (or a thread's parent) has logging on. Bots and
 * webhooks are never stored as user content. Every write goes through the ordered writer queue.
 */
export class MessageLogService {
  constructor(
    private readonly writer: WriterQueue,
    private readonly state: PrivacyState,
    private readonly keys: KeyRing,
    private readonly limits: { maxMessageChars: number },
  ) {}

  /** Decides and, when allowed, queues the message. Throws ValidationError (writing nothing) on bad input. */
  async onCreate(msg: IncomingMessage): Promise<LogDecision> {
    const decision = this.decide(msg);
    if (decision !== 'stored') return decision;
    const accepted = this.writer.enqueue({
      kind: 'message.insert',
      row: {
        id: msg.id,
        guildId: msg.guildId!,
        channelId: msg.channelId,
        parentChannelId: msg.parentChannelId ?? null,
        authorId: msg.authorId,
        source: msg.source ?? 'discord',
        replyToId: msg.replyToId ?? null,
        content: msg.content,
        createdAt: msg.createdAt,
      },
    });
    return accepted ? decision : 'shed_queue_full';
  }

  /** Pure decision (also validates), exposed for the chat service: may this message be stored? */
  decide(msg: IncomingMessage): LogDecision {
    assertSnowflake('message id', msg.id);
    assertOptionalSnowflake('guild id', msg.guildId);
    assertSnowflake('channel id', msg.channelId);
    assertOptionalSnowflake('parent channel id', msg.parentChannelId);
    assertSnowflake('author id', msg.authorId);
    assertOptionalSnowflake('reply-to id', msg.replyToId);
    this.assertContent(msg.content);
    if (!(msg.createdAt instanceof Date) || Number.isNaN(msg.createdAt.getTime())) throw new ValidationError('createdAt', 'expected a valid date');
    if (msg.authorIsBot || msg.webhookId || msg.isSystem) return 'skipped_bot';
    if (!msg.guildId) return 'skipped_dm';
    if (msg.content.trim() === '') return 'skipped_empty';
    if (!this.state.isLoggingOn(msg.channelId, msg.parentChannelId ?? null)) return 'skipped_channel_off';
    if (!this.state.hasConsent(msg.guildId, msg.authorId)) return 'skipped_no_consent';
    return 'stored';
  }

  /** Edits update a stored copy; if the author may no longer be logged there, the stored copy is removed. */
  async onEdit(edit: MessageEdit): Promise<void> {
    assertSnowflake('message id', edit.id);
    assertOptionalSnowflake('guild id', edit.guildId);
    assertSnowflake('channel id', edit.channelId);
    assertOptionalSnowflake('parent channel id', edit.parentChannelId);
    assertSnowflake('author id', edit.authorId);
    this.assertContent(edit.content);
    if (!edit.guildId) return;
    const keep =
      edit.content.trim() !== '' &&
      this.state.isLoggingOn(edit.channelId, edit.parentChannelId ?? null) &&
      this.state.hasConsent(edit.guildId, edit.authorId);
    this.writer.enqueue({ kind: 'message.edit', id: edit.id, content: edit.content, editedAt: edit.editedAt, keep });
  }

  async onDelete(messageId: string): Promise<void> {
    assertSnowflake('message id', messageId);
    this.writer.enqueue({ kind: 'message.delete', id: messageId });
  }

  /** A bulk delete (a moderator's purge, a ban with message history): each stored copy goes, and its dataset lines. */
  async onBulkDelete(messageIds: readonly string[]): Promise<void> {
    const ids = messageIds.map((id, i) => assertSnowflake(`message id ${i + 1}`, id));
    for (let i = 0; i < ids.length; i += 1000) this.writer.enqueue({ kind: 'messages.delete', ids: ids.slice(i, i + 1000) });
  }

  /** A channel or thread was deleted: everything stored from it (a channel's threads included) goes, and logging there ends. */
  async onChannelDelete(channelId: string): Promise<ChannelDeleteCounts> {
    assertSnowflake('channel id', channelId);
    this.state.dropChannel(channelId);
    return this.writer.submit<ChannelDeleteCounts>({ kind: 'channel.delete', channelId });
  }

  async onReaction(r: { messageId: string; userId: string; emoji: string; guildId: string | null; added: boolean }): Promise<void> {
    assertSnowflake('message id', r.messageId);
    assertSnowflake('user id', r.userId);
    assertOptionalSnowflake('guild id', r.guildId);
    if (typeof r.emoji !== 'string' || r.emoji.length === 0 || r.emoji.length > 100) throw new ValidationError('emoji', 'expected an emoji (1-100 characters)');
    const userHmac = this.keys.userHmac(r.userId);
    this.writer.enqueue(
      r.added
        ? { kind: 'reaction.add', messageId: r.messageId, userHmac, emoji: r.emoji, guildId: r.guildId }
        : { kind: 'reaction.remove', messageId: r.messageId, userHmac, emoji: r.emoji },
    );
  }

  /**
   * Records a persona reply. Its text is kept only when the user it answered may be logged
   * (`keepText`); otherwise only metadata (version, timings, tokens, message id).
   */
  async onPersonaReply(row: Omit<PersonaReplyRow, 'userHmac' | 'content'> & { userId: string | null; content: string; keepText: boolean }): Promise<void> {
    assertSnowflake('message id', row.messageId);
    const { userId, content, keepText, ...rest } = row;
    this.writer.enqueue({
      kind: 'reply.insert',
      row: { ...rest, userHmac: userId ? this.keys.userHmac(userId) : null, content: keepText ? content : null },
    });
  }

  private assertContent(content: unknown): void {
    if (typeof content !== 'string') throw new ValidationError('content', 'expected text');
    if (content.length > this.limits.maxMessageChars) {
      throw new ValidationError('content', `${content.length} characters is over the limit of ${this.limits.maxMessageChars} (MAX_MESSAGE_CHARS)`);
    }
  }
}

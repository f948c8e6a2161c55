/** Every write of logged data, as an operation for the ordered writer queue. */
export interface MessageRow {
  id: string;
  guildId: string;
  channelId: string;
  parentChannelId: string | null;
  authorId: string;
  source: 'discord' | 'console';
  replyToId: string | null;
  content: string;
  createdAt: Date;
}

export interface PersonaReplyRow {
  messageId: string;
  conversationId: string | null;
  guildId: string | null;
  channelId: string;
  personaSlug: string;
  personaVersionId: number | null;
  model: string;
  userHmac: string | null;
  inReplyToId: string | null;
  /** Only when the user it answered had consent; otherwise metadata only. */
  content: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  ttftMs: number | null;
  totalMs: number | null;
  createdAt: Date;
}

export interface ForgetCounts {
  messages: number;
  reactions: number;
  datasetLines: number;
  personaReplies: number;
  consents: number;
  consentEvents: number;
}

export type ChannelDeleteCounts = Record<'messages' | 'reactions' | 'replyTexts' | 'datasetLines' | 'conversations' | 'channels', number>;

export type GuildPurgeCounts = Record<'messages' | 'reactions' | 'datasetLines' | 'personaReplies' | 'consents' | 'consentEvents' | 'channels' | 'conversations', number>;

export type RetentionCounts = Record<'messages' | 'datasetVersions' | 'replyTexts', number>;

export type WriteOp =
  | { kind: 'message.insert'; row: MessageRow }
  /** keep=false: the author may no longer be logged, so the stored copy is removed instead. */
  | { kind: 'message.edit'; id: string; content: string; editedAt: Date; keep: boolean }
  | { kind: 'message.delete'; id: string }
  /** A bulk delete (a moderator's purge, a ban that deletes history). */
  | { kind: 'messages.delete'; ids: string[] }
  /** A channel or thread was deleted: everything stored from it (and from a channel's threads) goes. */
  | { kind: 'channel.delete'; channelId: string }
  | { kind: 'reaction.add'; messageId: string; userHmac: string; emoji: string; guildId: string | null }
  | { kind: 'reaction.remove'; messageId: string; userHmac: string; emoji: string }
  | { kind: 'reply.insert'; row: PersonaReplyRow }
  | { kind: 'consent.set'; guildId: string; userId: string; status: 'in' | 'out'; policyVersion: number }
  | { kind: 'channel.set'; guildId: string; channelId: string; enabled: boolean }
  | { kind: 'user.forget'; userId: string; userHmac: string }
  | { kind: 'guild.purge'; guildId: string }
  | { kind: 'retention.purge'; cutoff: Date }
  /** Resolves once everything accepted before it is committed. */
  | { kind: 'barrier' };

/** Ops that must run alone, after everything before them and before everything after. */
export function isBarrier(op: WriteOp): boolean {
  return op.kind === 'user.forget' || op.kind === 'guild.purge' || op.kind === 'channel.delete' || op.kind === 'retention.purge' || op.kind === 'barrier';
}

/** New inserts: the only ops a full writer queue may shed (an edit, delete or privacy op never is). */
export function isSheddable(op: WriteOp): boolean {
  return op.kind === 'message.insert' || op.kind === 'reply.insert' || op.kind === 'reaction.add';
}

/**
 * How an op must survive a database outage and a restart. Ops that stop or erase storage of
 * someone's data are journaled when accepted and retried until they commit: privacy intents
 * (opt-out, logging-off, forget, purge) are fsynced before the user is told, deletes are written
 * to the journal without waiting for the disk (a crash of the process cannot lose them, a power
 * cut right then could). Opt-in and logging-on never are: they take effect only once committed.
 */
export function durability(op: WriteOp): 'none' | 'journal' | 'fsync' {
  switch (op.kind) {
    case 'consent.set':
      return op.status === 'out' ? 'fsync' : 'none';
    case 'channel.set':
      return op.enabled ? 'none' : 'fsync';
    case 'user.forget':
    case 'guild.purge':
      return 'fsync';
    case 'message.delete':
    case 'messages.delete':
    case 'channel.delete':
      return 'journal';
    case 'message.edit':
      return op.keep ? 'none' : 'journal'; // the stored copy is being removed
    default:
      return 'none';
  }
}

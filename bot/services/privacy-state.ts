import type { Db } from '../db/client.js';
import type { WriteOp } from '../db/write-ops.js';
import { channelSettings, consents } from '../db/schema.js';

/**
 * The in-memory mirror of who may be logged where: consents and channel switches. It is the
 * authority at the moment a message arrives (a map lookup, so accepting a message stays far
 * under a millisecond); the database follows it through the ordered writer queue. Loaded from
 * the database at start-up (then the journal's pending privacy ops are re-applied). Opt-outs,
 * forgets and logging-off change it before their write is queued, so logging stops at once;
 * opt-ins and logging-on change it only once their write committed.
 */
export class PrivacyState {
  private readonly consentByKey = new Map<string, { status: 'in' | 'out'; policyVersion: number }>();
  private readonly channels = new Map<string, { guildId: string; enabled: boolean }>();

  constructor(public policyVersion: number) {}

  async load(db: Db): Promise<void> {
    this.consentByKey.clear();
    this.channels.clear();
    for (const c of await db.select().from(consents)) {
      this.consentByKey.set(key(c.guildId, c.userId), { status: c.status, policyVersion: c.policyVersion });
    }
    for (const ch of await db.select().from(channelSettings)) {
      this.channels.set(ch.channelId, { guildId: ch.guildId, enabled: ch.loggingEnabled });
    }
  }

  /**
   * Re-applies a privacy op that was accepted before a restart but is not in the database yet
   * (the intent journal's), so logging stays stopped while it is being committed.
   */
  applyPending(op: WriteOp): void {
    if (op.kind === 'consent.set' && op.status === 'out') this.setConsent(op.guildId, op.userId, 'out', op.policyVersion);
    else if (op.kind === 'channel.set' && !op.enabled) this.setLogging(op.guildId, op.channelId, false);
    else if (op.kind === 'user.forget') this.dropUser(op.userId);
    else if (op.kind === 'guild.purge') this.dropGuild(op.guildId);
    else if (op.kind === 'channel.delete') this.dropChannel(op.channelId);
  }

  /** An opt-in or logging-on from before a restart, once it committed (they apply only when durable). */
  applyCommitted(op: WriteOp): void {
    if (op.kind === 'consent.set' && op.status === 'in') this.setConsent(op.guildId, op.userId, 'in', op.policyVersion);
    else if (op.kind === 'channel.set' && op.enabled) this.setLogging(op.guildId, op.channelId, true);
  }

  consent(guildId: string, userId: string): { status: 'in' | 'out'; policyVersion: number } | undefined {
    return this.consentByKey.get(key(guildId, userId));
  }

  /** Current consent: opted in to the policy version in force. */
  hasConsent(guildId: string, userId: string): boolean {
    const c = this.consentByKey.get(key(guildId, userId));
    return c !== undefined && c.status === 'in' && c.policyVersion === this.policyVersion;
  }

  setConsent(guildId: string, userId: string, status: 'in' | 'out', policyVersion: number): void {
    this.consentByKey.set(key(guildId, userId), { status, policyVersion });
  }

  /** Forget: the user has no consent anywhere. */
  dropUser(userId: string): void {
    for (const k of this.consentByKey.keys()) if (k.endsWith(`:${userId}`)) this.consentByKey.delete(k);
  }

  dropGuild(guildId: string): void {
    for (const k of this.consentByKey.keys()) if (k.startsWith(`${guildId}:`)) this.consentByKey.delete(k);
    for (const [id, ch] of this.channels) if (ch.guildId === guildId) this.channels.delete(id);
  }

  /** Logging is on for a channel, or for a thread's parent channel (threads follow their parent). */
  isLoggingOn(channelId: string, parentChannelId: string | null): boolean {
    const id = parentChannelId ?? channelId;
    return this.channels.get(id)?.enabled === true;
  }

  /** A deleted channel: its switch goes with it. */
  dropChannel(channelId: string): void {
    this.channels.delete(channelId);
  }

  setLogging(guildId: string, channelId: string, enabled: boolean): void {
    this.channels.set(channelId, { guildId, enabled });
  }

  channelsOf(guildId: string): { channelId: string; enabled: boolean }[] {
    return [...this.channels].filter(([, c]) => c.guildId === guildId).map(([channelId, c]) => ({ channelId, enabled: c.enabled }));
  }
}

function key(guildId: string, userId: string): string {
  return `${guildId}:${userId}`;
}

/** Whether `later` stops the logging that `start` (an opt-in or logging-on) allows: it then wins. */
export function overrides(later: WriteOp, start: WriteOp): boolean {
  if (start.kind === 'consent.set') {
    return (
      (later.kind === 'consent.set' && later.status === 'out' && later.guildId === start.guildId && later.userId === start.userId) ||
      (later.kind === 'user.forget' && later.userId === start.userId) ||
      (later.kind === 'guild.purge' && later.guildId === start.guildId)
    );
  }
  if (start.kind === 'channel.set') {
    return (later.kind === 'channel.set' && !later.enabled && later.channelId === start.channelId) || (later.kind === 'guild.purge' && later.guildId === start.guildId);
  }
  return false;
}

import { and, count, eq } from 'drizzle-orm';
import type { KeyRing } from '../crypto/keyring.js';
import type { Db } from '../db/client.js';
import { loggedMessages } from '../db/schema.js';
import type { ForgetCounts, GuildPurgeCounts } from '../db/write-ops.js';
import type { ConsentPolicy } from './consent-policy.js';
import { assertSnowflake } from '../core/ids.js';
import type { PrivacyState } from './privacy-state.js';
import type { WriterQueue } from './writer-queue.js';

export type ConsentState = 'opted_in' | 'opted_out' | 'never' | 'policy_outdated';

export interface ConsentStatus {
  state: ConsentState;
  /** The version the user agreed to (if any) and the one in force. */
  policyVersion: number | null;
  currentPolicyVersion: number;
  /** Messages of this user stored in this guild. */
  storedMessages: number;
}

/** Consent per (guild, user): opt-in, opt-out, status, forget (all guilds), and guild purges. */
export class ConsentService {
  constructor(
    private readonly db: Db,
    private readonly writer: WriterQueue,
    private readonly state: PrivacyState,
    private readonly keys: KeyRing,
    private policy: ConsentPolicy,
    private readonly policyContext: { retentionDays: number; chatLogTraining: boolean },
  ) {}

  get policyVersion(): number {
    return this.policy.version;
  }

  /**
   * Puts a new policy in force (at start-up, or when the text is reloaded). Users who agreed to
   * an older version are not logged until they opt in to this one.
   */
  adoptPolicy(policy: ConsentPolicy): void {
    this.policy = policy;
    this.state.policyVersion = policy.version;
  }

  policyText(): string {
    return this.policy.text(this.policyContext);
  }

  async optIn(guildId: string, userId: string): Promise<{ policyVersion: number; policyText: string; alreadyIn: boolean }> {
    assertSnowflake('guild', guildId);
    assertSnowflake('user', userId);
    const alreadyIn = this.state.hasConsent(guildId, userId);
    if (!alreadyIn) {
      // Write first, then start logging: a message is never stored ahead of its consent row.
      await this.writer.submit({ kind: 'consent.set', guildId, userId, status: 'in', policyVersion: this.policy.version });
      this.state.setConsent(guildId, userId, 'in', this.policy.version);
    }
    return { policyVersion: this.policy.version, policyText: this.policyText(), alreadyIn };
  }

  async optOut(guildId: string, userId: string): Promise<{ wasIn: boolean }> {
    assertSnowflake('guild', guildId);
    assertSnowflake('user', userId);
    const wasIn = this.state.hasConsent(guildId, userId);
    if (this.state.consent(guildId, userId)?.status === 'in') {
      // Stop logging first, then record it.
      this.state.setConsent(guildId, userId, 'out', this.policy.version);
      await this.writer.submit({ kind: 'consent.set', guildId, userId, status: 'out', policyVersion: this.policy.version });
    }
    return { wasIn };
  }

  async status(guildId: string, userId: string): Promise<ConsentStatus> {
    assertSnowflake('guild', guildId);
    assertSnowflake('user', userId);
    await this.writer.drainPoint(); // count what has been accepted, not only what has been flushed
    const c = this.state.consent(guildId, userId);
    const state: ConsentState = !c ? 'never' : c.status === 'out' ? 'opted_out' : c.policyVersion === this.policy.version ? 'opted_in' : 'policy_outdated';
    const [row] = await this.db
      .select({ n: count() })
      .from(loggedMessages)
      .where(and(eq(loggedMessages.guildId, guildId), eq(loggedMessages.authorId, userId)));
    return { state, policyVersion: c?.policyVersion ?? null, currentPolicyVersion: this.policy.version, storedMessages: Number(row?.n ?? 0) };
  }

  /** Erases everything of the user in every guild and ends their consent. Reports what was erased. */
  async forget(userId: string): Promise<ForgetCounts> {
    assertSnowflake('user', userId);
    this.state.dropUser(userId);
    return this.writer.submit<ForgetCounts>({ kind: 'user.forget', userId, userHmac: this.keys.userHmac(userId) });
  }

  /** Erases everything of a guild (the bot was removed from it). */
  async purgeGuild(guildId: string): Promise<GuildPurgeCounts> {
    assertSnowflake('guild', guildId);
    this.state.dropGuild(guildId);
    return this.writer.submit<GuildPurgeCounts>({ kind: 'guild.purge', guildId });
  }
}

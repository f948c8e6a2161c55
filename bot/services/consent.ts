import { and, count, eq } from 'drizzle-orm';
import type { KeyRing } from '../crypto/keyring.js';
import type { Db } from '../db/client.js';
import { channelSettings, consents, conversations, loggedMessages, personaReplies } from '../db/schema.js';
import type { ForgetCounts, GuildPurgeCounts } from '../db/write-ops.js';
import type { ConsentPolicy } from './consent-policy.js';
import { assertSnowflake, CONSOLE_GUILD_ID } from '../core/ids.js';
import type { PrivacyState } from './privacy-state.js';
import type { WriterQueue } from './writer-queue.js';
import { committedWithin } from './writer-queue.js';

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
  /** Per user and per guild, how many opt-outs, forgets and purges were accepted (see optIn). */
  private readonly stops = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly writer: WriterQueue,
    private readonly state: PrivacyState,
    private readonly keys: KeyRing,
    private policy: ConsentPolicy,
    private readonly policyContext: { retentionDays: number; chatLogTraining: boolean },
    /** How long an answer waits for the database before saying the change is on its way. */
    private readonly ackMs = 5000,
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

  /**
   * Opt-in takes effect only once it is in the database (a message is never stored ahead of its
   * consent row). If that takes longer than the answer can wait (the database is down), it is
   * still queued and logging starts when it commits (`saved: false`).
   */
  async optIn(guildId: string, userId: string): Promise<{ policyVersion: number; policyText: string; alreadyIn: boolean; saved: boolean }> {
    assertSnowflake('guild', guildId);
    assertSnowflake('user', userId);
    const alreadyIn = this.state.hasConsent(guildId, userId);
    let saved = true;
    if (!alreadyIn) {
      const version = this.policy.version;
      const stopsBefore = this.stopsOf(guildId, userId);
      const committed = this.writer.submit({ kind: 'consent.set', guildId, userId, status: 'in', policyVersion: version }).then(() => {
        // Unless an opt-out, forget or purge was accepted meanwhile: it came later, so it wins.
        if (this.stopsOf(guildId, userId) === stopsBefore) this.state.setConsent(guildId, userId, 'in', version);
      });
      saved = await committedWithin(committed, this.ackMs);
    }
    return { policyVersion: this.policy.version, policyText: this.policyText(), alreadyIn, saved };
  }

  /**
   * Opt-out stops logging at once and is journaled before this returns, so neither an outage
   * nor a restart loses it; `saved` says whether the database has it yet. Asking again while it
   * is still on its way answers as the first time did.
   */
  async optOut(guildId: string, userId: string): Promise<{ wasIn: boolean; saved: boolean }> {
    assertSnowflake('guild', guildId);
    assertSnowflake('user', userId);
    const stillSaving = this.writer.isPending((op) => op.kind === 'consent.set' && op.status === 'out' && op.guildId === guildId && op.userId === userId);
    const wasIn = this.state.hasConsent(guildId, userId) || stillSaving;
    if (this.state.consent(guildId, userId)?.status === 'in' || this.inFlightOptIns(guildId, userId)) {
      this.countStop(`consent:${guildId}:${userId}`); // this guild only: an opt-in elsewhere still applies
      this.state.setConsent(guildId, userId, 'out', this.policy.version);
      const committed = this.writer.submit({ kind: 'consent.set', guildId, userId, status: 'out', policyVersion: this.policy.version });
      return { wasIn, saved: await committedWithin(committed, this.ackMs) };
    }
    return { wasIn, saved: !stillSaving };
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

  /**
   * Erases everything of the user in every guild and ends their consent. Logging stops at once
   * and the erasure is journaled before this returns; it reports what was erased, or null when
   * the database did not answer in time (the erasure completes when it is back, restarts included).
   */
  async forget(userId: string): Promise<ForgetCounts | null> {
    assertSnowflake('user', userId);
    this.countStop(`user:${userId}`);
    this.state.dropUser(userId);
    let counts: ForgetCounts | null = null;
    const committed = this.writer.submit<ForgetCounts>({ kind: 'user.forget', userId, userHmac: this.keys.userHmac(userId) }).then((c) => {
      counts = c;
    });
    return (await committedWithin(committed, this.ackMs)) ? counts : null;
  }

  /**
   * At connect: purges every guild with stored data that is not among the guilds the bot is in
   * (it was removed while offline, so no removal event came). The console's data is never a guild's.
   */
  async purgeGuildsLeft(present: readonly string[]): Promise<{ guildId: string; counts: GuildPurgeCounts }[]> {
    await this.writer.drainPoint();
    const keep = new Set([...present, CONSOLE_GUILD_ID]);
    const stored = new Set<string>();
    for (const table of [loggedMessages, consents, channelSettings, personaReplies, conversations]) {
      for (const r of await this.db.selectDistinct({ g: table.guildId }).from(table)) if (r.g) stored.add(r.g);
    }
    const left = [...stored].filter((g) => !keep.has(g));
    const purged: { guildId: string; counts: GuildPurgeCounts }[] = [];
    for (const guildId of left) purged.push({ guildId, counts: await this.purgeGuild(guildId) });
    return purged;
  }

  /** Erases everything of a guild (the bot was removed from it). */
  async purgeGuild(guildId: string): Promise<GuildPurgeCounts> {
    assertSnowflake('guild', guildId);
    this.countStop(`guild:${guildId}`);
    this.state.dropGuild(guildId);
    return this.writer.submit<GuildPurgeCounts>({ kind: 'guild.purge', guildId });
  }

  /** Opt-outs, forgets and purges accepted so far that concern this user here (an opt-in still committing yields to them). */
  private stopsOf(guildId: string, userId: string): number {
    return (this.stops.get(`consent:${guildId}:${userId}`) ?? 0) + (this.stops.get(`user:${userId}`) ?? 0) + (this.stops.get(`guild:${guildId}`) ?? 0);
  }

  private countStop(key: string): void {
    this.stops.set(key, (this.stops.get(key) ?? 0) + 1);
  }

  private inFlightOptIns(guildId: string, userId: string): boolean {
    return this.writer.isPending((op) => op.kind === 'consent.set' && op.status === 'in' && op.guildId === guildId && op.userId === userId);
  }
}


import { assertSnowflake } from '../core/ids.js';
import type { PrivacyState } from './privacy-state.js';
import type { WriterQueue } from './writer-queue.js';
import { committedWithin } from './writer-queue.js';

/** The per-channel logging switch (/logging on|off|status). Threads follow their parent channel. */
export class ChannelLoggingService {
  /** Per channel, how many logging-offs were accepted (see set). */
  private readonly offs = new Map<string, number>();

  constructor(
    private readonly writer: WriterQueue,
    private readonly state: PrivacyState,
    /** How long an answer waits for the database before saying the change is on its way. */
    private readonly ackMs = 5000,
  ) {}

  /**
   * Off stops logging at once and is journaled before this returns (an outage or restart cannot
   * lose it); on takes effect only once it is in the database. `saved`: the database has it.
   */
  async set(guildId: string, channelId: string, enabled: boolean): Promise<{ changed: boolean; saved: boolean }> {
    assertSnowflake('guild', guildId);
    assertSnowflake('channel', channelId);
    const changed = this.state.isLoggingOn(channelId, null) !== enabled;
    const offsBefore = this.offs.get(channelId) ?? 0;
    if (!enabled) {
      this.offs.set(channelId, offsBefore + 1);
      this.state.setLogging(guildId, channelId, false); // stop at once, record after
    }
    const committed = this.writer.submit({ kind: 'channel.set', guildId, channelId, enabled }).then(() => {
      // An off accepted after this on came later, so it wins.
      if (enabled && (this.offs.get(channelId) ?? 0) === offsBefore) this.state.setLogging(guildId, channelId, true);
    });
    return { changed, saved: await committedWithin(committed, this.ackMs) };
  }

  isOn(channelId: string, parentChannelId: string | null = null): boolean {
    return this.state.isLoggingOn(channelId, parentChannelId);
  }

  /** Channels of a guild with logging on. */
  enabledChannels(guildId: string): string[] {
    assertSnowflake('guild', guildId);
    return this.state.channelsOf(guildId).filter((c) => c.enabled).map((c) => c.channelId);
  }
}

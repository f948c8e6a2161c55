import { assertSnowflake } from '../core/ids.js';
import type { PrivacyState } from './privacy-state.js';
import type { WriterQueue } from './writer-queue.js';

/** The per-channel logging switch (/logging on|off|status). Threads follow their parent channel. */
export class ChannelLoggingService {
  constructor(
    private readonly writer: WriterQueue,
    private readonly state: PrivacyState,
  ) {}

  async set(guildId: string, channelId: string, enabled: boolean): Promise<{ changed: boolean }> {
    assertSnowflake('guild', guildId);
    assertSnowflake('channel', channelId);
    const changed = this.state.isLoggingOn(channelId, null) !== enabled;
    if (!enabled) this.state.setLogging(guildId, channelId, false); // stop at once, record after
    await this.writer.submit({ kind: 'channel.set', guildId, channelId, enabled });
    if (enabled) this.state.setLogging(guildId, channelId, true);
    return { changed };
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

import { DiscordAPIError, RESTJSONErrorCodes, type Client, type Message, type Webhook } from 'discord.js';
import type { Logger } from 'pino';
import type { PersonaCard } from '../personas/card.js';
import { ThrottledEdit } from '../core/throttled-edit.js';
import type { PersonaVoice } from '../services/chat.js';

/** Discord's limit per message. */
export const MAX_CONTENT = 2000;
/** Streaming edits at most about once per second (editing faster hits rate limits). */
export const EDIT_INTERVAL_MS = 1100;
const WEBHOOK_NAME = 'persona-bot';

/** Webhook usernames may not contain "discord" or "clyde" and are at most 80 characters. */
export function cleanWebhookName(name: string): string {
  const cleaned = name.replace(/discord/gi, 'd1scord').replace(/clyde/gi, 'clyd3').replace(/\s+/g, ' ').trim().slice(0, 80);
  return cleaned.length >= 1 ? cleaned : 'Persona';
}

/** Splits text into Discord-sized pieces, preferring line and word boundaries. */
export function splitContent(text: string, max = MAX_CONTENT): string[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    let cut = rest.lastIndexOf('\n', max);
    if (cut < max / 2) cut = rest.lastIndexOf(' ', max);
    if (cut < max / 2) cut = max;
    parts.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > 0 || parts.length === 0) parts.push(rest || '…');
  return parts;
}

/** A message that can no longer be edited (its webhook was deleted): continue in a new one. */
class OrphanedMessage extends Error {
  override name = 'OrphanedMessage';
}

interface Sender {
  send(content: string): Promise<Message>;
  /** Throws OrphanedMessage when the message's webhook is gone. */
  edit(messageId: string, content: string): Promise<void>;
  typing(): Promise<void>;
}

/**
 * How personas speak in Discord: through one webhook per channel (threads: the parent's webhook
 * with thread_id), with the persona's name and avatar, so each persona has its own identity.
 * In DMs, plain bot messages. Mentions never ping (allowed_mentions: parse []).
 */
export class DiscordVoices {
  private readonly webhooks = new Map<string, Promise<Webhook>>();

  constructor(
    private readonly client: Client,
    private readonly log?: Logger,
  ) {}

  voice(target: { channelId: string; parentId: string | null }): PersonaVoice {
    return { speak: (persona, produce) => this.speak(persona, target, produce) };
  }

  private async speak(persona: PersonaCard, target: { channelId: string; parentId: string | null }, produce: Parameters<PersonaVoice['speak']>[1]): Promise<{ messageId: string }> {
    // The channel lookup runs alongside the model call, not before it: the first token is at
    // least a prompt evaluation away, and when many turns arrive at once each one's lookup would
    // otherwise wait behind the others' work before its model request is even sent.
    const sender = this.sender(persona, target);
    sender.catch(() => {}); // its failure is reported by finish/abandon, not as an unhandled rejection
    const stream = new StreamedMessage(sender);
    const typing = () => void sender.then((s) => s.typing()).catch(() => {}); // the indicator must not delay the reply
    // The first indicator goes out once the model has been asked (setImmediate: after this turn's
    // model request and those of any other messages that arrived with it): it is cosmetic, and
    // when many turns start at once their 50 typing requests would otherwise hold up the requests
    // that carry the replies.
    const firstTyping = setImmediate(typing);
    const typingTimer = setInterval(typing, 8000);
    try {
      const final = await produce((delta) => stream.append(delta));
      return { messageId: await stream.finish(final) };
    } catch (err) {
      await stream.abandon();
      throw err;
    } finally {
      clearImmediate(firstTyping);
      clearInterval(typingTimer);
    }
  }

  private async sender(persona: PersonaCard, target: { channelId: string; parentId: string | null }): Promise<Sender> {
    const channel = await this.client.channels.fetch(target.channelId);
    if (!channel) throw new Error(`channel ${target.channelId} not found`);
    const sendTyping = async () => {
      if ('sendTyping' in channel && typeof channel.sendTyping === 'function') await channel.sendTyping();
    };
    if (channel.isDMBased()) {
      if (!('send' in channel)) throw new Error('DM channel cannot send');
      return {
        send: (content) => channel.send({ content, allowedMentions: { parse: [] } }),
        edit: async (id, content) => void (await channel.messages.edit(id, { content, allowedMentions: { parse: [] } })),
        typing: sendTyping,
      };
    }
    const hookChannelId = target.parentId ?? target.channelId;
    const threadId = target.parentId ? target.channelId : undefined;
    const username = cleanWebhookName(persona.name);
    // On 10015 (Unknown Webhook: someone deleted it) the webhook is recreated once.
    const withWebhook = async <T>(fn: (hook: Webhook) => Promise<T>): Promise<T> => {
      try {
        return await fn(await this.webhook(hookChannelId));
      } catch (err) {
        if (err instanceof DiscordAPIError && err.code === RESTJSONErrorCodes.UnknownWebhook) {
          this.log?.warn({ channel: hookChannelId }, 'webhook was deleted; recreating it');
          this.webhooks.delete(hookChannelId);
          return fn(await this.webhook(hookChannelId));
        }
        throw err;
      }
    };
    return {
      send: (content) =>
        withWebhook((hook) => hook.send({ content, username, avatarURL: persona.avatar, threadId, allowedMentions: { parse: [] } })),
      edit: async (id, content) => {
        try {
          await (await this.webhook(hookChannelId)).editMessage(id, { content, threadId, allowedMentions: { parse: [] } });
        } catch (err) {
          // A webhook can edit only its own messages: once it is deleted, so is the way to edit them.
          if (err instanceof DiscordAPIError && err.code === RESTJSONErrorCodes.UnknownWebhook) {
            this.webhooks.delete(hookChannelId);
            throw new OrphanedMessage('webhook deleted');
          }
          throw err;
        }
      },
      typing: sendTyping,
    };
  }

  /** One webhook per channel, reused (15 per channel and 1000 per guild are Discord's limits). */
  private webhook(channelId: string): Promise<Webhook> {
    let hook = this.webhooks.get(channelId);
    if (!hook) {
      hook = (async () => {
        const channel = await this.client.channels.fetch(channelId);
        if (!channel || !('fetchWebhooks' in channel) || typeof channel.fetchWebhooks !== 'function') {
          throw new Error(`channel ${channelId} does not support webhooks`);
        }
        const existing = (await channel.fetchWebhooks()).find((w: Webhook) => w.owner?.id === this.client.user?.id && w.name === WEBHOOK_NAME && !!w.token);
        return existing ?? (await channel.createWebhook({ name: WEBHOOK_NAME, reason: 'persona replies' }));
      })();
      hook.catch(() => this.webhooks.delete(channelId));
      this.webhooks.set(channelId, hook);
    }
    return hook;
  }
}

/**
 * A reply that grows as tokens arrive: posted on the first token, edited at most once per
 * EDIT_INTERVAL_MS while streaming (a ThrottledEdit), continued in a new message past 2,000
 * characters. The final text is applied as soon as the model is done (one more edit, not
 * throttled: discord.js still waits on the bucket's rate-limit headers).
 */
class StreamedMessage {
  private text = '';
  private posted: { id: string; content: string }[] = [];
  private readonly edits = new ThrottledEdit<string>({
    intervalMs: EDIT_INTERVAL_MS,
    apply: (text) => this.sync(text),
    onError: () => {}, // an edit between flushes that fails is retried by the next one, or by finish()
  });

  /** `sender` may still be resolving (the channel lookup overlaps the model call). */
  constructor(private readonly sender: Promise<Sender>) {}

  append(delta: string): void {
    this.text += delta;
    this.edits.set(this.text);
  }

  async finish(finalText: string): Promise<string> {
    await this.edits.flush(finalText);
    return this.posted[0]!.id;
  }

  async abandon(): Promise<void> {
    await this.edits.cancel();
  }

  /** Makes the posted messages show `text`: edits what changed, posts what is new. */
  private async sync(text: string): Promise<void> {
    const parts = splitContent(text.trim() || '…');
    const sender = await this.sender;
    for (let i = 0; i < parts.length; i++) {
      const existing = this.posted[i];
      if (!existing) {
        const msg = await sender.send(parts[i]!);
        this.posted.push({ id: msg.id, content: parts[i]! });
      } else if (existing.content !== parts[i]) {
        try {
          await sender.edit(existing.id, parts[i]!);
          existing.content = parts[i]!;
        } catch (err) {
          if (!(err instanceof OrphanedMessage)) throw err;
          const msg = await sender.send(parts[i]!); // through the recreated webhook
          this.posted[i] = { id: msg.id, content: parts[i]! };
        }
      }
    }
  }
}

import type { Logger } from 'pino';
import { assertAllowed, nsfwRule } from '../personas/nsfw.js';
import type { PersonaRegistry } from '../personas/registry.js';
import type { ChatService, PersonaVoice, TurnResult } from './chat.js';
import type { IncomingMessage, MessageLogService } from './message-log.js';
import type { ScorecardService } from './scorecard.js';

export interface UserMessage {
  message: IncomingMessage;
  /** How the persona addresses the author. */
  userName: string;
  /** Whether the channel (or a thread's parent) is age-restricted. */
  channelIsNsfw: boolean;
  /** Where a reply goes. */
  voice: PersonaVoice;
  /** performance.now() when the transport received the message (the turn's spans start there). */
  receivedAt: number;
}

export type UserMessageOutcome =
  | { kind: 'answered'; turn: TurnResult }
  /** No persona is bound to the channel: the message was only logged (where the rules allow). */
  | { kind: 'unbound' }
  /** Not something a persona answers: a bot's or a system message, or no text. */
  | { kind: 'ignored' };

/**
 * What happens to a message a person writes, the same for Discord and the console: it is logged
 * under the logging rules (best effort: a message that cannot be logged is still answered), and in
 * a channel bound to a persona it gets that persona's reply, if the persona may speak there (the
 * NSFW rule, checked on every turn). A refusal or failure of the reply is thrown for the
 * transport to show (classifyError).
 */
export class UserMessageService {
  constructor(
    private readonly deps: {
      messages: MessageLogService;
      chat: ChatService;
      personas: PersonaRegistry;
      scorecards: ScorecardService;
      log?: Logger;
    },
  ) {}

  async onUserMessage(input: UserMessage): Promise<UserMessageOutcome> {
    const { message } = input;
    await this.deps.messages.onCreate(message).catch((err: unknown) => this.deps.log?.debug({ err: (err as Error).message }, 'message not logged'));
    if (message.authorIsBot || message.isSystem || !message.content.trim()) return { kind: 'ignored' };
    const conversation = await this.deps.chat.active(message.channelId);
    if (!conversation) return { kind: 'unbound' };
    const card = this.deps.personas.get(conversation.personaSlug);
    assertAllowed(nsfwRule(card, { nsfw: input.channelIsNsfw }));
    const turn = await this.deps.chat.respond({
      conversation,
      user: { id: message.authorId, name: input.userName },
      text: message.content,
      messageId: message.id,
      parentChannelId: message.parentChannelId ?? null,
      voice: input.voice,
      receivedAt: input.receivedAt,
    });
    this.deps.scorecards.rememberReply(turn.messageId);
    return { kind: 'answered', turn };
  }
}

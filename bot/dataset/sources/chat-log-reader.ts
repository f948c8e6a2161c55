import { sql } from 'drizzle-orm';
import type { KeyRing } from '../../crypto/keyring.js';
import { DecryptionError } from '../../crypto/keyring.js';
import type { Db, Tx } from '../../db/client.js';
import { SLUG } from '../../personas/card.js';
import { cleanText } from '../clean.js';
import { DatasetSourceError } from '../errors.js';
import type { LogScope } from './source.js';

/**
 * Chat-log sources, read as streams (a server-side cursor in one read-only, repeatable-read
 * transaction, a batch at a time), so the number of logged messages never decides memory:
 *
 * - persona conversations: the user's logged message and the persona's stored reply text, with
 *   the thumbs on the reply; earlier qualifying exchanges of the same conversation are context;
 * - speaker sources: the card's `speakers` write in the persona's voice. Their messages become
 *   assistant turns, with the preceding messages as context: the reply chain when the message is
 *   a reply, otherwise the consecutive messages before it (same-author runs grouped).
 *
 * Text is decrypted only for messages that end up in a candidate, and cleaned (cleanText) once
 * per message, so the windows that share a message share its string.
 *
 * Consent is checked in SQL against the consents table (status 'in' at the current policy
 * version) and again through an optional callback (the bot's in-memory PrivacyState, which
 * knows about opt-outs and forgets before their write lands). A message whose author lacks
 * consent never reaches a line: its content is not even selected, and context stops at it; an
 * example whose direct context is such a message is dropped.
 */

export type { Tx };

export interface ChatTurn {
  role: 'user' | 'assistant';
  /** Already cleaned (cleanText). */
  content: string;
  authorId: string;
  guildId: string;
  /** The logged message (or persona reply) it is. */
  messageId: string;
  /** When it was written (ms since the epoch): a snapshot lives no longer than its oldest content (retention). */
  at: number;
}

export interface ChatCandidate {
  kind: 'conversation' | 'speaker';
  turns: ChatTurn[];
  /** The user counted against the per-user cap. */
  capUser: string;
}

export interface ChatLogSettings {
  slug: string;
  speakers: readonly string[];
  policyVersion: number;
  allowDiscord: boolean;
  consent?: (guildId: string, userId: string) => boolean;
  /** Whose logs are read: rows of any other server are never selected (and refused again in code). */
  logScope: LogScope;
  /** Most earlier turns (groups) kept as context; also the SQL look-back window, in messages. */
  maxContextTurns: number;
  /** A pause longer than this starts a new conversation. */
  sessionGapMs: number;
  minThumbsUp: number;
  batchSize: number;
}

export interface ChatLogCallbacks {
  candidate(c: ChatCandidate): void;
  removed(reason: string, n?: number): void;
  progress?(rows: number): void;
}

const SNOWFLAKE = /^\d{1,25}$/;

function literalIds(ids: readonly string[]): string {
  for (const id of ids) if (!SNOWFLAKE.test(id)) throw new DatasetSourceError('card speakers', `"${id}" is not a Discord user id`);
  return ids.length ? ids.map((id) => `'${id}'`).join(',') : `''`;
}

function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/** Streams a query through a cursor, `batch` rows at a time. Only literals inside `query`. */
async function* cursor<T>(tx: Tx, name: string, query: string, batch: number): AsyncGenerator<T[]> {
  await tx.execute(sql.raw(`declare ${name} no scroll cursor for ${query}`));
  try {
    for (;;) {
      const rows = rowsOf<T>(await tx.execute(sql.raw(`fetch ${batch} from ${name}`)));
      if (rows.length === 0) return;
      yield rows;
    }
  } finally {
    await tx.execute(sql.raw(`close ${name}`));
  }
}

/** ` and <alias>.guild_id = '<id>'` for a one-server scope (a literal: these queries run as cursors). */
function scopeClause(scope: LogScope, alias: string): string {
  if (scope === 'every-server') return '';
  if (scope.guildId === null) return ' and false';
  if (!SNOWFLAKE.test(scope.guildId)) throw new DatasetSourceError('server', `"${scope.guildId}" is not a Discord server id`);
  return ` and ${alias}.guild_id = '${scope.guildId}'`;
}

const inScope = (scope: LogScope, guildId: string | null) => scope === 'every-server' || (guildId !== null && guildId === scope.guildId);

const consentJoin = (v: number, alias = 'm') =>
  `left join consents c on c.guild_id = ${alias}.guild_id and c.user_id = ${alias}.author_id and c.status = 'in' and c.policy_version = ${v}`;

/** The SQL of the persona-conversation stream (also the benchmark's COPY floor). */
export function conversationQuery(s: Pick<ChatLogSettings, 'slug' | 'policyVersion' | 'allowDiscord' | 'logScope'>): string {
  if (!SLUG.test(s.slug)) throw new DatasetSourceError('persona', `"${s.slug}" is not a persona slug`);
  const v = Math.trunc(s.policyVersion);
  return `select r.message_id, r.conversation_id, r.created_at, r.content_enc as reply_enc, m.created_at as user_at,
      m.id as user_msg_id, m.author_id, m.guild_id, (c.user_id is not null) as ok,
      case when c.user_id is not null then m.content_enc end as user_enc,
      (select count(*) from reactions x where x.message_id = r.message_id and x.emoji like '👍%')::int as up,
      (select count(*) from reactions x where x.message_id = r.message_id and x.emoji like '👎%')::int as down
    from persona_replies r
    left join logged_messages m on m.id = r.in_reply_to_id
    ${consentJoin(v)}
    where r.persona_slug = '${s.slug}' and r.content_enc is not null${s.allowDiscord ? '' : ` and m.source = 'console'`}${scopeClause(s.logScope, 'm')}
    order by r.conversation_id nulls first, r.created_at, r.message_id`;
}

/** The SQL of the speaker stream: messages within the look-back window before a consented speaker message. */
export function speakerQuery(s: Pick<ChatLogSettings, 'speakers' | 'policyVersion' | 'allowDiscord' | 'maxContextTurns' | 'logScope'>): string | null {
  if (s.speakers.length === 0) return null;
  const ids = literalIds(s.speakers);
  const v = Math.trunc(s.policyVersion);
  const src = s.allowDiscord ? '' : ` and source = 'console'`;
  const k = Math.max(1, Math.trunc(s.maxContextTurns) * 2);
  return `select id, channel_id, guild_id, author_id, reply_to_id, created_at, ok, enc from (
      select m.id, m.channel_id, m.guild_id, m.author_id, m.reply_to_id, m.created_at,
        (c.user_id is not null) as ok,
        case when c.user_id is not null then m.content_enc end as enc,
        bool_or(m.author_id in (${ids}) and c.user_id is not null) over w as near
      from logged_messages m
      ${consentJoin(v)}
      where m.channel_id in (select distinct channel_id from logged_messages s where author_id in (${ids})${src}${scopeClause(s.logScope, 's')})${src.replace('source', 'm.source')}${scopeClause(s.logScope, 'm')}
      window w as (partition by m.channel_id order by m.created_at, m.id rows between current row and ${k} following)
    ) x where near
    order by channel_id, created_at, id`;
}

interface ConvRow {
  message_id: string;
  conversation_id: string | null;
  created_at: Date | string;
  user_at: Date | string | null;
  reply_enc: Uint8Array;
  user_msg_id: string | null;
  author_id: string | null;
  guild_id: string | null;
  ok: boolean;
  user_enc: Uint8Array | null;
  up: number;
  down: number;
}

interface MsgRow {
  id: string;
  channel_id: string;
  guild_id: string;
  author_id: string;
  reply_to_id: string | null;
  created_at: Date | string;
  ok: boolean;
  enc: Uint8Array | null;
}

class Msg {
  private text: string | undefined;
  readonly at: number;
  constructor(
    readonly row: MsgRow,
    private readonly keys: KeyRing,
    readonly ok: boolean,
  ) {
    this.at = new Date(row.created_at).getTime();
  }
  content(): string {
    if (this.text === undefined) {
      if (!this.row.enc) throw new Error('content of a message without consent requested');
      this.text = cleanText(decryptMessage(this.keys, this.row.enc, `message:${this.row.id}`, `logged message ${this.row.id}`));
    }
    return this.text;
  }
}

function decryptMessage(keys: KeyRing, blob: Uint8Array, context: string, what: string): string {
  try {
    return keys.decrypt(blob, context);
  } catch (err) {
    if (err instanceof DecryptionError) throw new DatasetSourceError(what, `cannot be decrypted (${err.message})`);
    throw err;
  }
}

/** Reads both chat-log sources inside `tx` (which the caller makes read-only, repeatable read). */
export async function readChatLogs(tx: Tx, keys: KeyRing, s: ChatLogSettings, cb: ChatLogCallbacks): Promise<void> {
  const consentOk = (guildId: string | null, userId: string | null, sqlOk: boolean) =>
    sqlOk && !!guildId && !!userId && inScope(s.logScope, guildId) && (s.consent ? s.consent(guildId, userId) : true);
  let rowsRead = 0;

  // ---- persona conversations ----
  let convId: string | null | undefined;
  let history: ChatTurn[] = [];
  for await (const batch of cursor<ConvRow>(tx, 'dataset_conv', conversationQuery(s), s.batchSize)) {
    for (const r of batch) {
      if (r.conversation_id !== convId || r.conversation_id === null) {
        convId = r.conversation_id;
        history = [];
      }
      if (!r.user_msg_id) {
        cb.removed('user_message_missing');
        history = [];
        continue;
      }
      if (!consentOk(r.guild_id, r.author_id, r.ok) || !r.user_enc) {
        cb.removed('not_consented');
        history = [];
        continue;
      }
      if (r.down > r.up) {
        cb.removed('reply_disliked');
        history = [];
        continue;
      }
      if (r.up < s.minThumbsUp) {
        cb.removed('reply_unrated');
        history = [];
        continue;
      }
      const user: ChatTurn = { role: 'user', content: cleanText(decryptMessage(keys, r.user_enc, `message:${r.user_msg_id}`, `logged message ${r.user_msg_id}`)), authorId: r.author_id!, guildId: r.guild_id!, messageId: r.user_msg_id!, at: new Date(r.user_at ?? r.created_at).getTime() };
      const reply: ChatTurn = { role: 'assistant', content: cleanText(decryptMessage(keys, r.reply_enc, `reply:${r.message_id}`, `persona reply ${r.message_id}`)), authorId: '', guildId: r.guild_id!, messageId: r.message_id, at: new Date(r.created_at).getTime() };
      cb.candidate({ kind: 'conversation', turns: [...history, user, reply], capUser: r.author_id! });
      history.push(user, reply);
      if (history.length > s.maxContextTurns * 2) history.splice(0, history.length - s.maxContextTurns * 2);
    }
    rowsRead += batch.length;
    cb.progress?.(rowsRead);
  }

  // ---- speaker sources ----
  const q = speakerQuery(s);
  if (!q) return;
  const speakers = new Set(s.speakers);
  type Group = { msgs: Msg[]; ok: boolean; author: string };
  let channel: string | undefined;
  let groups: Group[] = [];
  let current: Group | undefined;
  let byId = new Map<string, Msg>();
  // Recent messages by id, for reply chains; older links are fetched by id in batches (pending).
  // Kept small on purpose: long-lived objects are what makes a streaming heap grow.
  const LOOKUP_MAX = Math.max(64, s.maxContextTurns * 4);
  const pending: { group: Group; chain: Msg[]; next: string }[] = [];

  const resolvePending = async () => {
    // Follows reply chains whose links were outside the in-memory window, a batch of ids at a time.
    let open = pending.splice(0);
    for (let depth = 0; open.length > 0 && depth < s.maxContextTurns; depth++) {
      const ids = [...new Set(open.map((p) => p.next))];
      const found = new Map<string, Msg>();
      for (let i = 0; i < ids.length; i += 500) {
        const rows = rowsOf<MsgRow>(
          await tx.execute(
            sql.raw(`select m.id, m.channel_id, m.guild_id, m.author_id, m.reply_to_id, m.created_at, (c.user_id is not null) as ok,
              case when c.user_id is not null then m.content_enc end as enc
              from logged_messages m ${consentJoin(Math.trunc(s.policyVersion))}
              where m.id in (${literalIds(ids.slice(i, i + 500))})${s.allowDiscord ? '' : ` and m.source = 'console'`}${scopeClause(s.logScope, 'm')}`),
          ),
        );
        for (const r of rows) found.set(r.id, new Msg(r, keys, consentOk(r.guild_id, r.author_id, r.ok)));
      }
      const still: typeof open = [];
      for (const p of open) {
        const m = found.get(p.next);
        const step = extendChain(p, m);
        if (step === 'continue') still.push(p);
      }
      open = still;
    }
    for (const p of open) finishChain(p);
  };

  /** Adds one link; 'continue' when the chain goes on beyond what is known. */
  const extendChain = (p: { group: Group; chain: Msg[]; next: string }, m: Msg | undefined): 'continue' | 'done' => {
    if (!m || !m.ok) {
      if (p.chain.length === 0) {
        cb.removed(m ? 'context_not_consented' : 'reply_target_missing');
        return 'done';
      }
      finishChain(p); // context stops at a missing or non-consented message
      return 'done';
    }
    p.chain.unshift(m);
    if (!m.row.reply_to_id || p.chain.length >= s.maxContextTurns) {
      finishChain(p);
      return 'done';
    }
    p.next = m.row.reply_to_id;
    return 'continue';
  };

  const finishChain = (p: { group: Group; chain: Msg[] }) => {
    emit([...p.chain.map((m) => ({ msgs: [m], ok: true, author: m.row.author_id })), p.group]);
  };

  const emit = (groups: Group[]) => {
    const turns: ChatTurn[] = [];
    for (const g of groups) {
      const role = speakers.has(g.author) ? 'assistant' : 'user';
      for (const m of g.msgs) turns.push({ role, content: m.content(), authorId: m.row.author_id, guildId: m.row.guild_id, messageId: m.row.id, at: m.at });
    }
    const lastUser = [...turns].reverse().find((t) => t.role === 'user');
    if (!lastUser) {
      cb.removed('no_context');
      return;
    }
    cb.candidate({ kind: 'speaker', turns, capUser: groups[groups.length - 1]!.author });
  };

  const closeGroup = async () => {
    const g = current;
    current = undefined;
    if (!g) return;
    if (g.ok && speakers.has(g.author)) {
      const first = g.msgs[0]!;
      if (first.row.reply_to_id) {
        const p = { group: g, chain: [] as Msg[], next: first.row.reply_to_id };
        let step: 'continue' | 'done' = 'continue';
        while (step === 'continue' && byId.has(p.next)) step = extendChain(p, byId.get(p.next));
        if (step === 'continue') {
          pending.push(p);
          if (pending.length >= 500) await resolvePending();
        }
      } else {
        const context: Group[] = [];
        let at = first.at;
        for (let i = groups.length - 1; i >= 0 && context.length < s.maxContextTurns; i--) {
          const prev = groups[i]!;
          if (at - prev.msgs[prev.msgs.length - 1]!.at > s.sessionGapMs) break;
          if (!prev.ok) {
            if (context.length === 0) context.push(prev); // marks "direct context not consented"
            break;
          }
          context.unshift(prev);
          at = prev.msgs[0]!.at;
        }
        if (context.length === 1 && !context[0]!.ok) cb.removed('context_not_consented');
        else if (context.length === 0) cb.removed('no_context');
        else emit([...context, g]);
      }
    }
    groups.push(g);
    if (groups.length > s.maxContextTurns + 1) groups = groups.slice(-(s.maxContextTurns + 1));
  };

  for await (const batch of cursor<MsgRow>(tx, 'dataset_speakers', q, s.batchSize)) {
    for (const r of batch) {
      if (r.channel_id !== channel) {
        await closeGroup();
        channel = r.channel_id;
        groups = [];
        byId = new Map();
      }
      const m = new Msg(r, keys, consentOk(r.guild_id, r.author_id, r.ok));
      byId.set(r.id, m);
      if (byId.size > LOOKUP_MAX) byId.delete(byId.keys().next().value!);
      const joins =
        current &&
        current.author === r.author_id &&
        current.ok === m.ok &&
        !r.reply_to_id &&
        m.at - current.msgs[current.msgs.length - 1]!.at <= s.sessionGapMs;
      if (joins) current!.msgs.push(m);
      else {
        await closeGroup();
        current = { msgs: [m], ok: m.ok, author: r.author_id };
      }
      if (!m.ok) m.row.enc = null; // never decrypted, never shown
    }
    rowsRead += batch.length;
    cb.progress?.(rowsRead);
  }
  await closeGroup();
  await resolvePending();
}

/** Counts of Discord chat logs a build leaves out when ALLOW_CHAT_LOG_TRAINING is off. */
export async function countDiscordLogs(tx: Tx, s: Pick<ChatLogSettings, 'slug' | 'speakers' | 'logScope'>): Promise<{ personaReplies: number; speakerMessages: number }> {
  const [a] = rowsOf<{ n: number }>(
    await tx.execute(sql`select count(*)::int as n from persona_replies r join logged_messages m on m.id = r.in_reply_to_id
      where r.persona_slug = ${s.slug} and r.content_enc is not null and m.source = 'discord'${sql.raw(scopeClause(s.logScope, 'm'))}`),
  );
  let speakerMessages = 0;
  if (s.speakers.length) {
    const [b] = rowsOf<{ n: number }>(
      await tx.execute(sql.raw(`select count(*)::int as n from logged_messages m where author_id in (${literalIds(s.speakers)}) and source = 'discord'${scopeClause(s.logScope, 'm')}`)),
    );
    speakerMessages = Number(b?.n ?? 0);
  }
  return { personaReplies: Number(a?.n ?? 0), speakerMessages };
}

export async function inReadTransaction<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`set transaction isolation level repeatable read, read only`);
    return fn(tx);
  });
}


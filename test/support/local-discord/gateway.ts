/**
 * The gateway half of the local Discord: a JSON-text WebSocket (no compression) speaking gateway v10.
 *
 * HELLO → (heartbeats answered with op 11) → IDENTIFY → READY + one GUILD_CREATE per guild, then
 * dispatches (op 0, `t`, per-session increasing `s`). Sessions outlive their socket: a socket closed
 * by the server with a resumable code (e.g. 4000) keeps buffering events, and RESUME replays what the
 * client missed before RESUMED. Client closes with 1000/1001 and the non-resumable codes end a session.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { GatewayIntentBits } from 'discord.js';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { Json } from './errors.js';
import { asObj } from './errors.js';
import type { DiscordState } from './state.js';

export const PRIVILEGED_INTENTS = {
  GuildMembers: GatewayIntentBits.GuildMembers,
  GuildPresences: GatewayIntentBits.GuildPresences,
  MessageContent: GatewayIntentBits.MessageContent,
} as const;
export type PrivilegedIntent = keyof typeof PRIVILEGED_INTENTS;

const ALL_INTENTS = Object.values(GatewayIntentBits)
  .filter((v): v is number => typeof v === 'number')
  .reduce((a, b) => a | b, 0);

/** Close codes after which Discord does not allow a RESUME. */
const SESSION_ENDING_CODES = new Set([1000, 1001, 4004, 4007, 4009, 4010, 4011, 4012, 4013, 4014]);

const GUILDS_INTENT_EVENTS = new Set([
  'GUILD_CREATE', 'GUILD_UPDATE', 'GUILD_DELETE', 'GUILD_ROLE_CREATE', 'GUILD_ROLE_UPDATE', 'GUILD_ROLE_DELETE',
  'CHANNEL_CREATE', 'CHANNEL_UPDATE', 'CHANNEL_DELETE', 'CHANNEL_PINS_UPDATE', 'THREAD_CREATE', 'THREAD_UPDATE',
  'THREAD_DELETE', 'THREAD_LIST_SYNC', 'THREAD_MEMBER_UPDATE', 'THREAD_MEMBERS_UPDATE',
]);

/** The intent a dispatch needs (null: always delivered), following Discord's intents table. */
export function requiredIntent(t: string, d: Json): number | null {
  const inGuild = typeof d.guild_id === 'string';
  if (GUILDS_INTENT_EVENTS.has(t)) return GatewayIntentBits.Guilds;
  if (t.startsWith('GUILD_MEMBER_')) return GatewayIntentBits.GuildMembers;
  if (t === 'WEBHOOKS_UPDATE') return GatewayIntentBits.GuildWebhooks;
  if (t === 'MESSAGE_CREATE' || t === 'MESSAGE_UPDATE' || t === 'MESSAGE_DELETE' || t === 'MESSAGE_DELETE_BULK') {
    return inGuild ? GatewayIntentBits.GuildMessages : GatewayIntentBits.DirectMessages;
  }
  if (t.startsWith('MESSAGE_REACTION_')) return inGuild ? GatewayIntentBits.GuildMessageReactions : GatewayIntentBits.DirectMessageReactions;
  if (t === 'TYPING_START') return inGuild ? GatewayIntentBits.GuildMessageTyping : GatewayIntentBits.DirectMessageTyping;
  return null;
}

export interface IdentifyRecord {
  at: number;
  sessionId: string;
  intents: number;
  shard: unknown;
  properties: unknown;
  presence: unknown;
  compress: unknown;
  /** Path the socket connected to (`/gateway`). */
  path: string;
}

export interface ResumeRecord {
  at: number;
  sessionId: string;
  seq: number;
  /** Events replayed before RESUMED (0 when the session was unknown: then op 9 was sent). */
  replayed: number;
  ok: boolean;
  /** `/gateway/resume` when the client used `resume_gateway_url`, as it should. */
  path: string;
}

export interface DispatchRecord {
  sessionId: string;
  t: string;
  s: number;
  d: Json;
  at: number;
  /** Sent on an open socket right away (false: buffered for a resume). */
  delivered: boolean;
}

export interface ConnectionRecord {
  id: number;
  path: string;
  query: string;
  openedAt: number;
  closedAt: number | null;
  closeCode: number | null;
  closedBy: 'client' | 'server' | null;
}

interface Session {
  id: string;
  intents: number;
  seq: number;
  log: Array<{ t: string; s: number; d: Json }>;
  conn: Conn | null;
  ended: boolean;
}

interface Conn {
  ws: WebSocket;
  record: ConnectionRecord;
  session: Session | null;
  closingByServer: boolean;
}

export interface GatewayOptions {
  state: DiscordState;
  token: string;
  heartbeatIntervalMs: number;
  /** Privileged intents enabled for the application ("developer portal" toggles). */
  privilegedIntents: readonly PrivilegedIntent[];
  gatewayUrl: () => string;
}

export class Gateway extends EventEmitter {
  readonly identifies: IdentifyRecord[] = [];
  readonly resumes: ResumeRecord[] = [];
  readonly dispatches: DispatchRecord[] = [];
  readonly connections: ConnectionRecord[] = [];
  private readonly sessions = new Map<string, Session>();
  private readonly conns = new Set<Conn>();
  private readonly wss = new WebSocketServer({ noServer: true });
  private connCounter = 0;

  constructor(private readonly opts: GatewayOptions) {
    super();
  }

  /** Application flags for READY, from the enabled privileged intents. */
  get applicationFlags(): number {
    let flags = 0;
    if (this.opts.privilegedIntents.includes('GuildPresences')) flags |= 1 << 12;
    if (this.opts.privilegedIntents.includes('GuildMembers')) flags |= 1 << 14;
    if (this.opts.privilegedIntents.includes('MessageContent')) flags |= 1 << 18;
    return flags;
  }

  /** Intents of the latest IDENTIFY (undefined before any). */
  get intents(): number | undefined {
    return this.identifies.at(-1)?.intents;
  }

  /** Sessions that still receive (or buffer) events. */
  get liveSessionCount(): number {
    return [...this.sessions.values()].filter((s) => !s.ended).length;
  }

  /** Sockets currently open. */
  get openConnectionCount(): number {
    return this.conns.size;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://local');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, url));
  }

  private onConnection(ws: WebSocket, url: URL): void {
    const record: ConnectionRecord = {
      id: ++this.connCounter,
      path: url.pathname,
      query: url.search,
      openedAt: Date.now(),
      closedAt: null,
      closeCode: null,
      closedBy: null,
    };
    this.connections.push(record);
    const conn: Conn = { ws, record, session: null, closingByServer: false };
    this.conns.add(conn);
    this.emit('connection', record);
    if (url.searchParams.get('encoding') && url.searchParams.get('encoding') !== 'json') {
      this.serverClose(conn, 4002, 'Error while decoding payload.');
      return;
    }
    if (url.searchParams.get('v') && url.searchParams.get('v') !== '10') {
      this.serverClose(conn, 4012, 'Invalid API version.');
      return;
    }
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        this.serverClose(conn, 4002, 'Error while decoding payload.');
        return;
      }
      let payload: Json;
      try {
        payload = asObj(JSON.parse(String(data)));
      } catch {
        this.serverClose(conn, 4002, 'Error while decoding payload.');
        return;
      }
      this.onPayload(conn, payload);
    });
    ws.on('close', (code) => {
      this.conns.delete(conn);
      record.closedAt = Date.now();
      record.closeCode ??= code;
      record.closedBy ??= conn.closingByServer ? 'server' : 'client';
      const s = conn.session;
      if (s && s.conn === conn) {
        s.conn = null;
        if (!conn.closingByServer && SESSION_ENDING_CODES.has(code)) s.ended = true;
      }
      this.emit('close', record);
    });
    ws.on('error', () => undefined);
    this.send(conn, { op: 10, d: { heartbeat_interval: this.opts.heartbeatIntervalMs, _trace: ['local-discord'] } });
  }

  private onPayload(conn: Conn, p: Json): void {
    switch (p.op) {
      case 1:
        this.send(conn, { op: 11 });
        return;
      case 2:
        this.onIdentify(conn, asObj(p.d));
        return;
      case 3: // presence update
      case 4: // voice state update
        return;
      case 6:
        this.onResume(conn, asObj(p.d));
        return;
      case 8:
        this.onRequestGuildMembers(conn, asObj(p.d));
        return;
      default:
        this.serverClose(conn, 4001, 'Unknown opcode.');
    }
  }

  private onIdentify(conn: Conn, d: Json): void {
    if (conn.session) {
      this.serverClose(conn, 4005, 'Already authenticated.');
      return;
    }
    if (d.token !== this.opts.token) {
      this.serverClose(conn, 4004, 'Authentication failed.');
      return;
    }
    const intents = typeof d.intents === 'number' ? d.intents : NaN;
    if (!Number.isInteger(intents) || intents < 0 || (intents & ~ALL_INTENTS) !== 0) {
      this.serverClose(conn, 4013, 'Invalid intent(s).');
      return;
    }
    const allowed = this.opts.privilegedIntents.reduce((acc, name) => acc | PRIVILEGED_INTENTS[name], 0);
    const privileged = Object.values(PRIVILEGED_INTENTS).reduce((a, b) => a | b, 0);
    if ((intents & privileged & ~allowed) !== 0) {
      this.identifies.push(this.identifyRecord(conn, d, intents, ''));
      this.serverClose(conn, 4014, 'Disallowed intent(s).');
      return;
    }
    const session: Session = { id: randomHex(16), intents, seq: 0, log: [], conn, ended: false };
    this.sessions.set(session.id, session);
    conn.session = session;
    this.identifies.push(this.identifyRecord(conn, d, intents, session.id));
    this.emit('identify', this.identifies.at(-1));

    const { state } = this.opts;
    const guilds = [...state.guilds.values()].filter((g) => g.botPresent);
    this.push(session, 'READY', {
      v: 10,
      user: { ...state.apiUser(state.botUser), verified: true, mfa_enabled: false, email: null },
      user_settings: {},
      private_channels: [],
      relationships: [],
      presences: [],
      guild_join_requests: [],
      geo_ordered_rtc_regions: [],
      guilds: guilds.map((g) => ({ id: g.id, unavailable: true })),
      session_id: session.id,
      session_type: 'normal',
      resume_gateway_url: `${this.opts.gatewayUrl()}/resume`,
      shard: asObj(d).shard ?? [0, 1],
      application: { id: state.applicationId, flags: this.applicationFlags },
      auth: {},
      _trace: ['local-discord'],
    });
    // Initial guild streaming is not subject to intent filtering (discord.js waits for these).
    for (const g of guilds) this.push(session, 'GUILD_CREATE', state.guildCreatePayload(g));
  }

  private identifyRecord(conn: Conn, d: Json, intents: number, sessionId: string): IdentifyRecord {
    return {
      at: Date.now(),
      sessionId,
      intents,
      shard: d.shard,
      properties: d.properties,
      presence: d.presence,
      compress: d.compress,
      path: conn.record.path,
    };
  }

  private onResume(conn: Conn, d: Json): void {
    const session = typeof d.session_id === 'string' ? this.sessions.get(d.session_id) : undefined;
    const seq = typeof d.seq === 'number' ? d.seq : 0;
    if (d.token !== this.opts.token) {
      this.serverClose(conn, 4004, 'Authentication failed.');
      return;
    }
    if (!session || session.ended || seq > session.seq) {
      this.resumes.push({ at: Date.now(), sessionId: String(d.session_id), seq, replayed: 0, ok: false, path: conn.record.path });
      this.send(conn, { op: 9, d: false });
      return;
    }
    if (session.conn && session.conn !== conn) {
      const old = session.conn;
      session.conn = null;
      old.session = null;
      this.serverClose(old, 4000, 'Session resumed elsewhere');
    }
    session.conn = conn;
    conn.session = session;
    const missed = session.log.filter((e) => e.s > seq);
    for (const e of missed) this.send(conn, { op: 0, t: e.t, s: e.s, d: e.d });
    this.resumes.push({ at: Date.now(), sessionId: session.id, seq, replayed: missed.length, ok: true, path: conn.record.path });
    this.push(session, 'RESUMED', { _trace: ['local-discord'] });
    this.emit('resume', this.resumes.at(-1));
  }

  private onRequestGuildMembers(conn: Conn, d: Json): void {
    const session = conn.session;
    if (!session) {
      this.serverClose(conn, 4003, 'Not authenticated.');
      return;
    }
    const { state } = this.opts;
    const guildIds = Array.isArray(d.guild_id) ? d.guild_id.map(String) : [String(d.guild_id)];
    for (const guildId of guildIds) {
      let members = state.guildMembers(guildId);
      if (Array.isArray(d.user_ids)) members = members.filter((m) => (d.user_ids as unknown[]).includes(m.userId));
      else if (typeof d.user_ids === 'string') members = members.filter((m) => m.userId === d.user_ids);
      else if (typeof d.query === 'string' && d.query) {
        const q = d.query.toLowerCase();
        members = members.filter((m) => state.mustUser(m.userId).username.toLowerCase().startsWith(q));
      }
      if (typeof d.limit === 'number' && d.limit > 0) members = members.slice(0, d.limit);
      this.push(session, 'GUILD_MEMBERS_CHUNK', {
        guild_id: guildId,
        members: members.map((m) => state.apiMember(m)),
        chunk_index: 0,
        chunk_count: 1,
        not_found: [],
        ...(d.nonce !== undefined ? { nonce: d.nonce } : {}),
      });
    }
  }

  /**
   * Sends a dispatch to every live session whose intents cover it (buffered for sessions whose socket
   * is down, so a RESUME replays it). Message payloads lose content/embeds/attachments/components for
   * sessions without the Message Content intent, except DMs, the bot's own messages and mentions of it.
   */
  dispatch(t: string, d: Json): void {
    const need = requiredIntent(t, d);
    for (const s of this.sessions.values()) {
      if (s.ended) continue;
      if (need !== null && (s.intents & need) === 0) continue;
      this.push(s, t, this.forSession(s, t, d));
    }
  }

  private forSession(s: Session, t: string, d: Json): Json {
    if ((t !== 'MESSAGE_CREATE' && t !== 'MESSAGE_UPDATE') || (s.intents & GatewayIntentBits.MessageContent) !== 0) return d;
    const botId = this.opts.state.botUserId;
    const authorId = asObj(d.author).id;
    const mentioned = Array.isArray(d.mentions) && d.mentions.some((m) => asObj(m).id === botId);
    if (typeof d.guild_id !== 'string' || authorId === botId || mentioned) return d;
    const { poll: _poll, ...rest } = d;
    return { ...rest, content: '', embeds: [], attachments: [], components: [] };
  }

  private push(s: Session, t: string, d: Json): void {
    const entry = { t, s: ++s.seq, d };
    s.log.push(entry);
    if (s.log.length > 10_000) s.log.splice(0, s.log.length - 10_000);
    const delivered = s.conn !== null;
    if (s.conn) this.send(s.conn, { op: 0, ...entry });
    const rec: DispatchRecord = { sessionId: s.id, t, s: entry.s, d, at: Date.now(), delivered };
    this.dispatches.push(rec);
    this.emit('dispatch', rec);
  }

  private send(conn: Conn, payload: Json): void {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(JSON.stringify(payload));
  }

  private serverClose(conn: Conn, code: number, reason: string): void {
    conn.closingByServer = true;
    conn.record.closeCode = code;
    conn.record.closedBy = 'server';
    if (conn.session && SESSION_ENDING_CODES.has(code)) conn.session.ended = true;
    conn.ws.close(code, reason);
  }

  /**
   * Closes every open gateway socket with `code`. Resumable codes (4000, 4001, 4002, 4003, 4005, 4008
   * and 1006-like ones) keep the sessions so the client RESUMEs; 4004 and 4010–4014 end them.
   */
  close(code: number, reason = ''): void {
    for (const conn of [...this.conns]) this.serverClose(conn, code, reason);
  }

  /** Sends op 7 (Reconnect): the client should close and RESUME. */
  requestReconnect(): void {
    for (const conn of this.conns) this.send(conn, { op: 7, d: null });
  }

  /** Sends op 9 (Invalid Session) with `resumable`; non-resumable ends the session (client re-identifies). */
  invalidateSessions(resumable = false): void {
    for (const conn of this.conns) {
      if (!resumable && conn.session) conn.session.ended = true;
      this.send(conn, { op: 9, d: resumable });
    }
  }

  async stop(): Promise<void> {
    for (const conn of [...this.conns]) {
      conn.closingByServer = true;
      conn.ws.terminate();
    }
    for (const s of this.sessions.values()) s.ended = true;
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

function randomHex(bytes: number): string {
  let out = '';
  for (let i = 0; i < bytes; i++) out += Math.floor(Math.random() * 256).toString(16).padStart(2, '0');
  return out;
}

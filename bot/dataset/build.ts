import { createHash } from 'node:crypto';
import type { KeyRing } from '../crypto/keyring.js';
import type { Db } from '../db/client.js';
import { DatasetStore } from '../db/dataset-store.js';
import type { ChatModel } from '../inference/ports.js';
import { estimateTokens, fillNames, systemPrompt } from '../personas/prompt.js';
import type { PersonaCard } from '../personas/card.js';
import type { ChatCandidate } from './chat-logs.js';
import { countDiscordLogs, inReadTransaction, readChatLogs } from './chat-logs.js';
import { cleanText, NearDuplicateIndex, SignatureTable } from './clean.js';
import { DatasetSourceError } from './errors.js';
import type { DatasetLine, DatasetSource, LineMessage } from './line.js';
import { DATASET_SOURCES, normalizeTurns, turnOrderProblem } from './line.js';
import { SpillFile } from './spill.js';
import { syntheticDialogues } from './synthetic.js';

export { DatasetSourceError } from './errors.js';

/**
 * The persona dataset builder (DESIGN "Dataset"; issue 5): one entry function, `buildDataset`.
 *
 * Sources, in this order: the card's example dialogues, synthetic dialogues from the lore
 * (cached), and chat logs (persona conversations and speaker sources; Discord logs only when the
 * operator allows it). Every example is cleaned (placeholders for personal data, whitespace,
 * length bounds, a token budget that drops the oldest turns), then exact and near duplicates are
 * dropped, the per-user cap applied, and each line gets a content-hash id and a hash-decided
 * split. Lines are sorted by id, so the same inputs give the same bytes.
 *
 * Memory does not grow with the text of the dataset: a finished line goes to an encrypted spill
 * file at once, and dedupe, the cap, the sort and the statistics work on a few compact numbers
 * per line (FinishedLines); the lines are read back in order to be stored or exported.
 */

export type ExportFormat = 'messages' | 'sharegpt' | 'alpaca';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['messages', 'sharegpt', 'alpaca'];

export interface DatasetSettings {
  /** Dialogues generated per lore chunk (0: none). */
  syntheticPerChunk: number;
  syntheticTemperature: number;
  syntheticNumPredict: number;
  minUserChars: number;
  minReplyChars: number;
  maxTurnChars: number;
  /** Token budget of one line (estimateTokens); older turns are dropped to fit. */
  maxTokens: number;
  maxContextTurns: number;
  sessionGapMinutes: number;
  nearDuplicateThreshold: number;
  /** Largest share of the lines one user may supply (0-1). */
  perUserShare: number;
  /** Speakers (the persona's own voice) are not capped when true. */
  capExemptSpeakers: boolean;
  evalShare: number;
  /** A conversation reply needs at least this many 👍 (and never more 👎 than 👍). */
  minThumbsUp: number;
  /** Put the persona's system prompt first in every line. */
  systemTurn: boolean;
  batchSize: number;
}

export const DEFAULT_SETTINGS: DatasetSettings = {
  syntheticPerChunk: 2,
  syntheticTemperature: 0.8,
  syntheticNumPredict: 160,
  minUserChars: 2,
  minReplyChars: 20,
  maxTurnChars: 4000,
  maxTokens: 1024,
  maxContextTurns: 8,
  sessionGapMinutes: 60,
  nearDuplicateThreshold: 0.8,
  perUserShare: 0.2,
  capExemptSpeakers: false,
  evalShare: 0.1,
  minThumbsUp: 1,
  systemTurn: true,
  batchSize: 1000,
};

export interface DatasetDeps {
  db: Db;
  keys: KeyRing;
  /** The model server for synthetic dialogues; without it only cached dialogues are used. */
  llm?: ChatModel;
}

export interface BuildDatasetInput {
  card: PersonaCard;
  /** The consent policy version in force (only current consent counts). */
  policyVersion: number;
  /** ALLOW_CHAT_LOG_TRAINING: Discord chat logs are used only when true. Console logs always are. */
  allowChatLogTraining: boolean;
  /** Base model that writes synthetic dialogues. */
  baseModel: string;
  /** Folder of the synthetic dialogue cache (e.g. DATA_DIR/dataset-cache). */
  cacheDir: string;
  /** The in-memory consent check (PrivacyState.hasConsent), on top of the database's consents. */
  consent?: (guildId: string, userId: string) => boolean;
  settings?: Partial<DatasetSettings>;
  /** Store the build as a dataset version (default true). */
  store?: boolean;
  onProgress?: (p: { phase: 'card' | 'synthetic' | 'chat_logs' | 'clean' | 'store'; done: number; total?: number }) => void;
}

export interface BuiltLine {
  readonly split: 'train' | 'eval';
  /** The line (made on access). */
  readonly line: DatasetLine;
  /** The line as JSONL, no newline (made on access). */
  readonly json: string;
  readonly contributorIds: string[];
  readonly guildIds: string[];
}

class Line implements BuiltLine {
  constructor(
    readonly split: 'train' | 'eval',
    private readonly id: string,
    private readonly persona: string,
    private readonly source: DatasetSource,
    private readonly system: string | null,
    private readonly texts: string[],
    readonly contributorIds: string[],
    readonly guildIds: string[],
  ) {}
  get line(): DatasetLine {
    return { id: this.id, persona: this.persona, source: this.source, messages: messagesOf(this.system, this.texts) };
  }
  get json(): string {
    return JSON.stringify(this.line);
  }
}

/**
 * A finished build. Its lines are not held in memory: they are read back, in order, from the
 * build's encrypted spill file, which lives until `close()` (or until the build is garbage
 * collected, if nobody closes it).
 */
export interface DatasetBuild {
  persona: string;
  versionId: number | null;
  contentHash: string;
  stats: DatasetStats;
  /** The lines in order (by id), read back one at a time. */
  eachLine(): Iterable<BuiltLine>;
  /** Every line at once (small datasets and tests; eachLine streams). */
  readLines(): BuiltLine[];
  /** The dataset in one of the export formats (JSONL, one line per example, in line order). */
  export(format?: ExportFormat): string;
  /** Frees the spill file; the lines cannot be read after. */
  close(): void;
}

export interface Histogram {
  buckets: string[];
  counts: number[];
}

export interface DatasetStats {
  persona: string;
  cardHash: string;
  contentHash: string;
  lines: number;
  train: number;
  eval: number;
  bySource: Record<DatasetSource, number>;
  candidates: Record<DatasetSource, number>;
  removed: Record<string, number>;
  chatLogs: { discord: 'included' | 'excluded'; console: 'included'; note: string; discordLeftOut?: { personaReplies: number; speakerMessages: number } };
  synthetic: { model: string; perChunk: number; generated: number; cached: number; accepted: number; rejected: Record<string, number> };
  lengths: { replyChars: Histogram; lineTokens: Histogram; turns: Histogram };
  /** Share of the lines each capped user supplies, by HMAC of the user id (largest first). */
  userShares: Record<string, number>;
  perUserCap: { share: number; maxLinesPerUser: number; usersCapped: number };
  settings: DatasetSettings;
}

interface Candidate {
  source: DatasetSource;
  /** Turn texts already went through cleanText (chat logs clean each message once). */
  cleaned?: boolean;
  turns: { role: 'user' | 'assistant'; content: string }[];
  contributors: string[];
  guildIds: string[];
  capUser?: string;
}

/** A finished example (the turn texts only: the roles follow from the line rules). */
interface Finished {
  source: DatasetSource;
  /** user, assistant, user, ... assistant. */
  texts: string[];
  id: string;
  contributors: string[];
  guildIds: string[];
  capUser?: string;
  reply: string;
  tokens: number;
}

/**
 * Integers in a growable typed array. V8 sizes its heap from the live heap (up to about 4x), so
 * per-line numbers are kept as bytes outside it rather than as array slots inside it.
 */
class IntColumn {
  private data = new Int32Array(1024);
  private length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const data = new Int32Array(this.length * 2);
      data.set(this.data);
      this.data = data;
    }
    this.data[this.length++] = value;
  }

  at(i: number): number {
    return this.data[i]!;
  }
}

/** What a finished line keeps in the spill file until its line is written. */
type SpilledLine = [texts: string[], contributors: string[], guildIds: string[]];

/**
 * The finished lines of a build, each known by its number (the order it was finished in). In
 * memory only what dedupe, the per-user cap, the sort and the statistics need: id, source, capped user,
 * sizes and the MinHash signature of the reply (about 400 bytes a line). The turns and
 * contributors wait in the spill file, so memory does not grow with the text of the dataset.
 */
class FinishedLines {
  readonly ids: string[] = [];
  /** Index into DATASET_SOURCES. */
  readonly sources = new IntColumn();
  /** The line's capped user (an index into `users`), or -1. */
  readonly capUsers = new IntColumn();
  readonly users: string[] = [];
  readonly replyChars = new IntColumn();
  readonly tokens = new IntColumn();
  readonly turns = new IntColumn();
  private readonly userIndex = new Map<string, number>();
  private readonly seenIds = new Set<string>();
  private replySignatures: SignatureTable | null = new SignatureTable();

  constructor(private readonly spill: SpillFile) {}

  get size(): number {
    return this.ids.length;
  }

  /** Adds a line; false when a line with the same id (the same content) is already in. */
  add(f: Finished): boolean {
    if (this.seenIds.has(f.id)) return false;
    this.seenIds.add(f.id);
    this.ids.push(f.id);
    this.sources.push(DATASET_SOURCES.indexOf(f.source));
    this.capUsers.push(f.capUser === undefined ? -1 : this.userNumber(f.capUser));
    this.replyChars.push(f.reply.length);
    this.tokens.push(f.tokens);
    this.turns.push(f.texts.length);
    this.replySignatures!.pushText(f.reply);
    this.spill.append(JSON.stringify([f.texts, f.contributors, f.guildIds] satisfies SpilledLine));
    return true;
  }

  /**
   * The lines of `order` whose reply is not a near duplicate of an earlier one's, in that order.
   * Dedupe is the signatures' only use, so they are freed here.
   */
  withoutNearDuplicates(order: number[], threshold: number, dropped: () => void): number[] {
    const near = new NearDuplicateIndex(threshold, order.length, this.replySignatures!);
    this.replySignatures = null;
    return order.filter((i) => near.addRow(i) || (dropped(), false));
  }

  source(i: number): DatasetSource {
    return DATASET_SOURCES[this.sources.at(i)]!;
  }

  read(i: number): SpilledLine {
    return JSON.parse(this.spill.read(i)) as SpilledLine;
  }

  private userNumber(user: string): number {
    let n = this.userIndex.get(user);
    if (n === undefined) {
      n = this.users.push(user) - 1;
      this.userIndex.set(user, n);
    }
    return n;
  }
}

const SOURCE_ORDER: Record<DatasetSource, number> = { card: 0, synthetic: 1, chat_log: 2 };

export const DISCORD_POLICY_NOTE =
  "Discord chat logs were left out: ALLOW_CHAT_LOG_TRAINING is off (the default). Discord's Developer Policy does not allow training models on message content without Discord's permission; an operator who has it can set ALLOW_CHAT_LOG_TRAINING=true. Console logs are always used.";

/** Closes the spill file of a build nobody closed, once the build is garbage collected. */
const unclosedSpills = new FinalizationRegistry<SpillFile>((spill) => spill.close());

/** Builds a persona's dataset and (unless `store: false`) stores it as a dataset version. */
export async function buildDataset(deps: DatasetDeps, input: BuildDatasetInput): Promise<DatasetBuild> {
  const spill = new SpillFile();
  try {
    const build = await buildWithSpill(deps, input, spill);
    unclosedSpills.register(build, spill);
    return build;
  } catch (err) {
    spill.close();
    throw err;
  }
}

async function buildWithSpill(deps: DatasetDeps, input: BuildDatasetInput, spill: SpillFile): Promise<DatasetBuild> {
  const s: DatasetSettings = { ...DEFAULT_SETTINGS, ...input.settings };
  const card = input.card;
  const removed: Record<string, number> = {};
  const remove = (reason: string, n = 1) => {
    removed[reason] = (removed[reason] ?? 0) + n;
  };
  const progress = input.onProgress ?? (() => {});
  const system = s.systemTurn ? systemPrompt(card, 'friend') : null;
  const candidates: Record<DatasetSource, number> = { card: 0, synthetic: 0, chat_log: 0 };
  const finished = new FinishedLines(spill);

  const finish = (c: Candidate) => {
    candidates[c.source]++;
    const f = finishCandidate(c, s, system, card, remove);
    if (f && !finished.add(f)) remove('exact_duplicate');
  };

  // 1. The card's example dialogues.
  progress({ phase: 'card', done: 0, total: card.examples.length });
  card.examples.forEach((dialogue, i) => {
    if (!dialogue.some((t) => t.role === 'assistant')) {
      throw new DatasetSourceError(`${card.file} (Example dialogue ${i + 1})`, 'has no {{char}} turn, so it teaches the persona nothing');
    }
    finish({ source: 'card', turns: dialogue.map((t) => ({ role: t.role, content: fillNames(t.content, card.name, 'friend') })), contributors: [], guildIds: [] });
  });

  // 2. Synthetic dialogues from the lore (cached).
  const syn = await syntheticDialogues(
    card,
    deps.llm,
    { model: input.baseModel, perChunk: s.syntheticPerChunk, temperature: s.syntheticTemperature, numPredict: s.syntheticNumPredict, cacheDir: input.cacheDir },
    (done, total) => progress({ phase: 'synthetic', done, total }),
  );
  const rejected: Record<string, number> = {};
  for (const e of syn.entries) {
    if (!e.ok) {
      rejected[e.reason] = (rejected[e.reason] ?? 0) + 1;
      remove(`synthetic_${e.reason}`);
      continue;
    }
    finish({ source: 'synthetic', turns: [{ role: 'user', content: e.question }, { role: 'assistant', content: e.answer }], contributors: [], guildIds: [] });
  }

  // 3. Chat logs, streamed in one consistent read-only snapshot.
  let discordLeftOut: { personaReplies: number; speakerMessages: number } | undefined;
  await inReadTransaction(deps.db, async (tx) => {
    await readChatLogs(
      tx,
      deps.keys,
      {
        slug: card.slug,
        speakers: card.speakers,
        policyVersion: input.policyVersion,
        allowDiscord: input.allowChatLogTraining,
        consent: input.consent,
        maxContextTurns: s.maxContextTurns,
        sessionGapMs: s.sessionGapMinutes * 60_000,
        minThumbsUp: s.minThumbsUp,
        batchSize: s.batchSize,
      },
      {
        candidate: (c: ChatCandidate) =>
          finish({
            source: 'chat_log',
            cleaned: true,
            turns: c.turns,
            contributors: c.turns.map((t) => t.authorId).filter(Boolean),
            guildIds: c.turns.map((t) => t.guildId),
            capUser: s.capExemptSpeakers && c.kind === 'speaker' ? undefined : c.capUser,
          }),
        removed: remove,
        progress: (rows) => progress({ phase: 'chat_logs', done: rows }),
      },
    );
    if (!input.allowChatLogTraining) discordLeftOut = await countDiscordLogs(tx, { slug: card.slug, speakers: card.speakers });
  });

  // From here on lines are numbers into `finished`.
  const { ids, capUsers } = finished;
  const byId = (a: number, b: number) => cmp(ids[a]!, ids[b]!);

  // 4. Near duplicates (by the final reply), in a fixed order: card first, then by id.
  progress({ phase: 'clean', done: 0, total: finished.size });
  const order = Array.from({ length: finished.size }, (_, i) => i).sort((a, b) => SOURCE_ORDER[finished.source(a)] - SOURCE_ORDER[finished.source(b)] || byId(a, b));
  let kept = finished.withoutNearDuplicates(order, s.nearDuplicateThreshold, () => remove('near_duplicate'));

  // 5. Per-user cap: the largest m with m <= share * (lines kept when every user keeps at most m);
  //    a capped user keeps their first m lines by id.
  kept.sort(byId);
  const linesOfUser = new Array<number>(finished.users.length).fill(0);
  let uncapped = 0;
  for (const i of kept) {
    if (capUsers.at(i) < 0) uncapped++;
    else linesOfUser[capUsers.at(i)]!++;
  }
  const totalWith = (m: number) => linesOfUser.reduce((n, l) => n + Math.min(l, m), uncapped);
  let lo = 0;
  let hi = linesOfUser.reduce((a, b) => Math.max(a, b), 0);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (mid <= s.perUserShare * totalWith(mid)) lo = mid;
    else hi = mid - 1;
  }
  const maxPerUser = lo;
  const usersCapped = linesOfUser.filter((l) => l > maxPerUser).length;
  const keptOfUser = new Array<number>(finished.users.length).fill(0);
  const beforeCap = kept.length;
  kept = kept.filter((i) => capUsers.at(i) < 0 || ++keptOfUser[capUsers.at(i)]! <= maxPerUser);
  if (kept.length < beforeCap) remove('per_user_cap', beforeCap - kept.length);

  // 6. Lines, split, hash, statistics.
  if (kept.length === 0) {
    throw new DatasetSourceError(
      `dataset for ${card.slug}`,
      `is empty: ${card.file} has ${card.examples.length} example dialogue(s) and ${card.lore.length} lore section(s); ` +
        `synthetic: ${syn.entries.filter((e) => e.ok).length} accepted of ${syn.entries.length}; chat logs: ${candidates.chat_log} candidate(s)` +
        `${input.allowChatLogTraining ? '' : ' (Discord logs off)'}; removed: ${JSON.stringify(removed)}`,
    );
  }
  const splits = kept.map((i) => splitOf(ids[i]!, s.evalShare));
  const contentHash = hashLines(kept.map((i, k) => ({ split: splits[k]!, id: ids[i]! })));
  const shareOf = (n: number) => Number((n / kept.length).toFixed(4));
  const userShares = Object.fromEntries(
    keptOfUser
      .map((n, u) => [deps.keys.userHmac(finished.users[u]!), Math.min(n, maxPerUser)] as const)
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1] || cmp(a[0], b[0]))
      .slice(0, 50)
      .map(([h, n]) => [h, shareOf(n)]),
  );
  const stats: DatasetStats = {
    persona: card.slug,
    cardHash: card.hash,
    contentHash,
    lines: kept.length,
    train: splits.filter((x) => x === 'train').length,
    eval: splits.filter((x) => x === 'eval').length,
    bySource: { card: countSource(kept, finished, 'card'), synthetic: countSource(kept, finished, 'synthetic'), chat_log: countSource(kept, finished, 'chat_log') },
    candidates,
    removed: Object.fromEntries(Object.entries(removed).sort(([a], [b]) => cmp(a, b))),
    chatLogs: input.allowChatLogTraining
      ? { discord: 'included', console: 'included', note: 'ALLOW_CHAT_LOG_TRAINING is on: consented Discord chat logs are included, as are console logs.' }
      : { discord: 'excluded', console: 'included', note: DISCORD_POLICY_NOTE, discordLeftOut },
    synthetic: { model: input.baseModel, perChunk: s.syntheticPerChunk, generated: syn.generated, cached: syn.cached, accepted: syn.entries.filter((e) => e.ok).length, rejected },
    lengths: {
      replyChars: histogram(kept.map((i) => finished.replyChars.at(i)), [20, 50, 100, 200, 500, 1000, 2000]),
      lineTokens: histogram(kept.map((i) => finished.tokens.at(i)), [64, 128, 256, 512, 1024, 2048]),
      turns: histogram(kept.map((i) => finished.turns.at(i)), [2, 4, 6, 8, 12, 16]),
    },
    userShares,
    perUserCap: { share: s.perUserShare, maxLinesPerUser: maxPerUser, usersCapped },
    settings: s,
  };

  function* eachLine(): Generator<BuiltLine> {
    for (let k = 0; k < kept.length; k++) {
      const i = kept[k]!;
      const [texts, contributors, guildIds] = finished.read(i);
      yield new Line(splits[k]!, ids[i]!, card.slug, finished.source(i), system, texts, contributors, guildIds);
    }
  }

  let versionId: number | null = null;
  if (input.store !== false) {
    progress({ phase: 'store', done: 0, total: kept.length });
    // Each line's JSON is made as the store encrypts it, never for the whole dataset at once.
    versionId = await new DatasetStore(deps.db, deps.keys).save({ personaSlug: card.slug, contentHash, stats: stats as unknown as Record<string, unknown>, lines: eachLine() });
    progress({ phase: 'store', done: kept.length, total: kept.length });
  }
  return {
    persona: card.slug,
    versionId,
    contentHash,
    stats,
    eachLine,
    readLines: () => [...eachLine()],
    export: (format = 'messages') => exportLines(mapLines(eachLine(), (l) => l.line), format, card.name),
    close: () => spill.close(),
  };
}

function* mapLines<T, U>(items: Iterable<T>, fn: (item: T) => U): Generator<U> {
  for (const item of items) yield fn(item);
}

function finishCandidate(c: Candidate, s: DatasetSettings, system: string | null, card: PersonaCard, remove: (r: string) => void): Finished | null {
  const cleaned = c.cleaned ? c.turns : c.turns.map((t) => ({ role: t.role, content: cleanText(t.content) }));
  if (cleaned.some((t) => t.content.length > s.maxTurnChars)) return remove('turn_too_long'), null;
  // Chat logs never get an invented opener: leading persona turns are dropped instead.
  let turns = c.source === 'chat_log' ? dropLeadingAssistant(cleaned) : cleaned;
  let norm = normalizeTurns(turns);
  if (!norm) return remove('no_exchange'), null;
  const last = norm[norm.length - 1]!;
  const lastUser = norm[norm.length - 2]!;
  if (last.content.length < s.minReplyChars) return remove('reply_too_short'), null;
  if (lastUser.content.length < s.minUserChars) return remove('user_too_short'), null;
  // Token budget: drop the oldest exchange until it fits (the final exchange must fit alone).
  const sysTokens = system ? estimateTokens(system) : 0;
  const cost = (ts: { content: string }[]) => sysTokens + ts.reduce((n, t) => n + estimateTokens(t.content), 0);
  while (cost(norm) > s.maxTokens && norm.length > 2) norm = norm.slice(2);
  if (cost(norm) > s.maxTokens) return remove('over_token_budget'), null;
  turns = norm;
  const messages: LineMessage[] = [...(system ? [{ role: 'system' as const, content: system }] : []), ...turns];
  const id = lineId(card.slug, c.source, messages);
  const problem = turnOrderProblem(messages);
  if (problem) throw new Error(`internal: line ${id} breaks the line rules: ${problem}`);
  return {
    source: c.source,
    texts: turns.map((t) => t.content),
    id,
    contributors: [...new Set(c.contributors)].sort(),
    guildIds: [...new Set(c.guildIds)].sort(),
    capUser: c.capUser,
    reply: last.content,
    tokens: cost(norm),
  };
}

function messagesOf(system: string | null, texts: readonly string[]): LineMessage[] {
  const turns: LineMessage[] = texts.map((content, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content }));
  return system ? [{ role: 'system', content: system }, ...turns] : turns;
}

function dropLeadingAssistant<T extends { role: string }>(turns: T[]): T[] {
  const i = turns.findIndex((t) => t.role === 'user');
  return i < 0 ? [] : turns.slice(i);
}

/** A line's stable id: sha256 of its persona, source and turns (streamed into the hash, no JSON made). */
export function lineId(persona: string, source: DatasetSource, messages: readonly LineMessage[]): string {
  const h = createHash('sha256').update(`${persona}\u0000${source}`);
  for (const m of messages) h.update(`\u0000${m.role}\u0000`).update(m.content);
  // Hex of the first 16 bytes, made as its own string (a slice would keep the whole digest's hex alive).
  return h.digest().toString('hex', 0, 16);
}

/** Train or eval, decided by the line's id alone: a line never changes split as the dataset grows. */
export function splitOf(id: string, evalShare: number): 'train' | 'eval' {
  const h = createHash('sha256').update(`split:${id}`).digest().readUInt32BE(0);
  return h / 2 ** 32 < evalShare ? 'eval' : 'train';
}

/** sha256 of the dataset: every line's split and id (itself a hash of the line's content), in line order. */
export function hashLines(lines: readonly { split: string; id: string }[]): string {
  const h = createHash('sha256');
  for (const l of lines) h.update(`${l.split}\t${l.id}\n`);
  return h.digest('hex');
}

/** JSONL in the chosen format. messages: the contract line; sharegpt: conversations; alpaca: instruction/input/output. */
export function exportLines(lines: Iterable<DatasetLine>, format: ExportFormat, personaName = 'assistant'): string {
  const out: string[] = [];
  for (const l of lines) out.push(exportLine(l, format, personaName));
  return out.length ? `${out.join('\n')}\n` : '';
}

/** One line of `exportLines`, without the newline. */
export function exportLine(l: DatasetLine, format: ExportFormat, personaName = 'assistant'): string {
  if (format === 'messages') return JSON.stringify(l);
  if (format === 'sharegpt') {
    const from = { system: 'system', user: 'human', assistant: 'gpt' } as const;
    return JSON.stringify({ id: l.id, source: l.source, conversations: l.messages.map((m) => ({ from: from[m.role], value: m.content })) });
  }
  const sys = l.messages[0]?.role === 'system' ? l.messages[0].content : undefined;
  const turns = l.messages.filter((m) => m.role !== 'system');
  const output = turns[turns.length - 1]!.content;
  const instruction = turns[turns.length - 2]!.content;
  const context = turns.slice(0, -2).map((m) => `${m.role === 'user' ? 'User' : personaName}: ${m.content}`).join('\n');
  return JSON.stringify({ id: l.id, ...(sys ? { system: sys } : {}), instruction, input: context, output });
}

function histogram(values: number[], edges: number[]): Histogram {
  const buckets = [`<${edges[0]}`, ...edges.slice(1).map((e, i) => `${edges[i]}-${e - 1}`), `>=${edges[edges.length - 1]}`];
  const counts = new Array<number>(buckets.length).fill(0);
  for (const v of values) {
    let i = edges.findIndex((e) => v < e);
    if (i < 0) i = edges.length;
    counts[i]!++;
  }
  return { buckets, counts };
}

function countSource(lines: readonly number[], finished: FinishedLines, source: DatasetSource): number {
  return lines.filter((i) => finished.source(i) === source).length;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A short, human summary of a build (the /persona dataset reply and the CLI). */
export function summarize(b: DatasetBuild): string {
  const st = b.stats;
  const removed = Object.entries(st.removed).map(([k, v]) => `${k} ${v}`).join(', ') || 'nothing';
  return [
    `Dataset for ${st.persona}${b.versionId !== null ? ` (version ${b.versionId})` : ''}: ${st.lines} lines (${st.train} train, ${st.eval} eval), hash ${st.contentHash.slice(0, 12)}`,
    `By source: card ${st.bySource.card}, synthetic ${st.bySource.synthetic} (${st.synthetic.generated} generated, ${st.synthetic.cached} cached, ${Object.values(st.synthetic.rejected).reduce((a, b) => a + b, 0)} rejected), chat logs ${st.bySource.chat_log}`,
    `Removed: ${removed}`,
    `Per-user cap: ${Math.round(st.perUserCap.share * 100)}% (at most ${st.perUserCap.maxLinesPerUser} lines each; ${st.perUserCap.usersCapped} user(s) capped)`,
    st.chatLogs.discord === 'excluded'
      ? `${st.chatLogs.note}${st.chatLogs.discordLeftOut ? ` Left out: ${st.chatLogs.discordLeftOut.personaReplies} persona replies, ${st.chatLogs.discordLeftOut.speakerMessages} speaker messages.` : ''}`
      : st.chatLogs.note,
  ].join('\n');
}

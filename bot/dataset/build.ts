import type { KeyRing } from '../crypto/keyring.js';
import type { Db } from '../db/client.js';
import { DatasetStore } from '../db/dataset-store.js';
import { ErasedDuringBuild, erasedSince, erasureMark } from '../db/erasure-fence.js';
import type { ChatModel } from '../inference/ports.js';
import type { PersonaCard } from '../personas/card.js';
import { heldOutProbes } from '../personas/probes.js';
import { systemPrompt } from '../personas/prompt.js';
import { DatasetSourceError } from './errors.js';
import { ProbeGuard } from './leakage.js';
import type { ExportFormat } from './export.js';
import { exportLines } from './export.js';
import { finishCandidate } from './finish.js';
import type { BuiltLine } from './finished-lines.js';
import { FinishedLines, Line } from './finished-lines.js';
import { hashLines, splitOf } from './ids.js';
import type { LineSource } from './line.js';
import { DATASET_SOURCES } from './line.js';
import { applyPerUserCap } from './per-user-cap.js';
import type { DatasetSettings } from './settings.js';
import type { LogScope } from './sources/source.js';
import { DEFAULT_SETTINGS } from './settings.js';
import { SOURCES } from './sources/index.js';
import type { Candidate, SourceStats } from './sources/source.js';
import { SpillFile } from './spill.js';
import type { DatasetStats } from './stats.js';
import { histogram } from './stats.js';

export type { BuiltLine } from './finished-lines.js';

/**
 * The persona dataset builder (DESIGN "Dataset"): one entry function, `buildDataset`.
 *
 * Every source of sources/index.ts (the card's example dialogues, cached synthetic dialogues from
 * the lore, consented chat logs) proposes candidates; each goes through the finishing rules
 * (finish.ts: placeholders for personal data, length bounds, a token budget that drops the oldest
 * turns), then exact and near duplicates are dropped, the per-user cap applied, and each line gets
 * a content-hash id and a hash-decided split. Lines are sorted by id, so the same inputs give the
 * same bytes.
 *
 * Memory does not grow with the text of the dataset: a finished line goes to an encrypted spill
 * file at once, and dedupe, the cap, the sort and the statistics work on a few compact numbers
 * per line (FinishedLines); the lines are read back in order to be stored or exported.
 */

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
  /** The model that writes teacher replies (DATASET_TEACHER_MODEL; default baseModel). */
  teacherModel?: string;
  /** The context window served prompts are budgeted to (CHAT_CONTEXT_TOKENS; default 2048). */
  contextTokens?: number;
  /** Probes kept out of training (default: the card's eval prompts, the generic and the development probes). */
  probes?: readonly string[];
  /** Folder of the synthetic dialogue cache (e.g. DATA_DIR/dataset-cache). */
  cacheDir: string;
  /** The in-memory consent check (PrivacyState.hasConsent), on top of the database's consents. */
  consent?: (guildId: string, userId: string) => boolean;
  /** Whose chat logs it reads: the server the build is for, or (the operator's CLI) every server. */
  logScope: LogScope;
  settings?: Partial<DatasetSettings>;
  /** Store the build as a dataset version (default true). */
  store?: boolean;
  /** phase: a source's (card, synthetic, chat_logs), then clean and store. */
  onProgress?: (p: { phase: string; done: number; total?: number }) => void;
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

/** Closes the spill file of a build nobody closed, once the build is garbage collected. */
const unclosedSpills = new FinalizationRegistry<SpillFile>((spill) => spill.close());

/** Builds a persona's dataset and (unless `store: false`) stores it as a dataset version. */
export async function buildDataset(deps: DatasetDeps, input: BuildDatasetInput): Promise<DatasetBuild> {
  for (let attempt = 1; ; attempt++) {
    const spill = new SpillFile();
    try {
      const build = await buildWithSpill(deps, input, spill, await erasureMark(deps.db));
      unclosedSpills.register(build, spill);
      return build;
    } catch (err) {
      spill.close();
      // A forget or purge landed while the logs were read: read them again, without what it erased.
      if (err instanceof ErasedDuringBuild && attempt < MAX_BUILD_ATTEMPTS) continue;
      throw err;
    }
  }
}

/** Builds again when a forget or purge lands during a build, up to this many builds in all. */
const MAX_BUILD_ATTEMPTS = 5;

async function buildWithSpill(deps: DatasetDeps, input: BuildDatasetInput, spill: SpillFile, mark: number): Promise<DatasetBuild> {
  const s: DatasetSettings = { ...DEFAULT_SETTINGS, ...input.settings };
  const card = input.card;
  const removed: Record<string, number> = {};
  const remove = (reason: string, n = 1) => {
    removed[reason] = (removed[reason] ?? 0) + n;
  };
  const progress = input.onProgress ?? (() => {});
  const system = s.systemTurn ? systemPrompt(card, 'friend') : null;
  const candidates = perSource(() => 0);
  const finished = new FinishedLines(spill);
  const guard = new ProbeGuard(input.probes ?? heldOutProbes(card));

  // 1. Every source, in order: its candidates are finished (and spilled) as they come.
  const sourceStats: Partial<SourceStats> = {};
  const summaries: string[] = [];
  // Whose words were read (server/user): a forget or opt-out accepted since is seen in memory at once.
  const readFrom = new Set<string>();
  let oldestContent = Infinity; // the oldest logged message read (retention counts from it)
  const withdrawnSinceRead = () => input.consent !== undefined && [...readFrom].some((p) => !input.consent!(...(p.split('/') as [string, string])));
  for (const source of SOURCES) {
    const report = await source.read({
      card,
      settings: s,
      db: deps.db,
      keys: deps.keys,
      llm: deps.llm,
      policyVersion: input.policyVersion,
      allowChatLogTraining: input.allowChatLogTraining,
      baseModel: input.baseModel,
      teacherModel: input.teacherModel,
      contextTokens: input.contextTokens ?? 2048,
      guard,
      cacheDir: input.cacheDir,
      consent: input.consent,
      logScope: input.logScope,
      emit: (c: Candidate) => {
        candidates[c.source]++;
        if (c.oldestAt !== undefined) oldestContent = Math.min(oldestContent, c.oldestAt);
        for (const u of c.contributors) readFrom.add(`${c.guildIds[0]}/${u}`);
        if (c.turns.some((t) => t.role === 'user' && guard.leakOf(t.content) !== undefined)) return remove('eval_probe_leak');
        const f = finishCandidate(c, s, system, card, remove);
        if (f && !finished.add(f)) remove('exact_duplicate');
      },
      remove,
      progress: (done, total) => progress({ phase: source.phase, done, total }),
    });
    Object.assign(sourceStats, report.stats);
    summaries.push(report.summary);
  }

  // From here on lines are numbers into `finished`.
  const { ids, capUsers } = finished;
  const byId = (a: number, b: number) => cmp(ids[a]!, ids[b]!);

  // 2. Near duplicates (by the final reply), in a fixed order: by source (DATASET_SOURCES), then by id.
  progress({ phase: 'clean', done: 0, total: finished.size });
  const order = Array.from({ length: finished.size }, (_, i) => i).sort((a, b) => finished.sourceRank(a) - finished.sourceRank(b) || byId(a, b));
  let kept = finished.withoutNearDuplicates(order, s.nearDuplicateThreshold, () => remove('near_duplicate'));

  // 3. The per-user cap, over the lines in id order.
  kept.sort(byId);
  const beforeCap = kept.length;
  const cap = applyPerUserCap(kept, (i) => capUsers.at(i), finished.users.length, s.perUserShare);
  kept = cap.kept;
  if (kept.length < beforeCap) remove('per_user_cap', beforeCap - kept.length);

  // 4. Lines, split, hash, statistics.
  if (kept.length === 0) {
    throw new DatasetSourceError(`dataset for ${card.slug}`, `is empty: ${summaries.join('; ')}; removed: ${JSON.stringify(removed)}`);
  }
  const splits = kept.map((i) => splitOf(ids[i]!, s.evalShare));
  const contentHash = hashLines(kept.map((i, k) => ({ split: splits[k]!, id: ids[i]! })));
  const shareOf = (n: number) => Number((n / kept.length).toFixed(4));
  const userShares = Object.fromEntries(
    cap.keptOfUser
      .map((n, u) => [deps.keys.userHmac(finished.users[u]!), Math.min(n, cap.maxPerUser)] as const)
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
    bySource: perSource((source) => kept.filter((i) => finished.source(i) === source).length),
    candidates,
    removed: Object.fromEntries(Object.entries(removed).sort(([a], [b]) => cmp(a, b))),
    // Every source reports its own statistics under its key (sources/*.ts).
    ...(sourceStats as SourceStats),
    lengths: {
      replyChars: histogram(kept.map((i) => finished.replyChars.at(i)), [20, 50, 100, 200, 500, 1000, 2000]),
      lineTokens: histogram(kept.map((i) => finished.tokens.at(i)), [64, 128, 256, 512, 1024, 2048]),
      turns: histogram(kept.map((i) => finished.turns.at(i)), [2, 4, 6, 8, 12, 16]),
    },
    userShares,
    perUserCap: { share: s.perUserShare, maxLinesPerUser: cap.maxPerUser, usersCapped: cap.usersCapped },
    settings: s,
  };

  function* eachLine(): Generator<BuiltLine> {
    for (let k = 0; k < kept.length; k++) {
      const i = kept[k]!;
      const [texts, contributors, guildIds, messageIds] = finished.read(i);
      yield new Line(splits[k]!, ids[i]!, card.slug, finished.source(i), system, texts, contributors, guildIds, messageIds);
    }
  }

  // Checked before and after the store: the caller shows or exports these lines next.
  if (withdrawnSinceRead()) throw new ErasedDuringBuild();
  let versionId: number | null = null;
  if (input.store !== false) {
    progress({ phase: 'store', done: 0, total: kept.length });
    // Each line's JSON is made as the store encrypts it, never for the whole dataset at once.
    versionId = await new DatasetStore(deps.db, deps.keys).save({ personaSlug: card.slug, contentHash, stats: stats as unknown as Record<string, unknown>, lines: eachLine(), erasureMark: mark, contentFrom: Number.isFinite(oldestContent) ? new Date(oldestContent) : null });
    progress({ phase: 'store', done: kept.length, total: kept.length });
  } else if (await erasedSince(deps.db, mark)) {
    throw new ErasedDuringBuild(); // not stored, but shown or exported: not with erased words either
  }
  if (withdrawnSinceRead()) throw new ErasedDuringBuild(); // a stored copy is redacted by the forget itself
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

function perSource<T>(value: (source: LineSource) => T): Record<LineSource, T> {
  return Object.fromEntries(DATASET_SOURCES.map((source) => [source, value(source)])) as Record<LineSource, T>;
}

function* mapLines<T, U>(items: Iterable<T>, fn: (item: T) => U): Generator<U> {
  for (const item of items) yield fn(item);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

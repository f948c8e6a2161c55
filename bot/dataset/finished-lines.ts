import { NearDuplicateIndex, SignatureTable } from './clean.js';
import type { DatasetLine, LineMessage, LineSource } from './line.js';
import { DATASET_SOURCES } from './line.js';
import type { SpillFile } from './spill.js';

/** A finished example (the turn texts only: the roles follow from the line rules). */
export interface Finished {
  source: LineSource;
  /** user, assistant, user, ... assistant. */
  texts: string[];
  id: string;
  contributors: string[];
  guildIds: string[];
  messageIds: string[];
  capUser?: string;
  reply: string;
  tokens: number;
}

/** A line of a finished build, as its readers see it. */
export interface BuiltLine {
  readonly split: 'train' | 'eval';
  /** The line (made on access). */
  readonly line: DatasetLine;
  /** The line as JSONL, no newline (made on access). */
  readonly json: string;
  readonly contributorIds: string[];
  readonly guildIds: string[];
  readonly messageIds: string[];
}

export class Line implements BuiltLine {
  constructor(
    readonly split: 'train' | 'eval',
    private readonly id: string,
    private readonly persona: string,
    private readonly source: LineSource,
    private readonly system: string | null,
    private readonly texts: string[],
    readonly contributorIds: string[],
    readonly guildIds: string[],
    readonly messageIds: string[],
  ) {}
  get line(): DatasetLine {
    return { id: this.id, persona: this.persona, source: this.source, messages: messagesOf(this.system, this.texts) };
  }
  get json(): string {
    return JSON.stringify(this.line);
  }
}

/** A line's messages from its system prompt and turn texts (user first, alternating). */
export function messagesOf(system: string | null, texts: readonly string[]): LineMessage[] {
  const turns: LineMessage[] = texts.map((content, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content }));
  return system ? [{ role: 'system', content: system }, ...turns] : turns;
}

/**
 * Integers in a growable typed array. V8 sizes its heap from the live heap (up to about 4x), so
 * per-line numbers are kept as bytes outside it rather than as array slots inside it.
 */
export class IntColumn {
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
type SpilledLine = [texts: string[], contributors: string[], guildIds: string[], messageIds: string[]];

/**
 * The finished lines of a build, each known by its number (the order it was finished in). In
 * memory only what dedupe, the per-user cap, the sort and the statistics need: id, source, capped user,
 * sizes and the MinHash signature of the reply (about 400 bytes a line). The turns and
 * contributors wait in the spill file, so memory does not grow with the text of the dataset.
 */
export class FinishedLines {
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
    this.spill.append(JSON.stringify([f.texts, f.contributors, f.guildIds, f.messageIds] satisfies SpilledLine));
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

  source(i: number): LineSource {
    return DATASET_SOURCES[this.sources.at(i)]!;
  }

  /** The line's source as its position in DATASET_SOURCES (the near-duplicate preference). */
  sourceRank(i: number): number {
    return this.sources.at(i);
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

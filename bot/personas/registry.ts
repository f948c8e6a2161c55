import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { PersonaCard } from './card.js';
import { CardError, parseCard } from './card.js';
import { UserFacingError, ValidationError } from '../core/errors.js';

/**
 * The persona cards in persona-data/. Cards are looked up by name or slug among the loaded
 * cards only: user input never becomes a file path, so no name can reach outside the folder.
 * A malformed card is reported (file and line) and skipped; the others still load. The folder is
 * watched, and cards are re-read when their files change.
 */
export class PersonaRegistry {
  private cards = new Map<string, PersonaCard>();
  private problems: CardError[] = [];
  private watcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private readonly listeners: ((cards: PersonaCard[]) => void | Promise<void>)[] = [];

  constructor(
    public readonly dir: string,
    private readonly log?: Logger,
  ) {}

  async load(): Promise<{ loaded: number; errors: CardError[] }> {
    let files: string[];
    try {
      files = (await readdir(this.dir)).filter((f) => f.endsWith('.md')).sort();
    } catch (err) {
      throw new Error(`cannot read the persona folder ${this.dir}: ${(err as Error).message}`, { cause: err });
    }
    const cards = new Map<string, PersonaCard>();
    const problems: CardError[] = [];
    for (const f of files) {
      const file = path.join(this.dir, f);
      try {
        const card = parseCard(file, f.slice(0, -3), await readFile(file, 'utf8'));
        const clash = [...cards.values()].find((c) => c.name.toLowerCase() === card.name.toLowerCase());
        if (clash) throw new CardError(file, 2, `name "${card.name}" is already used by ${path.basename(clash.file)}`);
        cards.set(card.slug, card);
      } catch (err) {
        const problem = err instanceof CardError ? err : new CardError(file, null, (err as Error).message);
        problems.push(problem);
        this.log?.error({ file: problem.file, line: problem.line }, `persona card skipped: ${problem.message}`);
      }
    }
    this.cards = cards;
    this.problems = problems;
    for (const l of this.listeners) await l(this.list());
    return { loaded: cards.size, errors: problems };
  }

  /** Re-reads the cards when files in the folder change (debounced). */
  watch(): void {
    if (this.watcher) return;
    this.watcher = watch(this.dir, () => {
      clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(() => {
        this.load().then(
          (r) => this.log?.info({ loaded: r.loaded, errors: r.errors.length }, 'persona cards reloaded'),
          (err) => this.log?.error({ err }, 'persona cards could not be reloaded'),
        );
      }, 150);
    });
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
    clearTimeout(this.reloadTimer);
  }

  /** Called after every (re)load, e.g. to re-index lore. */
  onChange(listener: (cards: PersonaCard[]) => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  get errors(): readonly CardError[] {
    return this.problems;
  }

  list(): PersonaCard[] {
    return [...this.cards.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  find(nameOrSlug: string): PersonaCard | undefined {
    const key = nameOrSlug.trim().toLowerCase();
    return this.cards.get(key) ?? [...this.cards.values()].find((c) => c.name.toLowerCase() === key);
  }

  /** The card for a user-typed name; a clear, user-facing error otherwise. */
  get(nameOrSlug: unknown): PersonaCard {
    if (typeof nameOrSlug !== 'string' || nameOrSlug.trim() === '') throw new ValidationError('name', 'expected a persona name');
    if (nameOrSlug.length > 100) throw new ValidationError('name', 'a persona name is at most 100 characters');
    const card = this.find(nameOrSlug);
    if (!card) {
      const known = this.list().map((c) => c.name).join(', ') || 'none';
      throw new UserFacingError(`There is no persona called "${nameOrSlug.slice(0, 100)}". Known personas: ${known}.`);
    }
    return card;
  }

  /** Up to 25 choices (Discord's limit) whose name or slug starts with, then contains, the text. */
  autocomplete(text: string): { name: string; value: string }[] {
    const q = text.trim().toLowerCase();
    const all = this.list();
    const starts = all.filter((c) => c.name.toLowerCase().startsWith(q) || c.slug.startsWith(q));
    const contains = all.filter((c) => !starts.includes(c) && c.name.toLowerCase().includes(q));
    return [...starts, ...contains].slice(0, 25).map((c) => ({ name: c.name, value: c.name }));
  }
}

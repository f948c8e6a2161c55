import { createHash } from 'node:crypto';
import { and, desc, eq } from 'drizzle-orm';
import { ValidationError } from '../core/errors.js';
import type { Db } from '../db/client.js';
import type { EvaluationMetrics } from '../db/json-columns.js';
import { personaEvaluations } from '../db/schema.js';
import type { ChatModel } from '../inference/ports.js';
import type { PersonaCard } from '../personas/card.js';
import { evaluationProbes } from '../personas/probes.js';
import type { PromptShape } from '../personas/prompt.js';
import { buildPrompt } from '../personas/prompt.js';
import { separability, type StyleReference } from '../personas/separability.js';
import type { ProbeReply } from '../personas/style-metrics.js';
import { styleMetrics } from '../personas/style-metrics.js';
import type { LoreIndex } from './lore.js';
import type { PersonaVersions } from './persona-versions.js';

/**
 * Automatic evaluation of persona versions. Every version of a persona, and prompt-only (the
 * base model with the card's prompt), answers the same probes (the card's `## Eval prompts`
 * plus GENERIC_PROBES) through the production prompt path (system prompt, example dialogues,
 * retrieved lore, the card's temperature) with the same seeds, `samples` times each; the replies
 * are scored with the fit function the dataset's best-of-N uses (personas/fit.ts).
 */


/** Prompt-only is stored as version 0. */
export const PROMPT_ONLY = 0;

export interface EvaluationTarget {
  /** 0 for prompt-only. */
  version: number;
  /** The model that answers: the base model, or the version's served model. */
  model: string;
}

export interface EvaluationSettings {
  /** Replies per probe (each with its own seed). */
  samples: number;
  contextTokens: number;
  maxReplyTokens: number;
  loreK: number;
  /** Probes answered at once. */
  concurrency: number;
  /** The prompt layout adapter versions are served with (ADAPTER_PROMPT). */
  adapterPrompt?: PromptShape;
}

/** A version's evaluation figures, as stored (re-exported for the commands, which do not reach into db/). */
export type { EvaluationMetrics };
/** A lore probe's key facts: each fact is a list of ways to say it; a reply mentions the fact if it has any of them. */
export type LoreFacts = Record<string, string[][]>;

export interface Evaluation {
  version: number;
  model: string;
  metrics: EvaluationMetrics;
  replies: (ProbeReply & { sample: number })[];
  probeSetHash: string;
}

export class EvaluationService {
  constructor(
    private readonly deps: {
      db: Db;
      llm: ChatModel;
      lore: Pick<LoreIndex, 'search'>;
      versions: Pick<PersonaVersions, 'active' | 'byNumber' | 'numbers'>;
      /** The base model of cards that name none. */
      baseModel: string;
      settings: EvaluationSettings;
      /** Every persona's reference style (its latest dataset's replies), for separability; absent: not measured. */
      styleReferences?: () => Promise<StyleReference[]>;
    },
  ) {}

  /**
   * `/persona eval`: evaluates a version (default the active one; 0 or none active: prompt-only
   * alone) and prompt-only, now, and records both. Rows: the version, then prompt-only.
   */
  async compareWithPromptOnly(card: PersonaCard, version?: number, opts: { signal?: AbortSignal } = {}): Promise<{ label: string; metrics: EvaluationMetrics }[]> {
    const row = version === undefined ? await this.deps.versions.active(card.slug) : version === PROMPT_ONLY ? undefined : await this.deps.versions.byNumber(card.slug, version);
    if (version !== undefined && version !== PROMPT_ONLY && !row) {
      const known = await this.deps.versions.numbers(card.slug);
      throw new ValidationError('version', `${card.name} has no version ${version} (versions: ${known.map((v) => `v${v}`).join(', ') || 'none yet'})`);
    }
    const targets = [...(row ? [{ label: `v${row.version}`, version: row.version, model: row.servedModel }] : []), { label: 'prompt-only', version: PROMPT_ONLY, model: card.model.base ?? this.deps.baseModel }];
    const out: { label: string; metrics: EvaluationMetrics }[] = [];
    for (const t of targets) out.push({ label: t.label, metrics: (await this.record(card, await this.evaluate(card, t, opts))).metrics });
    return out;
  }

  /** The probes of a card, in order: its eval prompts, then the generic set. */
  probes(card: PersonaCard): string[] {
    return evaluationProbes(card);
  }

  /** Answers every probe with one model and measures the replies (nothing stored). */
  async evaluate(
    card: PersonaCard,
    target: EvaluationTarget,
    opts: {
      facts?: LoreFacts;
      signal?: AbortSignal;
      onProgress?: (done: number, total: number) => void;
      shape?: PromptShape;
      /** Other probes than the card's (the development set, for choosing defaults); stored under their own probe-set hash. */
      probes?: readonly string[];
    } = {},
  ): Promise<Evaluation> {
    const s = this.deps.settings;
    // As served: prompt-only with the example dialogues, versions with ADAPTER_PROMPT's layout.
    const shape = opts.shape ?? (target.version === PROMPT_ONLY ? 'few-shot' : (s.adapterPrompt ?? 'few-shot'));
    const probes = opts.probes ? [...opts.probes] : this.probes(card);
    const jobs = probes.flatMap((probe, p) => Array.from({ length: s.samples }, (_, sample) => ({ probe, p, sample })));
    const replies: Evaluation['replies'] = new Array(jobs.length);
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const i = next++;
        const job = jobs[i]!;
        const lore = await this.deps.lore.search(card.slug, job.probe, s.loreK);
        const prompt = buildPrompt({ card, lore, history: [], userName: 'friend', userMessage: job.probe, budget: { contextTokens: s.contextTokens, replyTokens: s.maxReplyTokens }, shape });
        const r = await this.deps.llm.chat({
          model: target.model,
          messages: prompt.messages,
          // The same seed for a probe and sample on every version, so versions differ only by their weights.
          sampling: { temperature: card.model.temperature, maxTokens: s.maxReplyTokens, seed: 7000 + job.p * 16 + job.sample },
          priority: 'batch',
          signal: opts.signal,
        });
        replies[i] = { probe: job.probe, sample: job.sample, text: r.text.trim(), truncated: r.stats.completionTokens >= s.maxReplyTokens };
        opts.onProgress?.(++done, jobs.length);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(s.concurrency, jobs.length)) }, worker));
    const separated = this.deps.styleReferences ? separability(await this.deps.styleReferences(), card.slug, replies.map((r) => r.text)) : null;
    const metrics: EvaluationMetrics = {
      ...styleMetrics(card, replies),
      probes: probes.length,
      samples: s.samples,
      lore_facts: opts.facts ? loreFactsRate(replies, opts.facts) : null,
      perplexity: null,
      separability: separated?.accuracy ?? null,
      separability_chance: separated?.chance ?? null,
    };
    return { version: target.version, model: target.model, metrics, replies, probeSetHash: this.probeSetHash(card, probes) };
  }

  /** Stores an evaluation; returns it. */
  async record(card: PersonaCard, e: Evaluation): Promise<Evaluation> {
    await this.deps.db.insert(personaEvaluations).values({
      personaSlug: card.slug,
      version: e.version,
      servedModel: e.model,
      cardHash: card.hash,
      probeSetHash: e.probeSetHash,
      metrics: e.metrics,
    });
    return e;
  }

  /** The latest stored evaluation of a version measured with this card's current probe set, if any. */
  async latest(card: PersonaCard, version: number): Promise<(typeof personaEvaluations.$inferSelect) | undefined> {
    const [row] = await this.deps.db
      .select()
      .from(personaEvaluations)
      .where(and(eq(personaEvaluations.personaSlug, card.slug), eq(personaEvaluations.version, version), eq(personaEvaluations.probeSetHash, this.probeSetHash(card))))
      .orderBy(desc(personaEvaluations.createdAt), desc(personaEvaluations.id))
      .limit(1);
    return row;
  }

  /** The stored evaluation of a version, or a new one (evaluated and recorded now). */
  async latestOrEvaluate(card: PersonaCard, target: EvaluationTarget, opts: Parameters<EvaluationService['evaluate']>[2] = {}): Promise<EvaluationMetrics> {
    const stored = await this.latest(card, target.version);
    if (stored && stored.servedModel === target.model) return stored.metrics;
    return (await this.record(card, await this.evaluate(card, target, opts))).metrics;
  }

  /** What makes two evaluations comparable: the probes, seeds, samples and sampling. */
  probeSetHash(card: PersonaCard, probes: readonly string[] = this.probes(card)): string {
    const s = this.deps.settings;
    return createHash('sha256')
      .update(JSON.stringify({ v: 1, probes, samples: s.samples, maxReplyTokens: s.maxReplyTokens, contextTokens: s.contextTokens, loreK: s.loreK, temperature: card.model.temperature ?? null, card: card.hash }))
      .digest('hex');
  }
}

/** Share of the replies to fact-bearing probes that mention every fact of their probe. */
export function loreFactsRate(replies: readonly ProbeReply[], facts: LoreFacts): number | null {
  const judged = replies.filter((r) => facts[r.probe]?.length);
  if (judged.length === 0) return null;
  const hit = judged.filter((r) => {
    const lower = r.text.toLowerCase();
    return facts[r.probe]!.every((ways) => ways.some((w) => lower.includes(w.toLowerCase())));
  });
  return hit.length / judged.length;
}

/** The metrics shown for an evaluation, in order, with how each is printed. */
const SHOWN: { key: keyof EvaluationMetrics; label: string; kind: 'rate' | 'number' }[] = [
  { key: 'markers_all', label: 'all markers', kind: 'rate' },
  { key: 'ends_with', label: 'ending', kind: 'rate' },
  { key: 'lexicon', label: 'lexicon', kind: 'rate' },
  { key: 'forbid_rate', label: 'forbidden', kind: 'rate' },
  { key: 'breaks_rate', label: 'breaks', kind: 'rate' },
  { key: 'distinct2', label: 'distinct-2', kind: 'number' },
  { key: 'near_duplicate_rate', label: 'near-dup', kind: 'rate' },
  { key: 'median_length', label: 'median chars', kind: 'number' },
  { key: 'truncation_rate', label: 'truncated', kind: 'rate' },
  { key: 'lore_facts', label: 'lore facts', kind: 'rate' },
  { key: 'perplexity', label: 'perplexity', kind: 'number' },
  { key: 'separability', label: 'separability', kind: 'rate' },
];

/** One line of metrics, e.g. "all markers 70%, ending 90%, …" (metrics not measured are left out). */
export function describeMetrics(m: EvaluationMetrics): string {
  const pct = (v: number) => `${Math.round(v * 100)}%`;
  return SHOWN.filter((s) => typeof m[s.key] === 'number')
    .map((s) => {
      const v = m[s.key] as number;
      const shown = `${s.label} ${s.kind === 'rate' ? pct(v) : Number.isInteger(v) ? v : v.toFixed(2)}`;
      return s.key === 'separability' && typeof m.separability_chance === 'number' ? `${shown} (chance ${pct(m.separability_chance)})` : shown;
    })
    .join(', ');
}

/** Versions side by side, one line each: "**v2**: all markers 70%, …". */
export function describeEvaluations(rows: readonly { label: string; metrics: EvaluationMetrics }[]): string {
  return rows.map((r) => `**${r.label}**: ${describeMetrics(r.metrics)} (${r.metrics.probes} probes × ${r.metrics.samples})`).join('\n');
}

/** A version's stored `metrics.evaluation` (written by the evaluation gate), checked before it is shown. */
export function isEvaluation(v: unknown): v is EvaluationMetrics {
  const o = v as Partial<EvaluationMetrics> | null | undefined;
  return typeof o === 'object' && o !== null && typeof o.probes === 'number' && typeof o.distinct2 === 'number';
}

import type { ChatModel } from '../inference/ports.js';
import type { PersonaCard } from '../personas/card.js';
import { evaluationProbes } from '../personas/probes.js';
import { systemPrompt } from '../personas/prompt.js';
import { lineId } from './ids.js';
import type { DatasetLine, LineMessage } from './line.js';
import { generateDialogues, type TeacherSettings } from './sources/teacher-dialogues.js';

/**
 * A persona's frozen evaluation set: one in-character reference reply per evaluation probe (the
 * card's eval prompts and the generic probes), written by the teacher like training replies are,
 * as dataset lines. It is made once, at the persona's first fine-tune, and stored; every version
 * is measured on the same lines (the trainer's frozen-set perplexity), so versions compare. It is
 * never trained on (the probes are kept out of training) and never a job's eval split.
 */
export async function makeFrozenSet(card: PersonaCard, llm: ChatModel | undefined, s: TeacherSettings): Promise<DatasetLine[]> {
  const probes = evaluationProbes(card);
  const result = await generateDialogues(card, llm, s, probes.map((question) => ({ question, pass: 0 })));
  const system = systemPrompt(card, 'friend');
  const lines: DatasetLine[] = [];
  for (const e of result.entries) {
    if (!e.ok) continue; // every candidate broke character: that probe has no reference reply
    const messages: LineMessage[] = [{ role: 'system', content: system }, ...e.turns];
    lines.push({ id: lineId(card.slug, 'synthetic', messages), persona: card.slug, source: 'synthetic', messages });
  }
  return lines;
}

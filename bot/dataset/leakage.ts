import { minhash, similarity } from './clean.js';

/**
 * Keeps what a persona is evaluated on out of what it is trained on: a training user turn too
 * close to an evaluation probe (the card's `## Eval prompts`, the frozen evaluation set) would
 * let a version score well by remembering instead of by being in character.
 */

/** Character 3-gram Jaccard (estimated with the builder's MinHash) at or above which a user turn leaks. */
export const LEAK_THRESHOLD = 0.5;
const SHINGLE = 3;

export class ProbeGuard {
  private readonly signatures: { probe: string; sig: Uint32Array }[];

  constructor(probes: readonly string[]) {
    this.signatures = probes.map((probe) => ({ probe, sig: minhash(probe, SHINGLE) }));
  }

  /** The probe a text is too close to, or undefined. */
  leakOf(text: string): string | undefined {
    if (this.signatures.length === 0) return undefined;
    const sig = minhash(text, SHINGLE);
    return this.signatures.find((s) => similarity(s.sig, sig) >= LEAK_THRESHOLD)?.probe;
  }
}

import { describe, expect, it } from 'vitest';
import { evalGateDecision, GATE_METRICS, type GateMetrics } from '../../bot/services/finetune/gate.js';

const reference: GateMetrics = { markers_all: 0.7, ends_with: 0.9, forbid_rate: 0.02, breaks_rate: 0, distinct2: 0.6, near_duplicate_rate: 0.05, perplexity: 10 };
const active = { label: 'active v2', metrics: reference };

describe('the evaluation gate on recorded metrics', () => {
  it('passes a candidate equal to the reference within every margin', () => {
    const within: GateMetrics = { markers_all: 0.66, ends_with: 0.86, forbid_rate: 0.06, breaks_rate: 0.04, distinct2: 0.56, near_duplicate_rate: 0.09, perplexity: 10.29 };
    const d = evalGateDecision(within, active);
    expect(d).toMatchObject({ activate: true, heldBack: [] });
    expect(d.reason).toContain('active v2');
  });

  const worse: Record<(typeof GATE_METRICS)[number]['key'], Partial<GateMetrics>> = {
    markers_all: { markers_all: 0.6 },
    ends_with: { ends_with: 0.8 },
    forbid_rate: { forbid_rate: 0.1 },
    breaks_rate: { breaks_rate: 0.1 },
    distinct2: { distinct2: 0.5 },
    near_duplicate_rate: { near_duplicate_rate: 0.2 },
    perplexity: { perplexity: 10.5 },
  };
  for (const m of GATE_METRICS) {
    it(`holds back a candidate worse on ${m.label} alone, and says by how much`, () => {
      const d = evalGateDecision({ ...reference, ...worse[m.key] }, active);
      expect(d.activate).toBe(false);
      expect(d.heldBack.map((h) => h.metric)).toEqual([m.key]);
      expect(d.heldBack[0]!.by).toBeGreaterThan(0);
      expect(d.reason).toContain(m.label);
      expect(d.reason).toMatch(m.key === 'perplexity' ? /5\.0% higher, margin 3%/ : /points worse, margin 5/);
    });
  }

  it('skips metrics either side lacks (no declared ending, perplexity not measured)', () => {
    const d = evalGateDecision({ ...reference, ends_with: null, perplexity: null }, { label: 'prompt-only', metrics: { ...reference, ends_with: 1, perplexity: 5 } });
    expect(d.activate).toBe(true);
  });

  it('honours other margins', () => {
    expect(evalGateDecision({ ...reference, markers_all: 0.6 }, active, { ratePoints: 15, perplexityPct: 3 }).activate).toBe(true);
  });
});

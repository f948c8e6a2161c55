import { describe, expect, inject, it } from 'vitest';
import { measureSwitchCost, RELOAD_MIN_MS } from '../../bench/chat-switch.js';

// Real Ollama, real reloads. The server is shared with the other tests and answers one request
// at a time, so requests may queue; the run uses its own uniquely tagged models and deletes them.
describe('persona-switch benchmark (two LoRA personas on one base, real Ollama)', { timeout: 300_000 }, () => {
  it('measures TTFT staying vs alternating, and every switch really reloads', async () => {
    const lines: string[] = [];
    const { metrics, notes } = await measureSwitchCost({
      host: inject('ollamaHost'),
      baseModel: inject('ollamaBaseModel'),
      rounds: 4,
      log: (s) => lines.push(s),
    });
    for (const name of ['switch_ttft_ratio', 'stay_ttft_p50_ms', 'switch_ttft_p50_ms', 'switch_load_p50_ms']) {
      expect(Number.isFinite(metrics[name]), `${name} = ${metrics[name]}\n${lines.join('\n')}`).toBe(true);
    }
    expect(metrics.switch_ttft_ratio).toBeGreaterThan(0);
    expect(metrics.stay_ttft_p50_ms).toBeGreaterThan(0);
    expect(metrics.switch_load_p50_ms).toBeGreaterThan(0);
    // measureSwitchCost throws unless every switch reloaded; the median says so too.
    expect(metrics.switch_load_p50_ms).toBeGreaterThanOrEqual(RELOAD_MIN_MS);
    expect(lines.filter((l) => l.startsWith('switch '))).toHaveLength(4);
    expect(notes).toContain('Every switch reloaded');
  });
});

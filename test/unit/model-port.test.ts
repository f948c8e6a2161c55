import { describe, expect, it } from 'vitest';
import { BoundedBackend, ChatSlots } from '../../bot/inference/bounded.js';
import type { ChatRequest, ChatResult, ModelBackend } from '../../bot/inference/ports.js';
import { personaModelName } from '../../bot/inference/ports.js';

/** A backend whose requests finish when the test says so; it records what reached it. */
function gatedBackend() {
  const started: string[] = [];
  const release = new Map<string, () => void>();
  const backend: ModelBackend = {
    kind: 'gated',
    async chat(req: ChatRequest): Promise<ChatResult> {
      const text = req.messages.at(-1)!.content;
      started.push(text);
      await new Promise<void>((resolve) => release.set(text, resolve));
      return { text, stats: { model: req.model, promptTokens: 1, completionTokens: 1, loadMs: 0, queuedMs: 0, ttftMs: 1, totalMs: 1 } };
    },
    hasModel: async () => true,
    adapterFiles: (a) => [...a],
    has: async () => true,
    publish: async () => {},
    remove: async () => {},
  };
  return { backend, started, finish: (text: string) => release.get(text)!() };
}

const ask = (m: ModelBackend, text: string, priority?: ChatRequest['priority'], signal?: AbortSignal) =>
  m.chat({ model: 'base', messages: [{ role: 'user', content: text }], priority, signal });

const tick = () => new Promise((r) => setImmediate(r));

describe('bounded concurrency at the model server', () => {
  it('sends at most `limit` requests at once; a freed slot goes to live chat before dataset generation', async () => {
    const { backend, started, finish } = gatedBackend();
    const bounded = new BoundedBackend(backend, new ChatSlots(2));
    const a = ask(bounded, 'a', 'batch');
    const b = ask(bounded, 'b', 'batch');
    const c = ask(bounded, 'c', 'batch');
    const d = ask(bounded, 'd', 'interactive');
    await tick();
    expect(started).toEqual(['a', 'b']);
    expect(bounded.slots.stats).toEqual({ running: 2, waiting: 2 });
    finish('a');
    await a;
    await tick();
    expect(started).toEqual(['a', 'b', 'd']); // the interactive request overtook c
    finish('b');
    finish('d');
    await tick();
    expect(started).toEqual(['a', 'b', 'd', 'c']);
    finish('c');
    const results = await Promise.all([b, c, d]);
    expect(results.map((r) => r.text)).toEqual(['b', 'c', 'd']);
    expect(results[1]!.stats.queuedMs).toBeGreaterThan(0); // c waited for its slot, and says so
    expect(bounded.slots.stats).toEqual({ running: 0, waiting: 0 });
  });

  it('takes an aborted request out of the queue at once, without ever sending it', async () => {
    const { backend, started, finish } = gatedBackend();
    const bounded = new BoundedBackend(backend, new ChatSlots(1));
    const first = ask(bounded, 'first');
    const controller = new AbortController();
    const waiting = ask(bounded, 'waiting', 'interactive', controller.signal);
    await tick();
    controller.abort(new DOMException('the user ended the conversation', 'AbortError'));
    await expect(waiting).rejects.toThrow('the user ended the conversation');
    expect(bounded.slots.stats).toEqual({ running: 1, waiting: 0 });
    finish('first');
    await first;
    expect(started).toEqual(['first']);
    await expect(ask(bounded, 'late', 'interactive', controller.signal)).rejects.toThrow('the user ended the conversation');
  });

  it('refuses a limit below one', () => {
    expect(() => new ChatSlots(0)).toThrow(RangeError);
  });
});

describe('persona version names', () => {
  it('are the same on every backend: persona-<slug>:v<N>', () => {
    expect(personaModelName('glordon', 3)).toBe('persona-glordon:v3');
  });
});

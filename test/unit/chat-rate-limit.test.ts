import { describe, expect, it } from 'vitest';
import { SlidingWindowLimiter } from '../../bot/services/chat.js';

describe("ChatService's per-user rate limit", () => {
  const clock = () => {
    let t = 1_000_000;
    return { now: () => t, advance: (ms: number) => void (t += ms) };
  };

  it('allows `limit` messages per window and says how long to wait', () => {
    const c = clock();
    const rate = new SlidingWindowLimiter(3, 60_000, c.now);
    expect([rate.take('a'), rate.take('a'), rate.take('a')]).toEqual([0, 0, 0]);
    c.advance(10_000);
    expect(rate.take('a')).toBe(50_000);
    expect(rate.take('b')).toBe(0); // per user
    c.advance(50_000);
    expect(rate.take('a')).toBe(0);
  });

  it('forgets users whose minute has passed, so the map stays bounded under churn', () => {
    const c = clock();
    const rate = new SlidingWindowLimiter(12, 60_000, c.now);
    let peak = 0;
    // 100 minutes, 1,000 new users a minute, each sending a few messages.
    for (let minute = 0; minute < 100; minute++) {
      for (let i = 0; i < 1000; i++) {
        const user = `u${minute}-${i}`;
        rate.take(user);
        rate.take(user);
        c.advance(30);
      }
      c.advance(30_000);
      peak = Math.max(peak, rate.size);
    }
    expect(peak).toBeLessThanOrEqual(2000); // users of about the last two minutes, not 100,000
    c.advance(120_000);
    rate.take('late');
    expect(rate.size).toBe(1);
  });
});

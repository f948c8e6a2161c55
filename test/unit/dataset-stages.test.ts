import { describe, expect, it } from 'vitest';
import { DATASET_SOURCES } from '../../bot/dataset/line.js';
import { applyPerUserCap } from '../../bot/dataset/per-user-cap.js';
import { SOURCES } from '../../bot/dataset/sources/index.js';

describe('dataset sources', () => {
  it('are read in the order of the line contract (DATASET_SOURCES), which is also the near-duplicate preference', () => {
    expect(SOURCES.map((s) => s.name)).toEqual([...DATASET_SOURCES]);
    expect(new Set(SOURCES.map((s) => s.phase)).size).toBe(SOURCES.length);
  });
});

describe('the per-user cap', () => {
  // Lines 0..n-1; userOf gives each line's capped user, -1 for none (card and synthetic lines).
  const run = (users: number[], share: number) => applyPerUserCap(users.map((_, i) => i), (i) => users[i]!, Math.max(0, ...users) + 1, share);

  it('caps one loud user so that nobody supplies more than the share of what is kept', () => {
    // User 0 wrote 10 lines, user 1 two, plus 8 lines nobody is capped for.
    const users = [...Array(10).fill(0), 1, 1, ...Array(8).fill(-1)];
    const r = run(users, 0.2);
    const kept0 = r.kept.filter((i) => users[i] === 0).length;
    expect(kept0).toBe(r.maxPerUser);
    expect(kept0).toBeLessThanOrEqual(0.2 * r.kept.length);
    expect(r.maxPerUser).toBe(2); // 3 lines of user 0 would be 3/13 > 20%
    expect(r.usersCapped).toBe(1);
    expect(r.kept.filter((i) => users[i] === 0)).toEqual([0, 1]); // the first lines in the given order
    expect(r.kept.filter((i) => users[i] === -1)).toHaveLength(8);
  });

  it('keeps everything when no user is over the share, and is the identity with no capped users', () => {
    expect(run([0, 1, 2, 3, 4], 0.2).kept).toEqual([0, 1, 2, 3, 4]);
    expect(run([-1, -1, -1], 0.2)).toMatchObject({ kept: [0, 1, 2], usersCapped: 0 });
  });

  it('with a share of 1 caps nobody', () => {
    expect(run([0, 0, 0, 1], 1)).toMatchObject({ kept: [0, 1, 2, 3], usersCapped: 0 });
  });
});

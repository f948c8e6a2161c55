/**
 * The per-user cap (DATASET_PER_USER_SHARE): no user supplies more than `share` of the lines.
 * The cap is the largest m with m <= share * (lines kept when every user keeps at most m); a
 * capped user keeps their first m lines in the given order (the builder passes them by id).
 *
 * `lines` are line numbers; `userOf(line)` is the line's capped user (an index below `users`),
 * or -1 for a line no user is capped for (card and synthetic lines, exempt speakers).
 */
export function applyPerUserCap(
  lines: readonly number[],
  userOf: (line: number) => number,
  users: number,
  share: number,
): { kept: number[]; maxPerUser: number; usersCapped: number; keptOfUser: number[] } {
  const linesOfUser = new Array<number>(users).fill(0);
  let uncapped = 0;
  for (const i of lines) {
    const u = userOf(i);
    if (u < 0) uncapped++;
    else linesOfUser[u]!++;
  }
  const totalWith = (m: number) => linesOfUser.reduce((n, l) => n + Math.min(l, m), uncapped);
  let lo = 0;
  let hi = linesOfUser.reduce((a, b) => Math.max(a, b), 0);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (mid <= share * totalWith(mid)) lo = mid;
    else hi = mid - 1;
  }
  const maxPerUser = lo;
  const usersCapped = linesOfUser.filter((l) => l > maxPerUser).length;
  const keptOfUser = new Array<number>(users).fill(0);
  const kept = lines.filter((i) => {
    const u = userOf(i);
    return u < 0 || ++keptOfUser[u]! <= maxPerUser;
  });
  return { kept, maxPerUser, usersCapped, keptOfUser };
}

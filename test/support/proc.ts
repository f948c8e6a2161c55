import { readFileSync } from 'node:fs';

/**
 * Field `n` of /proc/<pid>/stat, numbered as in proc(5) (1 = pid, 14 = utime, 19 = nice). The
 * command name (field 2) may hold spaces and parentheses, so fields are counted from after its
 * last ")".
 */
export function procStatField(pid: number, n: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' '); // starts at field 3
  return Number(rest[n - 3]);
}

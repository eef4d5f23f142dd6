// What the benchmarks that report against this machine's speed share: a percentile, and
// `node -e 0` measured in the same run (machines here differ by 2x from one session to the next).

import { spawnSync } from 'node:child_process';

/** The p-quantile of a non-empty series (nearest rank). */
export const pct = (xs: readonly number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

/** `node -e 0`, p50 of `runs`, ms. */
export function nodeStartMs(runs = 7): number {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    t.push(performance.now() - t0);
  }
  return pct(t, 0.5);
}

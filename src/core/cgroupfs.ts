// Reading cgroup directories, v1 or v2: the sandbox's runs and the chaos drill's throwaway
// deployments both walk a group and everything below it, and list the processes in each.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** A group's directory and every group below it, parents first; one gone meanwhile is skipped. */
export function subtree(dir: string): string[] {
  const out = [dir];
  for (let i = 0; i < out.length; i++)
    try {
      for (const e of readdirSync(out[i]!, { withFileTypes: true }))
        if (e.isDirectory()) out.push(join(out[i]!, e.name));
    } catch {
      // gone
    }
  return out;
}

/** The pids in a `cgroup.procs` or `tasks` file; none when it is gone. */
export function readPids(path: string): number[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

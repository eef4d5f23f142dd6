// Reading cgroup directories, v1 or v2: the sandbox's runs and the chaos drill's throwaway
// deployments both walk a group and everything below it, list the processes in each, and clean
// up the freezer's armed group a killed control plane leaves.

import { readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
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

/**
 * The v1 freezer group the sandbox keeps frozen beside its parent while a control plane runs
 * (sandbox/cgroup.ts, `armFreezer`): the dot keeps it out of the list of installations.
 */
export function armedGroup(freezerParent: string): string {
  return `${freezerParent}.armed`;
}

/** Thaws and removes an armed group; quiet when it is not there. Whether it is gone. */
export function disarmGroup(dir: string): boolean {
  try {
    writeFileSync(join(dir, 'freezer.state'), 'THAWED');
  } catch {
    // not there, or not a freezer group
  }
  return rmdirQuiet(dir);
}

/** Removes a group directory; false while it is still busy (tasks not yet reaped). */
export function rmdirQuiet(path: string): boolean {
  try {
    rmdirSync(path);
    return true;
  } catch (e) {
    // Already gone is removed; busy is for the caller to retry.
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

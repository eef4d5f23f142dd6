// A process named so that its pid cannot be reused under the name: the pid and its start time
// (clock ticks since boot, /proc/PID/stat field 22). A runner registers this; whoever later asks
// "is it still alive?" gets no for a pid the kernel has given to someone else since.

import { readFileSync } from 'node:fs';

export interface ProcessIdentity {
  readonly pid: number;
  /** /proc/PID/stat starttime, as text (it can exceed 2^53 ticks in theory). */
  readonly start: string;
}

/** The identity of a live process, or undefined when there is none with that pid. */
export function processIdentity(pid: number): ProcessIdentity | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or ')': fields after it
  // are counted from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const start = fields[19];
  // A zombie has exited; only its parent's wait is missing.
  if (start === undefined || state === 'Z' || state === 'X') return undefined;
  return { pid, start };
}

/** Is the process that had this identity still running (the same process, not a reused pid)? */
export function stillRunning(p: ProcessIdentity): boolean {
  return processIdentity(p.pid)?.start === p.start;
}

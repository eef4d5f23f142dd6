// Host uids for runs: each run gets its own uid (and gid of the same number) from a configured
// range, never shared by two live runs, so a process of one run is a stranger to every other
// run's workspace (0700) and egress channel (0600) as far as the host kernel is concerned.
//
// The pool is a directory (root-only) with a file per uid in use, created with O_EXCL by the
// runner that takes it and naming the run and the runner. A runner removes its file when the run
// ends. A runner that died cannot: the control plane, which watches runners, removes files whose
// runner is gone (and only it does, so there is one reclaimer and no race between two).

import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
  constants,
} from 'node:fs';
import { join } from 'node:path';
import { RampartError } from '../core/errors.js';
import { stillRunning, type ProcessIdentity } from '../core/process.js';

export interface UidRange {
  readonly first: number;
  readonly count: number;
}

export interface UidLease {
  readonly uid: number;
  readonly run: string;
  readonly runner: ProcessIdentity;
}

export class UidPool {
  constructor(
    private readonly dir: string,
    readonly range: UidRange,
  ) {
    if (range.first < 1 || range.count < 1 || range.first + range.count - 1 > 4_294_967_294)
      throw new TypeError('a uid range is within 1..4294967294 and not empty');
  }

  contains(uid: number): boolean {
    return Number.isInteger(uid) && uid >= this.range.first && uid < this.range.first + this.range.count;
  }

  /** Takes the lowest free uid for `run`; refuses when every one is held by a live run. */
  acquire(run: string, runner: ProcessIdentity): number {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const body = JSON.stringify({ run, pid: runner.pid, start: runner.start });
    for (let uid = this.range.first; uid < this.range.first + this.range.count; uid++) {
      let fd: number;
      try {
        fd = openSync(
          join(this.dir, String(uid)),
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
          0o600,
        );
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw e;
      }
      try {
        writeSync(fd, body);
      } finally {
        closeSync(fd);
      }
      return uid;
    }
    throw new RampartError(
      'RAMPART_E_SANDBOX_UNAVAILABLE',
      `no free run uid: all ${this.range.count} of sandbox.uids (from ${this.range.first}) are held by live runs`,
    );
  }

  /** Gives a uid back (the run has ended). */
  release(uid: number): void {
    if (this.contains(uid)) rmSync(join(this.dir, String(uid)), { force: true });
  }

  /** Who holds `uid`, or undefined. */
  lease(uid: number): UidLease | undefined {
    try {
      const v = JSON.parse(readFileSync(join(this.dir, String(uid)), 'utf8')) as {
        run: string;
        pid: number;
        start: string;
      };
      return { uid, run: v.run, runner: { pid: v.pid, start: v.start } };
    } catch {
      return undefined;
    }
  }

  /** Every lease whose runner is gone (the control plane ends those runs and releases them). */
  orphans(): UidLease[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: UidLease[] = [];
    for (const n of names) {
      const lease = /^\d+$/.test(n) ? this.lease(Number(n)) : undefined;
      if (lease && !stillRunning(lease.runner)) out.push(lease);
    }
    return out;
  }
}

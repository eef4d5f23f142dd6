// Resource limits and process tracking for a run, through cgroups.
//
// v2 (unified hierarchy, /sys/fs/cgroup/cgroup.controllers present): one directory per run with
// memory.max, pids.max, cpu.max, cgroup.freeze and cgroup.kill.
// v1 (our machines): one directory per run in each of the memory, pids, cpu and freezer
// hierarchies, and in the cgroup2 hierarchy a hybrid host mounts at unified/ (no controllers:
// it gives every task of the run a cgroup2 id that names the run, for kernel telemetry). memory.limit_in_bytes (and memsw where swap accounting is on, so the limit cannot
// be escaped into swap), pids.max, cpu.cfs_quota_us/cfs_period_us, freezer.state.
//
// The cgroup is also how a run is found and ended from another process: `rampart kill` and the
// kill switch in the control plane freeze the run's group, SIGKILL every task in it and thaw it,
// so nothing forks its way out between reading the task list and killing it.

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, dirname } from 'node:path';
import { armedGroup, disarmGroup, readPids, rmdirQuiet, subtree } from '../core/cgroupfs.js';
import { messageOf } from '../core/errors.js';

export interface Limits {
  /** Bytes. */
  readonly memory: number;
  readonly pids: number;
  /** CPUs (fractional allowed). */
  readonly cpus: number;
}

export interface CgroupStats {
  readonly peakMemory: number;
  /** The memory limit was hit (the kernel refused or reclaimed, or OOM-killed). */
  readonly memoryLimitHit: boolean;
  readonly oomKilled: boolean;
  /** A fork was refused by pids.max. */
  readonly pidsLimitHit: boolean;
  /** CPU time the group used, in microseconds (cgroup2's cpu.stat; 0 without a cgroup2 group). */
  readonly cpuMicros: number;
}

export type CgroupVersion = 'v1' | 'v2';

/** Controllers a v1 machine must have for Rampart to run sandboxes. */
const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'freezer'] as const;

const CPU_PERIOD_US = 100_000;

function write(path: string, value: string | number): void {
  writeFileSync(path, String(value));
}

function readNum(path: string): number {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) ? n : 0;
  } catch {
    return 0;
  }
}

function readKeyed(path: string): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const [k, v] = line.split(/\s+/);
      if (k && v) out.set(k, Number(v));
    }
  } catch {
    // Absent on older kernels: no counts.
  }
  return out;
}

/** The kernel's PF_EXITING task flag: the task is in do_exit and will never run user code again. */
const PF_EXITING = 0x4;

/** A task of a group, from one read of /proc/PID/stat. */
export interface Task {
  readonly pid: number;
  /** Its command name (bwrap's own processes are "bwrap"). */
  readonly comm: string;
  /** It may still run: false once it is exiting (PF_EXITING) or a zombie. */
  readonly live: boolean;
  /** The kernel's one-letter state (R, S, D, T, Z...). */
  readonly state: string;
}

/**
 * The task, or undefined when it is gone. The command name is in parentheses and may itself
 * contain them, so the fields after it are counted from the last ")"; the flags are the 7th.
 */
function readTask(pid: number): Task | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  const close = stat.lastIndexOf(')');
  const fields = stat.slice(close + 2).split(' ');
  const state = fields[0];
  const live = state !== 'Z' && state !== 'X' && state !== 'x' && (Number(fields[6]) & PF_EXITING) === 0;
  return { pid, comm: stat.slice(stat.indexOf('(') + 1, close), live, state: state ?? '?' };
}

const sum = (dirs: readonly string[], f: (d: string) => number): number => dirs.reduce((a, d) => a + f(d), 0);

/** How long a freeze looks at its group on every turn of the event loop, before every millisecond. */
const FAST_POLL_MS = 5;

/** Where in the kernel a task waits (its wait channel), or "-". */
function wchan(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/wchan`, 'utf8') || '-';
  } catch {
    return '-';
  }
}

/** Where cgroups live and which version: found once, at start. */
export interface CgroupHost {
  readonly version: CgroupVersion;
  /** v2: the parent directory for runs. v1: controller → parent directory. */
  readonly parents: Readonly<Record<string, string>>;
}

/**
 * Finds the cgroup hierarchy and where Rampart's parent group (`name` under the root) goes; the
 * parent itself is made with the first run's group and removed after the last (an installation
 * that runs nothing leaves nothing). Returns a reason string when sandboxes cannot have limits
 * here: the caller refuses to run them.
 */
export function detectCgroups(name: string, root = '/sys/fs/cgroup'): CgroupHost | string {
  try {
    if (existsSync(join(root, 'cgroup.controllers'))) {
      const available = readFileSync(join(root, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
      for (const c of ['memory', 'pids', 'cpu'])
        if (!available.includes(c)) return `cgroup v2 controller "${c}" is not available`;
      // The root must delegate the controllers; the parent (made with a run's group, in
      // RunCgroup.create) enables them for its children.
      try {
        write(join(root, 'cgroup.subtree_control'), '+memory +pids +cpu');
      } catch (e) {
        return `cannot enable cgroup v2 controllers in ${root}: ${messageOf(e)}`;
      }
      return { version: 'v2', parents: { unified: join(root, name) } };
    }
    const parents: Record<string, string> = {};
    for (const c of V1_CONTROLLERS) {
      const mount = join(root, c);
      if (!existsSync(join(mount, 'cgroup.procs'))) return `cgroup v1 controller "${c}" is not mounted`;
      parents[c] = join(mount, name);
    }
    // A hybrid host also mounts cgroup2 (at unified/): runs are placed there too, with no
    // controllers, so that the kernel's cgroup2 id of every task names its run (kernel telemetry
    // filters on it: detect/telemetry/probe.bpf.c).
    if (existsSync(join(root, 'unified', 'cgroup.procs'))) parents['unified'] = join(root, 'unified', name);
    return { version: 'v1', parents };
  } catch (e) {
    return `cgroups are not usable: ${messageOf(e)}`;
  }
}

/** One run's cgroup(s). */
export class RunCgroup {
  private readonly dirs: Readonly<Record<string, string>>;

  private constructor(
    readonly host: CgroupHost,
    readonly runId: string,
  ) {
    this.dirs = Object.fromEntries(Object.entries(host.parents).map(([c, p]) => [c, join(p, runId)]));
  }

  /** Creates the group with its limits. Throws when a limit cannot be set (fail closed). */
  static create(host: CgroupHost, runId: string, limits: Limits): RunCgroup {
    const g = new RunCgroup(host, runId);
    // The installation's parent may have just been removed (it goes when its last run does, see
    // removeParentIfEmpty): made again, with v2's controllers delegated, and the run's group in it.
    for (const d of Object.values(g.dirs))
      for (let attempt = 0; ; attempt++)
        try {
          mkdirSync(dirname(d), { recursive: true });
          if (host.version === 'v2') write(join(dirname(d), 'cgroup.subtree_control'), '+memory +pids +cpu');
          mkdirSync(d);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw e;
        }
    try {
      const cpuQuota = Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US));
      if (host.version === 'v2') {
        const d = g.dirs['unified']!;
        write(join(d, 'memory.max'), limits.memory);
        if (existsSync(join(d, 'memory.swap.max'))) write(join(d, 'memory.swap.max'), 0);
        write(join(d, 'pids.max'), limits.pids);
        write(join(d, 'cpu.max'), `${cpuQuota} ${CPU_PERIOD_US}`);
      } else {
        const mem = g.dirs['memory']!;
        write(join(mem, 'memory.limit_in_bytes'), limits.memory);
        // With swap accounting, bound memory+swap too; otherwise the limit leaks into swap.
        if (existsSync(join(mem, 'memory.memsw.limit_in_bytes')))
          write(join(mem, 'memory.memsw.limit_in_bytes'), limits.memory);
        else if (existsSync(join(mem, 'memory.swappiness'))) write(join(mem, 'memory.swappiness'), 0);
        write(join(g.dirs['pids']!, 'pids.max'), limits.pids);
        write(join(g.dirs['cpu']!, 'cpu.cfs_period_us'), CPU_PERIOD_US);
        write(join(g.dirs['cpu']!, 'cpu.cfs_quota_us'), cpuQuota);
      }
    } catch (e) {
      g.remove();
      throw e;
    }
    return g;
  }

  /** The group of a run created by another process (kill, quarantine, destroy). */
  static open(host: CgroupHost, runId: string): RunCgroup | undefined {
    const g = new RunCgroup(host, runId);
    return Object.values(g.dirs).every((d) => existsSync(d)) ? g : undefined;
  }

  /**
   * The parents of every Rampart installation on this host (groups named rampart*, beside this
   * host's own parent), each as a host of its own: for the operator's --host-wide.
   */
  static installations(host: CgroupHost): CgroupHost[] {
    const mine = Object.values(host.parents)[0]!;
    const root = dirname(mine);
    let names: string[];
    try {
      names = readdirSync(root, { withFileTypes: true })
        .filter((e) => e.isDirectory() && /^rampart[A-Za-z0-9_-]*$/.test(e.name))
        .map((e) => e.name);
    } catch {
      return [host];
    }
    return names.map((n) => ({
      version: host.version,
      parents: Object.fromEntries(Object.entries(host.parents).map(([c, p]) => [c, join(dirname(p), n)])),
    }));
  }

  /**
   * Removes the installation's parent group from every hierarchy where it is empty (the Docker
   * Engine makes it in hierarchies beyond Rampart's four): an installation leaves nothing behind
   * once its last run is gone. rmdir refuses a group with a run in it, so a live run keeps it; one
   * being created meanwhile makes it again (create above).
   */
  static removeParentIfEmpty(host: CgroupHost, root = '/sys/fs/cgroup'): void {
    const name = basename(Object.values(host.parents)[0]!);
    const dirs = new Set(Object.values(host.parents));
    if (host.version === 'v1')
      try {
        for (const c of readdirSync(root)) dirs.add(join(root, c, name));
      } catch {
        // no hierarchies to look in
      }
    for (const d of dirs) rmdirQuiet(d);
  }

  /**
   * Keeps the v1 freezer armed while the control plane runs: an empty group beside the parent
   * (`<parent>.armed`: the dot keeps it out of `installations`), frozen. The kernel switches its
   * freezer checks on with a static key when the first group starts freezing and off when the
   * last thaws, and each switch patches kernel code: 1.5 ms of a blocking write on this machine
   * for every freeze, and as much for every thaw, where with the key held on a freeze's write
   * takes 0.2 ms. Returns the disarm (thaw, remove), or undefined where there is no v1 freezer.
   * A group a killed control plane left is taken over by the next one under the same parent.
   */
  static armFreezer(host: CgroupHost): (() => void) | undefined {
    const parent = host.version === 'v1' ? host.parents['freezer'] : undefined;
    if (!parent) return undefined;
    const dir = armedGroup(parent);
    try {
      mkdirSync(dir, { recursive: true });
      write(join(dir, 'freezer.state'), 'FROZEN');
    } catch {
      // Only slower without it: freezes still work, each paying for the switch.
      rmdirQuiet(dir);
      return undefined;
    }
    return () => void disarmGroup(dir);
  }

  /** Every run with a group under the parent (whoever started it). */
  static list(host: CgroupHost): string[] {
    const first = Object.values(host.parents)[0]!;
    try {
      return readdirSync(first, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return [];
    }
  }

  /** Moves processes into the group (in every hierarchy). */
  add(pids: readonly number[]): void {
    for (const d of Object.values(this.dirs)) for (const pid of pids) write(join(d, 'cgroup.procs'), pid);
  }

  /**
   * Every process in the group and in groups below it: a run on the Docker runtime lives in the
   * container's own cgroup, which the Engine creates under the run's (its CgroupParent).
   */
  pids(): number[] {
    return subtree(Object.values(this.dirs)[0]!).flatMap((d) => readPids(join(d, 'cgroup.procs')));
  }

  /** The tasks in the group that may still run (not exiting, not zombies). */
  liveTasks(): Task[] {
    const out: Task[] = [];
    for (const pid of this.pids()) {
      const t = readTask(pid);
      if (t?.live) out.push(t);
    }
    return out;
  }

  /**
   * Freezes the group. On a hybrid host the run's cgroup2 group is frozen too: v1's freezer can
   * stall in FREEZING on tasks it cannot stop (some io_uring and vfork waits), v2's cannot.
   */
  freeze(): void {
    if (this.host.version === 'v1') write(join(this.dirs['freezer']!, 'freezer.state'), 'FROZEN');
    this.unified('cgroup.freeze', 1);
  }

  /**
   * Freezes the group and waits until the kernel says it is frozen (or empty): undefined then,
   * else, after `timeoutMs`, the tasks that held it up with their state and kernel wait.
   */
  async freezeAndWait(timeoutMs: number): Promise<string | undefined> {
    this.freeze();
    // v1's freezer goes FREEZING, then FROZEN once every task has stopped; v2's cgroup.events
    // says frozen 1. Both are polled: there is no event to wait on.
    const started = performance.now();
    let asked = started;
    while (!this.frozen()) {
      // v1 asks each task to stop once, when FROZEN is written. A task that goes to sleep just
      // after (a shell waiting in vfork for a child the freezer has already stopped: dash does
      // this for every command it runs) is never asked again, and the group stays FREEZING for
      // good. Writing FROZEN again asks every task not yet stopped again.
      if (this.pids().length === 0) return undefined;
      const now = performance.now();
      if (now - asked >= 5) {
        try {
          this.freeze();
        } catch {
          // The group is going away: the next look at its tasks says so.
        }
        asked = now;
      }
      // Which tasks held it up, and where in the kernel: what an operator needs to know why.
      if (now - started > timeoutMs)
        return this.liveTasks()
          .map((t) => `${t.pid} ${t.comm} (${t.state}, ${wchan(t.pid)})`)
          .join(', ');
      // Most groups are frozen within a millisecond or two of the write: looked at again on the
      // next turn of the event loop, not after a timer's millisecond or more, at first.
      await new Promise((r) => (now - started < FAST_POLL_MS ? setImmediate(r) : setTimeout(r, 1)));
    }
    return undefined;
  }

  thaw(): void {
    if (this.host.version === 'v1') write(join(this.dirs['freezer']!, 'freezer.state'), 'THAWED');
    this.unified('cgroup.freeze', 0);
  }

  /** Writes a cgroup2 file of the run's group: v2, or a hybrid host's unified group when it is there. */
  private unified(file: string, value: number): void {
    const d = this.dirs['unified'];
    if (!d) return;
    if (this.host.version === 'v2') return write(join(d, file), value);
    try {
      write(join(d, file), value);
    } catch {
      // A hybrid host's unified group is a companion; the v1 freezer is the one that counts.
    }
  }

  frozen(): boolean {
    // Effectively frozen, not asked to be: v2's cgroup.events says "frozen 1" once every task has
    // stopped (cgroup.freeze is only the request); v1 goes FREEZING, then FROZEN.
    const v2 = (): boolean => {
      const d = this.dirs['unified'];
      try {
        return d !== undefined && /^frozen 1$/m.test(readFileSync(join(d, 'cgroup.events'), 'utf8'));
      } catch {
        return false;
      }
    };
    if (this.host.version === 'v2') return v2();
    try {
      return readFileSync(join(this.dirs['freezer']!, 'freezer.state'), 'utf8').trim() === 'FROZEN' || v2();
    } catch {
      return v2();
    }
  }

  /**
   * Sends `signal` to every process in the group except bubblewrap's own (its monitor and the
   * namespace's pid 1): if those died first, the kernel would SIGKILL the whole namespace at once
   * and the command would get no grace period to save its work.
   */
  signal(signal: NodeJS.Signals): void {
    for (const pid of this.pids()) {
      if (readTask(pid)?.comm === 'bwrap') continue;
      try {
        process.kill(pid, signal);
      } catch {
        // Exited meanwhile.
      }
    }
  }

  /**
   * SIGKILLs everything in the group with no window to fork out of it: freeze, kill every task,
   * thaw (the kills are delivered as the tasks thaw). v2 has cgroup.kill for exactly this.
   */
  killAll(): void {
    if (this.host.version === 'v2' && existsSync(join(this.dirs['unified']!, 'cgroup.kill'))) {
      write(join(this.dirs['unified']!, 'cgroup.kill'), 1);
      return;
    }
    try {
      this.freeze();
    } catch {
      // A group without a freezer still gets its kills, just with a window.
    }
    for (const pid of this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
    try {
      this.thaw();
    } catch {
      // Gone already.
    }
  }

  stats(): CgroupStats {
    if (this.host.version === 'v2') {
      const d = this.dirs['unified']!;
      const events = readKeyed(join(d, 'memory.events'));
      const pidEvents = new Map([
        ['max', sum(subtree(d), (x) => readKeyed(join(x, 'pids.events')).get('max') ?? 0)],
      ]);
      return {
        peakMemory: readNum(join(d, 'memory.peak')),
        memoryLimitHit: (events.get('max') ?? 0) > 0 || (events.get('oom') ?? 0) > 0,
        oomKilled: (events.get('oom_kill') ?? 0) > 0,
        pidsLimitHit: (pidEvents.get('max') ?? 0) > 0,
        cpuMicros: readKeyed(join(d, 'cpu.stat')).get('usage_usec') ?? 0,
      };
    }
    // v1 counts failures and kills where the limit was hit: the run's own group, or a group below
    // it with a limit of its own (a container's, which the Engine limits too).
    const mem = subtree(this.dirs['memory']!);
    const oomKills = sum(mem, (d) => readKeyed(join(d, 'memory.oom_control')).get('oom_kill') ?? 0);
    return {
      peakMemory: readNum(join(this.dirs['memory']!, 'memory.max_usage_in_bytes')),
      memoryLimitHit: sum(mem, (d) => readNum(join(d, 'memory.failcnt'))) > 0 || oomKills > 0,
      oomKilled: oomKills > 0,
      pidsLimitHit:
        sum(subtree(this.dirs['pids']!), (d) => readKeyed(join(d, 'pids.events')).get('max') ?? 0) > 0,
      // cgroup2 keeps a CPU account for every group, controllers or not.
      cpuMicros: this.dirs['unified']
        ? (readKeyed(join(this.dirs['unified'], 'cpu.stat')).get('usage_usec') ?? 0)
        : 0,
    };
  }

  /** Removes the group (it must be empty: kill first); true once it is gone from every hierarchy. */
  remove(): boolean {
    let gone = true;
    for (const d of Object.values(this.dirs)) gone = rmdirQuiet(d) && gone;
    return gone;
  }
}

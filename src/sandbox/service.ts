// The sandbox component: prepares this host for runs (cgroups, seccomp program, bwrap), turns a
// run request and a profile into a RunSpec, starts runs, and ends them from any process:
// kill, quarantine and the kill switch act on the run's cgroup, so they reach runs started by
// `rampart run` in another process as well as runs started here.
//
// It refuses to run anything it cannot confine (no bwrap, no cgroup controllers, no seccomp
// filter for this architecture): health says why, and start() throws. Never a run without limits.

import { urandomHex } from '../core/ids.js';
import { accessSync, constants, existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve, basename, relative } from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { RampartError, messageOf } from '../core/errors.js';
import { processIdentity, type ProcessIdentity } from '../core/process.js';
import type { SandboxProfile, SandboxSettings } from '../core/settings.js';
import type { ComponentHealth } from '../core/types.js';
import { detectCgroups, RunCgroup, type CgroupHost } from './cgroup.js';
import { captureEvidence, type Evidence } from './evidence.js';
import {
  ROOT_DIRS,
  RunningSandbox,
  type EgressChannel,
  type RunResult,
  type RunSpec,
  type SandboxHost,
} from './runner.js';
import { compileSeccomp, defaultSeccomp } from './seccomp.js';
import { DockerRuntime, type DockerPlan } from './docker/host.js';
import { DockerRun } from './docker/run.js';
import { SwarmRuntime, type SwarmPlan } from './swarm/host.js';
import { SwarmRun } from './swarm/run.js';
import { UidPool } from './uids.js';
import { RunRegistry, type RunRecord } from './records.js';
import { RUN_ID_RE, Workspaces } from './workspaces.js';

export type SandboxOptions = SandboxSettings;

/** What a caller asks for; everything else comes from the profile. */
export interface RunRequest {
  readonly id?: string;
  readonly agent: string;
  readonly profile?: string;
  readonly command: readonly string[];
  readonly workspace?: string;
  readonly memoryBytes?: number;
  readonly pids?: number;
  readonly cpus?: number;
  readonly timeoutMs?: number;
  readonly secrets?: ReadonlyMap<string, Buffer>;
  /** Files planted in the run's home (honeytokens), by path under it. */
  readonly homeFiles?: ReadonlyMap<string, Buffer>;
  readonly token?: Buffer;
  readonly env?: Readonly<Record<string, string>>;
  readonly stdio?: 'inherit' | 'pipe';
  /** The run's egress channel (see channel()); without one the run has no network. */
  readonly egress?: EgressChannel;
  /** The process that runs it (holds its uid until it ends); this process by default. */
  readonly runner?: ProcessIdentity;
}

/** A run started in this process, on either runtime. */
type LocalRun = RunningSandbox | DockerRun | SwarmRun;

/** Host paths hidden in every sandbox when they exist under the visible system directories. */
const BUILTIN_HIDE = ['/etc/ssh', '/etc/ssl/private', '/etc/rampart'];

const AGENT_RE = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

export class SandboxService {
  private readonly local = new Map<string, LocalRun>();
  /** The Docker runtime's side of the Engine (docker/host.ts). */
  private readonly docker: DockerRuntime;
  /** The Swarm runtime's (swarm/host.ts), on the same Engine. */
  private readonly swarm: SwarmRuntime;
  /** The runs this control plane knows of (records.ts). */
  readonly records = new RunRegistry();
  /** cgroup2 id (the run's group's inode) -> run id, refreshed when an id is not in it. */
  private readonly byCgroupId = new Map<string, string>();
  private readonly workspaces: Workspaces;
  /** Host uids for runs, one per live run (uids.ts). */
  readonly uids: UidPool;

  private constructor(
    private readonly opts: SandboxOptions,
    /** Undefined with `problem` set when this host cannot confine runs. */
    readonly host: SandboxHost | undefined,
    readonly problem: string | undefined,
  ) {
    this.uids = new UidPool(join(opts.workspacesDir, '.uids'), opts.uids);
    this.workspaces = new Workspaces(opts);
    this.docker = new DockerRuntime({
      ...opts.docker,
      installation: opts.cgroupParent,
      dataDir: opts.dataDir,
    });
    this.swarm = new SwarmRuntime(this.docker);
  }

  /** Prepares the host. Never throws for an unusable host: health reports it and runs are refused. */
  static create(opts: SandboxOptions): SandboxService {
    const problem = hostProblem(opts);
    if (typeof problem === 'string') return new SandboxService(opts, undefined, problem);
    let seccomp: Buffer;
    try {
      seccomp = defaultSeccomp(dirname(fileURLToPath(import.meta.url)));
    } catch (e) {
      return new SandboxService(opts, undefined, messageOf(e));
    }
    const hidden = [...BUILTIN_HIDE, ...opts.hide, opts.dataDir, opts.workspacesDir, opts.evidenceDir];
    const hideDirs: string[] = [];
    const hideFiles: string[] = [];
    for (const p of new Set(hidden.map((h) => resolve(h)))) {
      // Only what is visible at all needs hiding: paths under the system directories bound in.
      if (!ROOT_DIRS.some((r) => p === r || p.startsWith(r + '/'))) continue;
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue;
      }
      if (st.isSymbolicLink()) continue; // its target is what is (or is not) visible
      (st.isDirectory() ? hideDirs : hideFiles).push(p);
    }
    return new SandboxService(
      opts,
      {
        bwrap: opts.bwrap,
        cgroups: problem,
        seccomp,
        hideDirs,
        hideFiles,
        graceMs: opts.gracePeriodMs,
      },
      undefined,
    );
  }

  health(): ComponentHealth {
    // Degraded, not failing: a control plane that is not a sandbox host still decides, issues and
    // audits; runs are refused here (RAMPART_E_SANDBOX_UNAVAILABLE) and this says why.
    if (this.problem) return { status: 'degraded', detail: `sandboxes cannot run here: ${this.problem}` };
    // AppArmor is said to be missing where it is, rather than claimed for container runs.
    const apparmor = existsSync('/sys/kernel/security/apparmor') ? 'available' : 'not available on this host';
    return {
      status: 'ok',
      detail: `${this.local.size} run(s) in this process, cgroup ${this.host!.cgroups.version}, AppArmor ${apparmor}`,
    };
  }

  /** A profile by name, as configured. */
  profile(name: string): SandboxProfile | undefined {
    return Object.hasOwn(this.opts.profiles, name) ? this.opts.profiles[name] : undefined;
  }

  profileNames(): string[] {
    return Object.keys(this.opts.profiles);
  }

  /** Turns a request into a full spec: profile, limits (never above the profile's), workspace. */
  prepare(req: RunRequest): RunSpec {
    if (!AGENT_RE.test(req.agent))
      throw new RampartError('RAMPART_E_RUN_INVALID', `invalid agent id "${req.agent}"`);
    if (req.id !== undefined && !RUN_ID_RE.test(req.id))
      throw new RampartError('RAMPART_E_RUN_INVALID', `invalid run id "${req.id}"`);
    if (req.command.length === 0) throw new RampartError('RAMPART_E_RUN_INVALID', 'no command to run');
    const name = req.profile ?? 'default';
    const profile = this.opts.profiles[name];
    if (!profile)
      throw new RampartError(
        'RAMPART_E_RUN_INVALID',
        `unknown profile "${name}" (known: ${this.profileNames().join(', ')})`,
      );
    // A caller may tighten a profile's limits, never loosen them.
    const cap = (asked: number | undefined, max: number, what: string): number => {
      if (asked === undefined) return max;
      if (!(asked > 0) || asked > max)
        throw new RampartError(
          'RAMPART_E_RUN_INVALID',
          `${what} ${asked} is above profile "${name}"'s ${max}`,
        );
      return asked;
    };
    const id = req.id ?? `run_${urandomHex(10)}`;
    const limits = {
      memory: cap(req.memoryBytes, profile.memoryBytes, 'memory'),
      pids: cap(req.pids, profile.pids, 'pids'),
      cpus: cap(req.cpus, profile.cpus, 'cpus'),
    };
    const timeoutMs = cap(
      req.timeoutMs,
      Math.min(profile.timeoutMs, this.opts.maxRunLifetimeMs),
      'timeout (ms)',
    );
    for (const d of profile.devices)
      if (!existsSync(d))
        throw new RampartError(
          'RAMPART_E_SANDBOX_UNAVAILABLE',
          `profile "${name}" needs ${d}, which this host does not have`,
        );
    // The run's own host uid, held until it ends: no other live run is ever this user.
    const runner = req.runner ?? processIdentity(process.pid);
    if (!runner) throw new TypeError('the runner process has no identity');
    const uid = this.uids.acquire(id, runner);
    let workspace: string;
    try {
      workspace = this.workspaces.workspaceFor(id, req.workspace, uid);
    } catch (e) {
      this.uids.release(uid);
      throw e;
    }
    return {
      id,
      agent: req.agent,
      command: req.command,
      workspace,
      uid,
      limits,
      timeoutMs,
      devices: profile.devices,
      readOnly: profile.readOnly,
      secrets: req.secrets ?? new Map(),
      ...(req.homeFiles ? { homeFiles: req.homeFiles } : {}),
      ...(req.token ? { token: req.token } : {}),
      env: req.env ?? {},
      stdio: req.stdio ?? 'pipe',
      ...(req.egress ? { egress: req.egress } : {}),
    };
  }

  /** A run's egress channel directory on the host (workspaces.ts). */
  channelDir(id: string): string {
    return this.workspaces.channelDir(id);
  }

  /** The egress bridge and Node preload a run with network binds in (workspaces.ts). */
  egressFiles(): { bridge: string; preload?: string } | { problem: string } {
    return this.workspaces.egressFiles();
  }

  /** Removes a run's channel directory (the socket is the proxy's to close). */
  removeChannelDir(id: string): void {
    this.workspaces.removeChannelDir(id);
  }

  /** Starts a run in this process. */
  async start(spec: RunSpec, seccompExtra: readonly string[] = []): Promise<RunningSandbox> {
    const host = this.requireHost();
    const h = seccompExtra.length > 0 ? { ...host, seccomp: compileSeccomp({ allow: seccompExtra }) } : host;
    const run = await RunningSandbox.start(h, spec);
    this.keep(run);
    return run;
  }

  /**
   * The container a run becomes on the Docker runtime, built before anything exists (so the
   * caller can put it through admission and on record first); see docker/host.ts.
   */
  dockerPlan(
    spec: RunSpec,
    image: string,
    opts: { seccompExtra?: readonly string[]; token: boolean },
  ): DockerPlan {
    return this.docker.plan(spec, image, opts);
  }

  /** The image's id if it is approved by digest (docker/host.ts). */
  approveImage(name: string): Promise<string> {
    return this.docker.approveImage(name);
  }

  /** Starts a planned container run: the same spec, limits, gate and lifecycle as a bubblewrap run. */
  async startDocker(
    spec: RunSpec,
    plan: DockerPlan,
    output?: Promise<{ stdout: Writable; stderr: Writable }>,
  ): Promise<DockerRun> {
    const host = this.requireHost();
    const docker = await this.docker.host();
    const run = await DockerRun.start(
      { ...docker, cgroups: host.cgroups, graceMs: host.graceMs },
      spec,
      plan.body,
      output,
    );
    this.keep(run);
    return run;
  }

  /**
   * The service a run becomes on the Swarm runtime (swarm/host.ts), planned before anything
   * exists. `bridge`: the bridge binary (egressFiles()), the task's gate whether or not the run
   * has network.
   */
  swarmPlan(
    spec: RunSpec,
    image: string,
    opts: { seccompExtra?: readonly string[]; token: boolean; bridge: string },
  ): Promise<SwarmPlan> {
    return this.swarm.plan(spec, image, opts);
  }

  /** Starts a planned service run: the same spec, limits, gate and lifecycle as any other run. */
  async startSwarm(
    spec: RunSpec,
    plan: SwarmPlan,
    output?: Promise<{ stdout: Writable; stderr: Writable }>,
  ): Promise<SwarmRun> {
    const host = this.requireHost();
    const swarm = await this.swarm.host();
    const run = await SwarmRun.start(
      { ...swarm, cgroups: host.cgroups, graceMs: host.graceMs },
      spec,
      plan.body,
      output,
    );
    this.keep(run);
    return run;
  }

  private keep(run: LocalRun): void {
    this.local.set(run.id, run);
    void run.done.finally(() => this.local.delete(run.id)).catch(() => undefined);
  }

  /** Syscalls a profile adds to the filter. */
  profileSyscalls(name: string): readonly string[] {
    return this.opts.profiles[name]?.syscalls ?? [];
  }

  /** Runs with a cgroup on this host, whoever started them. */
  running(): string[] {
    return this.host ? RunCgroup.list(this.host.cgroups) : [];
  }

  /** Ends a run: SIGTERM, then SIGKILL after the grace period (0: at once). */
  kill(id: string, graceMs = this.opts.gracePeriodMs): boolean {
    const local = this.local.get(id);
    if (local) {
      local.stop('killed', graceMs);
      return true;
    }
    const g = this.group(id);
    if (!g) return false;
    if (graceMs <= 0) g.killAll();
    else {
      g.signal('SIGTERM');
      setTimeout(() => g.killAll(), graceMs).unref();
    }
    return true;
  }

  /**
   * Freezes a run, captures evidence (processes, open files, connections, the workspace) into an
   * archive, then kills it. The workspace path comes from the caller (the control plane's record).
   */
  async quarantine(
    id: string,
    workspace: string | undefined,
    opts: { memory?: boolean } = {},
  ): Promise<Evidence | undefined> {
    const g = this.group(id);
    if (!g) return undefined;
    g.freeze();
    // Frozen, the run can do nothing while its evidence is read: no hurry, and no blocking.
    let evidence: Evidence;
    try {
      evidence = await captureEvidence({
        runId: id,
        cgroup: g,
        workspace,
        dir: this.opts.evidenceDir,
        limits: opts.memory === false ? { ...this.opts.evidence, maxMemoryBytes: 0 } : this.opts.evidence,
      });
    } finally {
      // Containment does not wait on the evidence: a capture that fails still ends the run.
      const local = this.local.get(id);
      if (local) local.stop('quarantined', 0);
      else g.killAll();
    }
    return evidence;
  }

  /**
   * Freezes a run's cgroup (every process stops where it is; nothing is lost, and thaw resumes
   * it). Resolves once the kernel reports the group frozen: false when the run has no cgroup here.
   */
  async freeze(id: string, timeoutMs = 2_000): Promise<boolean> {
    const g = this.group(id);
    if (!g) return false;
    const stuck = await g.freezeAndWait(timeoutMs);
    if (stuck)
      throw new Error(
        `run ${id} did not freeze within ${timeoutMs} ms; its tasks (state, kernel wait; __refrigerator is stopped): ${stuck}`,
      );
    return true;
  }

  /** Thaws a frozen run; false when it has no cgroup here. */
  thaw(id: string): boolean {
    const g = this.group(id);
    if (!g) return false;
    g.thaw();
    return true;
  }

  /** Whether the run's cgroup is frozen; undefined when it has none here. */
  frozen(id: string): boolean | undefined {
    return this.group(id)?.frozen();
  }

  /** The kill switch: every run on this host, SIGKILL, no grace. Returns the run ids. */
  destroyAll(): string[] {
    const ids = this.running();
    for (const id of ids) {
      const local = this.local.get(id);
      if (local) local.stop('killed', 0);
      else this.group(id)?.killAll();
    }
    return ids;
  }

  /** Keeps the kernel's freezer armed, so freezes and thaws are quick, until the returned call. */
  armFreezer(): () => void {
    return (this.host && RunCgroup.armFreezer(this.host.cgroups)) ?? (() => undefined);
  }

  /** Removes this installation's cgroup parent if no run is left in it (see RunCgroup). */
  removeParentIfEmpty(): void {
    if (this.host) RunCgroup.removeParentIfEmpty(this.host.cgroups);
  }

  /** This installation's cgroup parent (its runs, and no one else's). */
  get cgroupParent(): string {
    return this.opts.cgroupParent;
  }

  /**
   * Live runs of every Rampart installation on this host (each has its own cgroup parent, so the
   * commands above act on this installation's runs alone): `parent/run` for the operator's
   * --host-wide.
   */

  hostWide(): { parent: string; run: string }[] {
    if (!this.host) return [];
    return RunCgroup.installations(this.host.cgroups).flatMap((h) =>
      RunCgroup.list(h)
        .filter((run) => (RunCgroup.open(h, run)?.pids().length ?? 0) > 0)
        .map((run) => ({ parent: basename(Object.values(h.parents)[0]!), run })),
    );
  }

  /** The kill switch for the whole host: every run of every installation, SIGKILL at once. */
  destroyHostWide(): string[] {
    const mine = this.destroyAll();
    if (!this.host) return mine;
    const others: string[] = [];
    for (const h of RunCgroup.installations(this.host.cgroups)) {
      const parent = basename(Object.values(h.parents)[0]!);
      if (Object.values(h.parents)[0] === Object.values(this.host.cgroups.parents)[0]) continue;
      for (const run of RunCgroup.list(h)) {
        // A group left empty by a run that ended is not a run to count.
        const g = RunCgroup.open(h, run);
        if (!g || g.pids().length === 0) continue;
        g.killAll();
        others.push(`${parent}/${run}`);
      }
    }
    return [...mine, ...others];
  }

  private group(id: string): RunCgroup | undefined {
    if (!RUN_ID_RE.test(id)) return undefined;
    return this.host ? RunCgroup.open(this.host.cgroups, id) : undefined;
  }

  private requireHost(): SandboxHost {
    if (!this.host)
      throw new RampartError(
        'RAMPART_E_SANDBOX_UNAVAILABLE',
        `sandboxes cannot run on this host: ${this.problem}`,
      );
    return this.host;
  }

  /**
   * Kills whatever is left in a run's cgroup and removes the group (its runner is gone and will
   * not): every task, at once, then the directory once the kernel has reaped them.
   */
  sweep(id: string): void {
    // A container or service the runner made is left on the Engine: removed too (best effort).
    if (RUN_ID_RE.test(id)) void this.swarm.sweep(id, this.opts.cgroupParent).catch(() => undefined);
    const g = this.group(id);
    if (!g) return;
    g.killAll();
    const tryRemove = (left: number): void => {
      if (g.pids().length === 0 && g.remove()) return;
      if (left > 0) setTimeout(() => tryRemove(left - 1), 10).unref();
    };
    tryRemove(200);
  }

  /**
   * Every known run, newest first, with runs that have a cgroup here but no record (the control
   * plane restarted while they ran) as far as the cgroup tells (records.ts).
   */
  list(): RunRecord[] {
    return this.records.list(new Set(this.running()), (id) => this.local.has(id));
  }

  /** Waits for every run started here to end (shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.local.values()].map((r) => r.done));
  }

  /**
   * This installation's runs' cgroup2 parent, for kernel telemetry, or why there is none (no
   * sandbox host, or a v1 host without a cgroup2 mount).
   */
  telemetryTarget(): TelemetryTarget | string {
    if (!this.host) return 'this host runs no sandboxes';
    const dir = this.host.cgroups.parents['unified'];
    if (!dir) return 'cgroup v1 without a cgroup2 mount (/sys/fs/cgroup/unified): runs have no cgroup2 group';
    const root = this.host.cgroups.version === 'v2' ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
    return { name: basename(dir), dir, level: relative(root, dir).split('/').length };
  }

  /** The run whose cgroup2 group has this id (a directory's inode under the parent), if any. */
  runByCgroupId(id: string): { run: string; agent: string } | undefined {
    let run = this.byCgroupId.get(id);
    const dir = this.host?.cgroups.parents['unified'];
    if (run === undefined && dir) {
      this.byCgroupId.clear();
      try {
        for (const e of readdirSync(dir, { withFileTypes: true }))
          if (e.isDirectory()) this.byCgroupId.set(String(statSync(join(dir, e.name)).ino), e.name);
      } catch {
        // No parent (no run yet): nothing to name.
      }
      run = this.byCgroupId.get(id);
    }
    if (run === undefined) return undefined;
    return { run, agent: this.records.get(run)?.agent ?? '' };
  }
}

/** Why this host cannot confine runs, or the cgroup host when it can. */
function hostProblem(opts: SandboxOptions): CgroupHost | string {
  try {
    accessSync(opts.bwrap, constants.X_OK);
  } catch {
    return `bubblewrap not found at ${opts.bwrap} (install the bubblewrap package)`;
  }
  if (process.getuid?.() !== 0)
    return 'the control plane must run as root to manage cgroups and drop to a run uid';
  return detectCgroups(opts.cgroupParent);
}

export type { RunResult, RunSpec, Evidence, EgressChannel, SwarmPlan, RunRecord };

/** Where kernel telemetry finds this installation's runs: their cgroup2 parent group. */
export interface TelemetryTarget {
  /** The parent group's name (its directory's) and its depth below the cgroup2 root. */
  readonly name: string;
  readonly level: number;
  readonly dir: string;
}

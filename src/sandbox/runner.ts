// Runs one command under bubblewrap with the hardening baseline, inside its own cgroup, with
// secrets as files and a deadline.
//
// bwrap is started as the run's own unprivileged host user (from sandbox.uids, one per live run),
// never as root: inside, the command is uid/gid 1000 in a new user namespace, and to the host
// kernel it is that unprivileged user, so a root-owned 0600 file that happens to be visible stays
// unreadable, and another run's workspace (0700) and egress channel (0600) are a stranger's.
// (bwrap started by root maps the sandbox user onto root, and discretionary access checks would
// then let it read every root-owned file under the read-only root.)
//
// Start-up ordering, so no process of the run ever runs outside its cgroup: bwrap is started with
// its options to come on a pipe (--args), and it reads them before it does anything else. While it
// waits, Rampart moves it into the run's cgroup and then writes the options, so bwrap creates the
// sandbox from inside the cgroup: the command and all it forks are born there, and nothing has to
// be moved after it exists. bwrap builds the sandbox while the run is being recorded, and waits on
// --block-fd before it runs the command; Rampart releases it once the run is on record (the gate).
// The options (environment values, paths) also stay out of /proc/PID/cmdline, which every user
// on the host can read.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { RunCgroup, type CgroupHost, type CgroupStats, type Limits } from './cgroup.js';
import { gitClientEnv, type GitBinding } from '../core/claims.js';
import { messageOf } from '../core/errors.js';
import { FILES_ROOT, homePath, makeSecretsDir, runFiles, validSecretName } from './secretfiles.js';
import { bundleOnHost, SYSTEM_BUNDLE, trustEnv } from './trust.js';

export { validSecretName };

/** Environment variables copied from the caller when set: none can carry a secret. */
export const ENV_ALLOWLIST = ['TERM', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'COLORTERM', 'NO_COLOR'] as const;

export const SANDBOX_UID = 1000;
export const SANDBOX_GID = 1000;
export const SECRETS_DIR = '/run/secrets';
export const TOKEN_PATH = '/run/rampart/token';
export const WORKSPACE = '/workspace';
/** The run's egress channel directory inside (the proxy's socket for this run is in it). */
export const EGRESS_DIR = '/run/rampart/egress';
/** The socket's name in the channel directory. */
export const EGRESS_SOCKET = 'proxy.sock';
/** Where the bridge listens inside, on the sandbox's own loopback. */
export const EGRESS_PORT = 3128;
const EGRESS_PRELOAD = '/run/rampart/egress-preload.cjs';
/** The host directories a sandbox sees (read-only); everything else does not exist inside. */
// Not /var (service state, sockets, logs), not /sys (host hardware and cgroup layout): a program
// that needs either is given it explicitly by its profile's read_only list.
/** The run's home: a private tmpfs. */
export const HOME = '/home/agent';

export const ROOT_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/opt'];
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Where bwrap is and what every run on this host shares. */
export interface SandboxHost {
  readonly bwrap: string;
  readonly cgroups: CgroupHost;
  /** The compiled seccomp program. */
  readonly seccomp: Buffer;
  /** Directories hidden behind an empty read-only tmpfs (homes, data dir, other workspaces, ...). */
  readonly hideDirs: readonly string[];
  /** Files hidden behind /dev/null (sockets outside hidden directories). */
  readonly hideFiles: readonly string[];
  /** SIGTERM → SIGKILL grace at the deadline or on kill. */
  readonly graceMs: number;
}

export interface RunSpec {
  readonly id: string;
  readonly agent: string;
  readonly command: readonly string[];
  /** Host directory bound read-write at /workspace (owned by the run's uid, mode 0700). */
  readonly workspace: string;
  /** The run's own host uid (and gid): bwrap runs as it; no other live run shares it. */
  readonly uid: number;
  readonly limits: Limits;
  readonly timeoutMs: number;
  /** Devices passed through (only /dev/kvm and /dev/net/tun are accepted by profiles). */
  readonly devices: readonly string[];
  /** Extra read-only binds (host path → same path inside). */
  readonly readOnly: readonly string[];
  /** Secret files under /run/secrets (mode 0400, owned by the sandbox user). */
  readonly secrets: ReadonlyMap<string, Buffer>;
  /** Files planted in the run's home (honeytokens), by path under it (mode 0600). */
  readonly homeFiles?: ReadonlyMap<string, Buffer>;
  /** The workload token, written to /run/rampart/token (a promise: written when it arrives). */
  readonly token?: Buffer | Promise<Buffer>;
  /**
   * The command does not start until this resolves (bwrap waits on --block-fd meanwhile), and the
   * run is torn down if it rejects: `rampart run` sets up the sandbox while the control plane
   * records the run, and never runs anything that is not on record.
   */
  readonly gate?: Promise<unknown>;
  /** Non-secret variables set inside, on top of the allow-list. */
  readonly env: Readonly<Record<string, string>>;
  /** The repository and task the run is bound to: its git reaches the gate for them. */
  readonly git?: GitBinding;
  /**
   * The run's egress channel: a host directory (bound at /run/rampart/egress) where the proxy
   * listens for this run alone, and a Node preload that makes fetch() use the proxy. Without it
   * the run has no network at all.
   */
  readonly egress?: EgressChannel;
  readonly stdio: 'inherit' | 'pipe';
}

export interface EgressChannel {
  readonly dir: string;
  /**
   * The bridge binary (dist/rampart-bridge): it listens on 127.0.0.1:EGRESS_PORT inside and
   * then becomes the command, relaying every connection to the channel's socket.
   */
  readonly bridge: string;
  /** A bundled script that sets undici's global dispatcher from HTTP(S)_PROXY (Node's fetch). */
  readonly preload?: string;
  /** The egress CA is in the channel directory (trust.ts): the run trusts inspected hosts' leaves. */
  readonly trust?: boolean;
}

/** Where the egress bridge (src/sandbox/bridge.c) is bound inside. */
const EGRESS_BRIDGE = '/run/rampart/bridge';

export type EndReason = 'exited' | 'timeout' | 'killed' | 'quarantined' | 'error';

export interface RunResult {
  readonly id: string;
  /** Exit code, or null when ended by a signal. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly reason: EndReason;
  readonly durationMs: number;
  readonly stats: CgroupStats;
  /**
   * Processes of the run still alive when its command had exited (a daemon left to outlive the
   * run), counted before they were killed: a detection (process-left-behind).
   */
  readonly leftover?: number;
}

export class SandboxStartError extends Error {
  override readonly name = 'SandboxStartError';
}

/** File descriptors bwrap is given: the seccomp program, its options, the gate, then one per file. */
const FD_SECCOMP = 3;
const FD_ARGS = 4;
const FD_BLOCK = 5;
const FD_FILES = 6;

/**
 * What bwrap is told for a run: its options (sent on FD_ARGS, NUL-separated), the command line
 * after `--` (argv), and the contents of the files it writes (FD_FILES onwards).
 */
export function bwrapArgs(
  host: SandboxHost,
  spec: RunSpec,
): { options: string[]; command: string[]; files: (Buffer | Promise<Buffer>)[] } {
  const a: string[] = [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-net',
    '--unshare-cgroup-try',
    '--uid',
    String(SANDBOX_UID),
    '--gid',
    String(SANDBOX_GID),
    '--hostname',
    'sandbox',
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
  ];
  // The root is a fresh tmpfs with only the system directories on it, read-only: no /home,
  // /root, /srv, /mnt, /media, /work or wherever else users and data live.
  for (const d of ROOT_DIRS) a.push('--ro-bind-try', d, d);
  for (const d of host.hideDirs) a.push('--tmpfs', d, '--remount-ro', d);
  for (const f of host.hideFiles) a.push('--ro-bind', '/dev/null', f);
  for (const d of spec.devices) a.push('--dev-bind', d, d);
  a.push('--tmpfs', '/tmp');
  // A home of the run's own: empty, writable, private (a tmpfs gone with the run). Agents write
  // their configuration there, and some refuse a home under /tmp (Codex will not put its
  // helpers in a temporary directory).
  a.push('--perms', '0700', '--tmpfs', HOME);
  const files: (Buffer | Promise<Buffer>)[] = [];
  const dirs = new Set<string>();
  for (const [path, content] of spec.homeFiles ?? []) {
    const parts = homePath(path);
    for (let i = 1; i < parts.length; i++) {
      const d = `${HOME}/${parts.slice(0, i).join('/')}`;
      if (!dirs.has(d)) a.push('--perms', '0700', '--dir', d);
      dirs.add(d);
    }
    a.push('--perms', '0600', '--file', String(FD_FILES + files.length), `${HOME}/${path}`);
    files.push(content);
  }
  // After the tmpfs mounts, so a profile's read-only path under /tmp is not covered by the run's
  // own /tmp (bwrap applies its options in order).
  for (const p of spec.readOnly) a.push('--ro-bind', p, p);
  a.push('--bind', spec.workspace, WORKSPACE, '--chdir', WORKSPACE);
  // /run exists only when there is something to put in it: a fresh tmpfs (no host socket can
  // be there) holding the secrets and the token as files, then made read-only.
  const hasRun = spec.secrets.size > 0 || spec.token !== undefined || spec.egress !== undefined;
  if (hasRun) a.push('--tmpfs', '/run');
  // The secrets: the host directory start() filled (secretfiles.ts), bound read-only, so a
  // renewed or rotated value can replace its file while the run goes on.
  if (spec.secrets.size > 0) a.push('--ro-bind', runFiles(FILES_ROOT, spec.id).secrets, SECRETS_DIR);
  if (spec.token || spec.egress) a.push('--dir', '/run/rampart');
  if (spec.token) {
    a.push('--perms', '0400', '--file', String(FD_FILES + files.length), TOKEN_PATH);
    files.push(spec.token);
  }
  if (spec.egress) {
    // Read-only: the agent may connect to the socket, never replace it.
    a.push('--ro-bind', spec.egress.dir, EGRESS_DIR, '--ro-bind', spec.egress.bridge, EGRESS_BRIDGE);
    if (spec.egress.preload) a.push('--ro-bind', spec.egress.preload, EGRESS_PRELOAD);
    if (spec.egress.trust && existsSync(SYSTEM_BUNDLE))
      a.push('--ro-bind', bundleOnHost(spec.egress.dir), SYSTEM_BUNDLE);
  }
  if (hasRun) a.push('--remount-ro', '/run');
  a.push('--remount-ro', '/');
  // The environment: bwrap itself starts with none, so /proc/1/environ is empty; the command
  // gets exactly this.
  const env = runEnv(spec, spec.token !== undefined, spec.egress?.preload ? EGRESS_PRELOAD : undefined);
  for (const [k, v] of Object.entries(env)) a.push('--setenv', k, v);
  a.push('--seccomp', String(FD_SECCOMP), '--block-fd', String(FD_BLOCK));
  for (const o of a) if (o.includes('\0')) throw new TypeError('a sandbox option contains a NUL character');
  const wrapper = spec.egress
    ? [EGRESS_BRIDGE, String(EGRESS_PORT), `${EGRESS_DIR}/${EGRESS_SOCKET}`, '--']
    : [];
  return { options: a, command: [...wrapper, ...spec.command], files };
}

/**
 * A run's environment, on every runtime: where its files are, the proxy when it has a channel
 * (and Node's preload for fetch, where bound), the caller's harmless variables, the spec's own.
 */
export function runEnv(spec: RunSpec, token: boolean, preload?: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: DEFAULT_PATH,
    HOME,
    USER: 'agent',
    RAMPART_RUN_ID: spec.id,
    RAMPART_AGENT: spec.agent,
    ...(token ? { RAMPART_TOKEN_FILE: TOKEN_PATH } : {}),
    ...(spec.secrets.size > 0 ? { RAMPART_SECRETS_DIR: SECRETS_DIR } : {}),
  };
  if (spec.egress) {
    const proxy = `http://127.0.0.1:${EGRESS_PORT}`;
    // Both spellings: curl and Python read the lower-case ones, most other tools either.
    for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY', 'all_proxy'])
      env[k] = proxy;
    if (preload) env['NODE_OPTIONS'] = `--require ${preload}`;
    if (spec.git && token) Object.assign(env, gitClientEnv(spec.git, TOKEN_PATH));
    if (spec.egress.trust) Object.assign(env, trustEnv(EGRESS_DIR));
  }
  for (const k of ENV_ALLOWLIST) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return Object.assign(env, spec.env);
}

/**
 * Ends a run's processes: SIGTERM to every one, SIGKILL to all after the grace period (or at
 * once when `graceMs` is 0). Returns the grace timer (kept by the caller, set once).
 */
export function endGroup(
  cgroup: RunCgroup,
  graceMs: number,
  timer: NodeJS.Timeout | undefined,
): NodeJS.Timeout | undefined {
  if (graceMs <= 0) {
    cgroup.killAll();
    return timer;
  }
  cgroup.signal('SIGTERM');
  return timer ?? setTimeout(() => cgroup.killAll(), graceMs);
}

/** A run in progress. */
export class RunningSandbox {
  // process.hrtime, not performance.now(): the perf_hooks module costs `rampart run` a millisecond to load.
  readonly startedAt = monotonicMs();
  private endReason: EndReason = 'exited';
  private deadline: NodeJS.Timeout | undefined;
  /**
   * Settles once the run's cgroup is removed, after `done` (a process that exits right after a
   * run waits for this, or the group is left behind).
   */
  cleaned: Promise<void> = Promise.resolve();
  private graceTimer: NodeJS.Timeout | undefined;
  readonly done: Promise<RunResult>;

  private constructor(
    readonly id: string,
    readonly child: ChildProcess,
    readonly cgroup: RunCgroup,
    private readonly host: SandboxHost,
    started: Promise<void>,
    timeoutMs: number,
  ) {
    this.done = this.finish(started, timeoutMs);
  }

  /** Starts the run; resolves once the gate has opened and the command may run. */
  static async start(host: SandboxHost, spec: RunSpec): Promise<RunningSandbox> {
    const cgroup = RunCgroup.create(host.cgroups, spec.id, spec.limits);
    const files = runFiles(FILES_ROOT, spec.id);
    let child: ChildProcess;
    let options: string[];
    try {
      if (spec.secrets.size > 0) {
        mkdirSync(files.dir, { mode: 0o711 });
        makeSecretsDir(files.secrets, spec.uid, spec.secrets);
      }
      const built = bwrapArgs(host, spec);
      options = built.options;
      // Devices are checked by group: the sandbox process takes the device's group (kvm).
      let gid = spec.uid;
      for (const d of spec.devices) gid = statSync(d).gid;
      const io = spec.stdio === 'inherit' ? 'inherit' : 'pipe';
      child = spawn(host.bwrap, ['--args', String(FD_ARGS), '--', ...built.command], {
        env: {},
        uid: spec.uid,
        gid,
        stdio: [io, io, io, 'pipe', 'pipe', 'pipe', ...built.files.map(() => 'pipe' as const)],
      });
      const pipes = child.stdio as unknown as Writable[];
      // bwrap closes these early when it fails; that is reported by its exit, not as a crash here.
      for (let i = FD_SECCOMP; i < pipes.length; i++) pipes[i]!.on('error', () => undefined);
      pipes[FD_SECCOMP]!.end(host.seccomp);
      built.files.forEach((f, i) => {
        const pipe = pipes[FD_FILES + i]!;
        if (Buffer.isBuffer(f)) pipe.end(f);
        else void f.then((b) => pipe.end(b)).catch(() => pipe.destroy());
      });
    } catch (e) {
      rmSync(files.dir, { recursive: true, force: true });
      cgroup.remove();
      throw e;
    }
    const started = new Promise<void>((resolve, reject) => {
      child.once('error', (e) => reject(new SandboxStartError(`cannot start bwrap: ${e.message}`)));
      child.once('exit', () => reject(new SandboxStartError('bwrap exited before the command started')));
      if (child.pid === undefined) return; // the 'error' event follows
      // bwrap is blocked reading its options: it has no child yet, and will have none before it
      // is in the run's cgroup.
      try {
        cgroup.add([child.pid]);
      } catch (e) {
        child.kill('SIGKILL');
        reject(new SandboxStartError(`could not place run ${spec.id} in its cgroup: ${messageOf(e)}`));
        return;
      }
      const pipes = child.stdio as unknown as Writable[];
      pipes[FD_ARGS]!.end(options.map((o) => o + '\0').join(''));
      Promise.all([spec.gate, spec.token]).then(
        () => {
          pipes[FD_BLOCK]!.end('1');
          resolve();
        },
        (e: unknown) => {
          child.kill('SIGKILL');
          reject(e instanceof Error ? e : new SandboxStartError(String(e)));
        },
      );
    });
    const run = new RunningSandbox(spec.id, child, cgroup, host, started, spec.timeoutMs);
    try {
      await started;
    } catch (e) {
      await run.done.catch(() => undefined); // cleans up the cgroup; the error is `e`
      throw e;
    }
    return run;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /**
   * Ends the run: SIGTERM to every process, SIGKILL to all after the grace period (or at once
   * when `graceMs` is 0).
   */
  stop(reason: EndReason, graceMs = this.host.graceMs): void {
    if (this.endReason === 'exited') this.endReason = reason;
    this.graceTimer = endGroup(this.cgroup, graceMs, this.graceTimer);
  }

  private async finish(started: Promise<void>, timeoutMs: number): Promise<RunResult> {
    let startError: Error | undefined;
    try {
      await started;
      this.deadline = setTimeout(() => this.stop('timeout'), timeoutMs);
    } catch (e) {
      startError = e instanceof Error ? e : new SandboxStartError(String(e));
      this.endReason = 'error';
    }
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        resolve([this.child.exitCode, this.child.signalCode]);
      else this.child.once('exit', (c, s) => resolve([c, s]));
    });
    clearTimeout(this.deadline);
    clearTimeout(this.graceTimer);
    // bwrap's pid 1 takes the namespace down with it; anything that escaped into the cgroup by
    // other means is killed here. No process of a run survives its end: the run is over once no
    // task in its group can run again. bwrap's outer process exits as soon as it has the
    // command's status, often while its pid 1 is still being torn down; a task in the exit path
    // is not waited for here, and the group is removed once the kernel has reaped it.
    // Rampart's own processes are no leftovers: bwrap's, and the egress bridge's relay (which
    // outlives the command by design). Told apart by the executable, which a process cannot rename.
    const leftover = this.cgroup.liveTasks().filter((t) => !RAMPART_EXES.test(exeOf(t.pid))).length;
    await sweep(this.cgroup);
    // The secret files go with the run (nothing of it can read them any more).
    rmSync(runFiles(FILES_ROOT, this.id).dir, { recursive: true, force: true });
    const stats = this.cgroup.stats();
    this.cleaned = removeWhenEmpty(this.cgroup);
    if (startError) throw startError;
    // bwrap reports a command killed by signal N as exit 128+N.
    const bySignal = signal === null && code !== null && code > 128 && code < 160;
    return {
      id: this.id,
      exitCode: bySignal ? null : code,
      signal: signal ?? (bySignal ? signalName(code - 128) : null),
      reason: this.endReason,
      durationMs: monotonicMs() - this.startedAt,
      stats,
      leftover,
    };
  }
}

/** The executables of Rampart's own processes in a run: bubblewrap and the egress bridge. */
const RAMPART_EXES = /(?:^|\/)(?:bwrap|rampart\/bridge)$/;

function exeOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
}

const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** The wait before poll number `i`: the next turn of the event loop at first, then 2 ms. */
const pause = (i: number): Promise<void> =>
  new Promise((r) => (i < 100 ? setImmediate(r) : setTimeout(r, 2)));

/**
 * Kills every task of the group that can still run, until none can: polled on the next turn of
 * the event loop at first (a straggler usually dies within microseconds of its SIGKILL), then
 * every 2 ms, for about a second. While bwrap's own init is still finishing its exit after the
 * command has ended, the group gets a few turns first: when the init exits, the kernel kills
 * everything left in the sandbox's pid namespace, which is cheaper than freezing and killing
 * it here. After those turns, or with no bwrap process left, everything still able to run is
 * killed. (A process that names itself "bwrap" buys the group those few turns, no more.)
 */
async function sweep(cgroup: RunCgroup): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const live = cgroup.liveTasks();
    if (live.length === 0) return;
    if (i >= BWRAP_EXIT_TURNS || !live.some((t) => t.comm === 'bwrap')) cgroup.killAll();
    await pause(i);
  }
}

/** Turns of the event loop bwrap's init gets to exit by itself after the command has. */
const BWRAP_EXIT_TURNS = 20;

/** Removes the group once its last (exiting) tasks are reaped; gives up after about 2 s. */
async function removeWhenEmpty(cgroup: RunCgroup): Promise<void> {
  for (let i = 0; i < 1100; i++) {
    if (cgroup.pids().length === 0 && cgroup.remove()) return;
    await pause(i);
  }
}

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  6: 'SIGABRT',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  13: 'SIGPIPE',
  15: 'SIGTERM',
  31: 'SIGSYS',
};
export function signalName(n: number): string {
  return SIGNALS[n] ?? `SIG${n}`;
}

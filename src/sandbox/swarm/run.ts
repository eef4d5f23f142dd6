// A run on the Swarm runtime: a one-replica service, its task held at a gate until Rampart, on
// the node, has checked it and put it where every other run is.
//
// Order, so nothing runs off the record, outside its limits or without the baseline:
//  1. the run's cgroup (with its limits), its files on a tmpfs (the token, empty until it
//     arrives, and the gate, a named pipe), its Swarm secrets and its own internal network;
//  2. the service; its task's process starts at the gate (the bridge, waiting on the pipe);
//  3. Rampart attaches to the task's output, then reads the process from the host: the run's uid,
//     no-new-privileges, a seccomp filter, no capabilities (what the node's daemon defaults must
//     give, since the service API cannot say it; a process without them is never released);
//  4. the profile's devices are allowed in the task's device group, the process joins the run's
//     cgroup (so kill, freeze, quarantine and the kill switch reach it as any run), and once the
//     run is on record and its token written, the gate opens.
// At the end the service, the network and the secrets are removed, and the files with them.

import {
  chownSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { PassThrough, Writable } from 'node:stream';
import { RampartError } from '../../core/errors.js';
import { RunCgroup, type CgroupHost } from '../cgroup.js';
import { runFiles } from '../secretfiles.js';
import { attachOutput, exitResult } from '../docker/common.js';
import type { Engine } from '../docker/engine.js';
import {
  endGroup,
  SandboxStartError,
  validSecretName,
  type EndReason,
  type RunResult,
  type RunSpec,
} from '../runner.js';
import { networkSpec, secretSpec, serviceName, type RunSecret } from './spec.js';

/** What every Swarm run on this node shares. */
export interface SwarmHost {
  readonly engine: Engine;
  readonly cgroups: CgroupHost;
  readonly installation: string;
  readonly graceMs: number;
  /** A tmpfs directory for runs' tokens and gates. */
  readonly filesRoot: string;
  /** The body as sent: signed with the provisioning key when there is one (docker/host.ts). */
  readonly sign: (
    body: Record<string, unknown>,
    labels: Record<string, string>,
  ) => Buffer | Record<string, unknown>;
  /** How long a task may take to reach its gate (image on the node, network, secrets). */
  readonly startTimeoutMs: number;
}

interface Task {
  Status?: {
    State?: string;
    Err?: string;
    Message?: string;
    ContainerStatus?: { ContainerID?: string; PID?: number };
  };
}

/** Task states after which it will never run. */
const FINAL = new Set(['complete', 'failed', 'shutdown', 'rejected', 'orphaned', 'remove']);

export class SwarmRun {
  readonly startedAt = monotonicMs();
  private endReason: EndReason = 'exited';
  private deadline: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  cleaned: Promise<void> = Promise.resolve();
  readonly done: Promise<RunResult>;
  stdout: PassThrough | undefined;
  stderr: PassThrough | undefined;

  private constructor(
    readonly id: string,
    readonly container: string,
    readonly cgroup: RunCgroup,
    private readonly host: SwarmHost,
    private readonly undo: () => Promise<void>,
    started: Promise<void>,
    output: Promise<void>,
    timeoutMs: number,
  ) {
    this.done = this.finish(started, output, timeoutMs);
  }

  /** Creates the run's secrets, network and service, and releases its task once it is checked. */
  static async start(
    host: SwarmHost,
    spec: RunSpec,
    body: Record<string, unknown>,
    output?: Promise<{ stdout: Writable; stderr: Writable }>,
  ): Promise<SwarmRun> {
    const { engine } = host;
    const cgroup = RunCgroup.create(host.cgroups, spec.id, spec.limits);
    const files = runFiles(host.filesRoot, spec.id);
    const gate = join(files.dir, 'gate');
    const made: { secrets: string[]; network?: string; service?: string; container?: string } = {
      secrets: [],
    };
    const undo = (): Promise<void> =>
      removeAll(engine, made, () => rmSync(files.dir, { recursive: true, force: true }));
    try {
      mkdirSync(files.dir, { mode: 0o700 });
      // The task's process (the run's uid) reads the gate; only Rampart (root) writes it.
      execFileSync('mkfifo', ['-m', '0400', '--', gate]);
      chownSync(gate, spec.uid, spec.uid);
      if (spec.token) {
        writeFileSync(files.token, '', { mode: 0o400 });
        chownSync(files.token, spec.uid, spec.uid);
      }
      chownSync(files.dir, spec.uid, spec.uid);
      const secrets: RunSecret[] = [];
      for (const [file, data] of spec.secrets) {
        if (!validSecretName(file)) throw new TypeError(`invalid secret name "${file}"`);
        const s = secretSpec(spec.id, file, data, host.installation);
        const { ID } = await engine.expect<{ ID: string }>([201], 'POST', '/secrets/create', s);
        made.secrets.push(ID);
        secrets.push({ id: ID, name: s['Name'] as string, file });
      }
      const net = await engine.expect<{ Id: string }>(
        [201],
        'POST',
        '/networks/create',
        networkSpec(spec.id, host.installation),
      );
      made.network = net.Id;
      const signed = withIds(body, secrets, net.Id);
      const svc = await engine.expect<{ ID: string }>(
        [201],
        'POST',
        '/services/create',
        host.sign(signed, signed['Labels'] as Record<string, string>),
      );
      made.service = svc.ID;
      const task = await reachGate(engine, serviceName(spec.id), host.startTimeoutMs);
      made.container = task.container;
      const attached = await attachOutput(engine, task.container, spec, output);
      verifyProcess(task.pid, spec.uid);
      for (const d of spec.devices) allowDevice(task.pid, d);
      cgroup.add([task.pid]);
      const started = (async () => {
        const [, tok] = await Promise.all([spec.gate, spec.token]);
        if (spec.token && tok) writeFileSync(files.token, tok);
        release(gate);
      })();
      const run = new SwarmRun(
        spec.id,
        task.container,
        cgroup,
        host,
        undo,
        started,
        attached.ended,
        spec.timeoutMs,
      );
      run.stdout = attached.stdout;
      run.stderr = attached.stderr;
      try {
        await started;
      } catch (e) {
        await run.done.catch(() => undefined);
        throw e instanceof Error ? e : new SandboxStartError(String(e));
      }
      return run;
    } catch (e) {
      await undo();
      cgroup.killAll();
      cgroup.remove();
      throw e;
    }
  }

  /** SIGTERM to every process of the run, SIGKILL after the grace period (0: at once). */
  stop(reason: EndReason, graceMs = this.host.graceMs): void {
    if (this.endReason === 'exited') this.endReason = reason;
    this.graceTimer = endGroup(this.cgroup, graceMs, this.graceTimer);
  }

  private async finish(started: Promise<void>, output: Promise<void>, timeoutMs: number): Promise<RunResult> {
    let startError: Error | undefined;
    let code: number | null = null;
    try {
      await started;
      this.deadline = setTimeout(() => this.stop('timeout'), timeoutMs);
      const w = await this.host.engine.expect<{ StatusCode: number }>(
        [200],
        'POST',
        `/containers/${this.container}/wait`,
        undefined,
        { timeoutMs: null },
      );
      code = w.StatusCode;
      await output;
    } catch (e) {
      startError = e instanceof Error ? e : new SandboxStartError(String(e));
      this.endReason = 'error';
    }
    clearTimeout(this.deadline);
    clearTimeout(this.graceTimer);
    if (this.cgroup.pids().length > 0) this.cgroup.killAll();
    // The task's process is in the run's group since before it ran: its counters are the run's.
    const own = this.cgroup.stats();
    const stats = {
      peakMemory: own.peakMemory,
      cpuMicros: own.cpuMicros,
      oomKilled: own.oomKilled,
      memoryLimitHit: own.memoryLimitHit || own.oomKilled,
      pidsLimitHit: own.pidsLimitHit,
    };
    this.cleaned = (async () => {
      await this.undo();
      for (let i = 0; i < 1000 && !(this.cgroup.pids().length === 0 && this.cgroup.remove()); i++)
        await new Promise((r) => setTimeout(r, 2));
    })();
    if (startError) {
      await this.cleaned;
      throw startError;
    }
    return exitResult(this.id, code, this.endReason, monotonicMs() - this.startedAt, stats);
  }
}

/** The plan's body with the ids the Engine gave the run's secrets and network. */
function withIds(
  body: Record<string, unknown>,
  secrets: readonly RunSecret[],
  network: string,
): Record<string, unknown> {
  const tt = body['TaskTemplate'] as Record<string, unknown>;
  const cs = tt['ContainerSpec'] as Record<string, unknown>;
  const byName = new Map(secrets.map((s) => [s.name, s.id]));
  return {
    ...body,
    TaskTemplate: {
      ...tt,
      Networks: [{ Target: network }],
      ContainerSpec: {
        ...cs,
        Secrets: (cs['Secrets'] as { SecretName: string }[]).map((s) => ({
          ...s,
          SecretID: byName.get(s.SecretName),
        })),
      },
    },
  };
}

/** Waits for the service's task to be running (its process at the gate); its container and pid. */
async function reachGate(
  engine: Engine,
  service: string,
  timeoutMs: number,
): Promise<{ container: string; pid: number }> {
  const filter = encodeURIComponent(JSON.stringify({ service: [service] }));
  const until = Date.now() + timeoutMs;
  let last = 'no task yet';
  for (let wait = 5; Date.now() < until; wait = Math.min(wait * 2, 100)) {
    const tasks = await engine.expect<Task[]>([200], 'GET', `/tasks?filters=${filter}`);
    const t = tasks[0]?.Status;
    if (t) {
      last = `${t.State ?? '?'}${t.Err ? `: ${t.Err}` : t.Message ? ` (${t.Message})` : ''}`;
      const c = t.ContainerStatus;
      if (t.State === 'running' && c?.ContainerID && c.PID) return { container: c.ContainerID, pid: c.PID };
      if (t.State && FINAL.has(t.State))
        throw new RampartError('RAMPART_E_RUNTIME', `the run's Swarm task did not start: ${last}`);
    }
    await new Promise((r) => setTimeout(r, wait));
  }
  throw new RampartError(
    'RAMPART_E_RUNTIME',
    `the run's Swarm task did not start in ${timeoutMs} ms: ${last}`,
  );
}

/**
 * What the service API cannot set, read off the task's process by the host's kernel: a process
 * that is not the run's uid, or has capabilities, privileges to gain or no seccomp filter, is
 * never released. (The node's daemon.json must set no-new-privileges and Rampart's seccomp
 * profile; the runtime checks the profile before it starts a service, and this checks the rest.)
 */
export function verifyProcess(pid: number, uid: number): void {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    throw new RampartError('RAMPART_E_RUNTIME', `the run's task process ${pid} is not on this host`);
  }
  const field = (name: string): string =>
    new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
  const wrong: string[] = [];
  if (
    !field('Uid')
      .split(/\s+/)
      .every((u) => u === String(uid))
  )
    wrong.push(`runs as uid ${field('Uid')}, not ${uid}`);
  if (field('NoNewPrivs') !== '1')
    wrong.push('may gain privileges (set "no-new-privileges": true in the node\'s daemon.json)');
  if (field('Seccomp') !== '2')
    wrong.push('has no seccomp filter (set "seccomp-profile" in the node\'s daemon.json)');
  for (const cap of ['CapEff', 'CapPrm', 'CapAmb'])
    if (!/^0+$/.test(field(cap))) wrong.push(`has capabilities (${cap} ${field(cap)})`);
  if (wrong.length > 0)
    throw new RampartError(
      'RAMPART_E_RUNTIME',
      `the run's Swarm task is not confined: it ${wrong.join('; ')}`,
    );
}

/** Allows a device (by its number) in the device group of the task's process (cgroup v1). */
function allowDevice(pid: number, device: string): void {
  const rdev = statSync(device).rdev;
  const major = (rdev >> 8) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => /^\d+:([^:]*,)?devices(,[^:]*)?:/.test(l));
  if (!line)
    throw new RampartError(
      'RAMPART_E_RUNTIME',
      `cannot give the run ${device}: no device cgroup (v1) on this host`,
    );
  const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
  writeFileSync(join('/sys/fs/cgroup/devices', path, 'devices.allow'), `c ${major}:${minor} rw`);
}

/** Opens the gate: "G" down the pipe the task's process is waiting on. */
function release(gate: string): void {
  let fd: number;
  try {
    // Non-blocking: the reader is waiting (or about to be); no reader at all is an error, not a hang.
    fd = openSync(gate, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new RampartError(
      'RAMPART_E_RUNTIME',
      `the run's task is not at its gate (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  try {
    writeSync(fd, 'G');
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes what a run made in the swarm: the service first (its task's container goes with it),
 * then the network and secrets, which the Engine refuses while a task still holds them.
 */
export async function removeAll(
  engine: Engine,
  made: { secrets: string[]; network?: string; service?: string; container?: string },
  files: () => void,
): Promise<void> {
  if (made.service) await engine.call('DELETE', `/services/${made.service}`).catch(() => undefined);
  files();
  // The swarm forgets the network at once, the node only once the task's container is gone,
  // which the swarm's own reaper takes seconds to do: removed here (the run is over).
  if (made.container) {
    await engine.call('DELETE', `/containers/${made.container}?force=1&v=1`).catch(() => undefined);
    await gone(engine, `/containers/${made.container}/json`);
  }
  const left = [
    ...(made.network ? [`/networks/${made.network}`] : []),
    ...made.secrets.map((s) => `/secrets/${s}`),
  ];
  for (let wait = 5, t = 0; left.length > 0 && t < 30_000; t += wait, wait = Math.min(wait * 2, 200)) {
    for (const path of [...left]) {
      const r = await engine.call('DELETE', path).catch(() => ({ status: 0 }));
      if (r.status === 204 || r.status === 200 || r.status === 404) left.splice(left.indexOf(path), 1);
    }
    if (left.length > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

/** Waits (bounded) until the Engine answers 404 for `path`. */
async function gone(engine: Engine, path: string): Promise<void> {
  for (let wait = 5, t = 0; t < 30_000; t += wait, wait = Math.min(wait * 2, 200)) {
    const r = await engine.call('GET', path).catch(() => ({ status: 0 }));
    if (r.status === 404) return;
    await new Promise((r) => setTimeout(r, wait));
  }
}

const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

// A run on the Docker runtime: the container's lifecycle through the Engine API.
//
// Order, so nothing runs off the record or outside its limits: the run's cgroup is made first
// (with the profile's limits), and the container is created with it as CgroupParent; its output
// is attached before it starts; it starts only once the gate (the control plane's record) has
// opened and the token is written. Deadline, kill and the kill switch act on the run's cgroup,
// exactly as for a bubblewrap run (the container's processes are in a group below it), so a run
// started by `rampart run` in one process is ended from the control plane in another.
//
// Secrets and the token are files on a tmpfs of the host (never the environment, never disk),
// mode 0400 and owned by the run's uid, bound read-only into the container, and removed with it.

import { chownSync, mkdirSync, readdirSync, rmdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { messageOf } from '../../core/errors.js';
import { RunCgroup, type CgroupHost } from '../cgroup.js';
import type { PassThrough, Writable } from 'node:stream';
import { endGroup, SandboxStartError, type EndReason, type RunResult, type RunSpec } from '../runner.js';
import { makeHomeFiles, makeSecretsDir, runFiles } from '../secretfiles.js';
import { attachOutput, exitResult } from './common.js';
import type { Engine } from './engine.js';

/** What every Docker run on this host shares. */
export interface DockerHost {
  readonly engine: Engine;
  readonly cgroups: CgroupHost;
  /** The installation's cgroup parent's name (rampart-...). */
  readonly installation: string;
  readonly graceMs: number;
  /** A tmpfs directory where runs' secret and token files are kept while they run. */
  readonly filesRoot: string;
  /** The body as sent: signed with the provisioning key when there is one (labels: where). */
  readonly sign: (
    body: Record<string, unknown>,
    labels: Record<string, string>,
  ) => Buffer | Record<string, unknown>;
}

const TMPFS_MAGIC = 0x01021994;

/** How often a run's limit counters are read while it lives (see finish). */
const SAMPLE_MS = 100;

/** Whether `dir` is on a tmpfs (secrets never touch a disk). */
export function onTmpfs(dir: string): boolean {
  try {
    return statfsSync(dir).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

export class DockerRun {
  readonly startedAt = monotonicMs();
  private endReason: EndReason = 'exited';
  private deadline: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private sampler: NodeJS.Timeout | undefined;
  private seen = { oomKilled: false, memoryLimitHit: false, pidsLimitHit: false };
  cleaned: Promise<void> = Promise.resolve();
  readonly done: Promise<RunResult>;
  /** The run's output when its spec asked for pipes. */
  stdout: PassThrough | undefined;
  stderr: PassThrough | undefined;

  private constructor(
    readonly id: string,
    readonly container: string,
    readonly cgroup: RunCgroup,
    private readonly host: DockerHost,
    private readonly files: string,
    started: Promise<void>,
    output: Promise<void>,
    timeoutMs: number,
  ) {
    this.done = this.finish(started, output, timeoutMs);
  }

  /** Creates, attaches and (once the gate opens) starts the run's container. */
  /**
   * `output`: where the run's stdout and stderr go (ended when the container's output ends), a
   * promise so it can be made while the container is being created; by default the process's
   * own (stdio inherit) or pipes read from run.stdout and run.stderr.
   */
  static async start(
    host: DockerHost,
    spec: RunSpec,
    body: Record<string, unknown>,
    output?: Promise<{ stdout: Writable; stderr: Writable }>,
  ): Promise<DockerRun> {
    const { engine } = host;
    const cgroup = RunCgroup.create(host.cgroups, spec.id, spec.limits);
    const files = runFiles(host.filesRoot, spec.id);
    let container: string | undefined;
    const undo = async (): Promise<void> => {
      if (container)
        await engine.call('DELETE', `/containers/${container}?force=1&v=1`).catch(() => undefined);
      rmSync(files.dir, { recursive: true, force: true });
      removeEngineGroups(host, spec.id);
      cgroup.remove();
    };
    try {
      mkdirSync(files.dir, { mode: 0o700 });
      makeSecretsDir(files.secrets, spec.uid, spec.secrets);
      if (spec.homeFiles) makeHomeFiles(files.home, spec.uid, spec.homeFiles);
      // The bind needs the file to exist; it stays empty until the token arrives, before start.
      const token = spec.token ? files.token : undefined;
      if (token) {
        writeFileSync(token, '', { mode: 0o400 });
        chownSync(token, spec.uid, spec.uid);
      }
      chownSync(files.dir, spec.uid, spec.uid);
      const made = await engine.expect<{ Id: string }>(
        [201],
        'POST',
        `/containers/create?name=rampart-${spec.id}`,
        host.sign(body, body['Labels'] as Record<string, string>),
      );
      container = made.Id;
      // Piped: the caller reads run.stdout and run.stderr (as a bwrap child's pipes).
      const attached = await attachOutput(engine, container, spec, output);
      const id = container;
      const started = (async () => {
        const [, tok] = await Promise.all([spec.gate, spec.token]);
        if (token && tok) writeFileSync(token, tok);
        await engine.expect([204, 304], 'POST', `/containers/${id}/start`);
      })();
      const run = new DockerRun(
        spec.id,
        id,
        cgroup,
        host,
        files.dir,
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
      throw e;
    }
  }

  private sample(): void {
    const now = this.cgroup.stats();
    this.seen = {
      oomKilled: this.seen.oomKilled || now.oomKilled,
      memoryLimitHit: this.seen.memoryLimitHit || now.memoryLimitHit,
      pidsLimitHit: this.seen.pidsLimitHit || now.pidsLimitHit,
    };
  }

  /** SIGTERM to every process of the run, SIGKILL after the grace period (0: at once). */
  stop(reason: EndReason, graceMs = this.host.graceMs): void {
    if (this.endReason === 'exited') this.endReason = reason;
    this.graceTimer = endGroup(this.cgroup, graceMs, this.graceTimer);
  }

  private async finish(started: Promise<void>, output: Promise<void>, timeoutMs: number): Promise<RunResult> {
    const { engine } = this.host;
    let startError: Error | undefined;
    let code: number | null = null;
    try {
      await started;
      this.deadline = setTimeout(() => this.stop('timeout'), timeoutMs);
      // Under cgroup v1 a limit hit is counted in the container's own group, which the Engine
      // removes the moment the container exits: what it counted is read while it lives.
      this.sampler = setInterval(() => this.sample(), SAMPLE_MS);
      const w = await engine.expect<{ StatusCode: number }>(
        [200],
        'POST',
        `/containers/${this.container}/wait`,
        undefined,
        {
          timeoutMs: null,
        },
      );
      code = w.StatusCode;
      await output;
    } catch (e) {
      startError = e instanceof Error ? e : new SandboxStartError(String(e));
      this.endReason = 'error';
    }
    clearTimeout(this.deadline);
    clearTimeout(this.graceTimer);
    clearInterval(this.sampler);
    // The container's pid 1 took its namespace down; anything else in the run's group goes too.
    if (this.cgroup.pids().length > 0) this.cgroup.killAll();
    // The Engine knows of an OOM kill in the container (its own group, gone by now, counted it),
    // whichever process it killed: asked every time.
    const state = await engine
      .call<{ State?: { OOMKilled?: boolean } }>('GET', `/containers/${this.container}/json`)
      .catch(() => undefined);
    const own = this.cgroup.stats();
    const oomKilled = own.oomKilled || this.seen.oomKilled || state?.body.State?.OOMKilled === true;
    const stats = {
      peakMemory: own.peakMemory,
      cpuMicros: own.cpuMicros,
      oomKilled,
      memoryLimitHit: own.memoryLimitHit || this.seen.memoryLimitHit || oomKilled,
      pidsLimitHit: own.pidsLimitHit || this.seen.pidsLimitHit,
    };
    this.cleaned = (async () => {
      await engine.call('DELETE', `/containers/${this.container}?force=1&v=1`).catch(() => undefined);
      rmSync(this.files, { recursive: true, force: true });
      removeEngineGroups(this.host, this.id);
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

/**
 * The Engine makes the run's group in every cgroup v1 hierarchy it uses, not only Rampart's four;
 * those it leaves behind when the container is removed. Removed here (empty by then).
 */
function removeEngineGroups(host: DockerHost, runId: string): void {
  if (host.cgroups.version !== 'v1') return;
  const root = '/sys/fs/cgroup';
  let controllers: string[];
  try {
    controllers = readdirSync(root);
  } catch {
    return;
  }
  for (const c of controllers) {
    const dir = join(root, c, host.installation, runId);
    try {
      for (const sub of readdirSync(dir, { withFileTypes: true }))
        if (sub.isDirectory()) rmdirSync(join(dir, sub.name));
      rmdirSync(dir);
    } catch (e) {
      // Not this controller, already gone, or Rampart's own (RunCgroup removes those).
      void messageOf(e);
    }
  }
}

const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

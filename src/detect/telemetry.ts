// Kernel telemetry: starts the eBPF loader (dist/rampart-telemetry, built from telemetry/), reads
// its JSON lines, names each event's run by its cgroup2 group, and publishes the events that
// matter as typed security events (process.exec, process.exit, file.open, net.connect,
// syscall.denied), on record like every other event.
//
// Nothing is lost without a count: events the kernel could not queue (the loader reports them),
// events the control plane could not keep up with (more publishes in flight than the bound),
// and opens left out on purpose (reads that are not of a path that matters) are each counted in
// /metrics, and losses raise a detect.telemetry event and show in health. When the loader cannot
// start or a program cannot attach, health says so, with the reason.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import { createInterface } from 'node:readline';
import { messageOf } from '../core/errors.js';
import type { BusEvent, EventPublisher } from '../core/events.js';
import type { ComponentHealth } from '../core/types.js';

export interface TelemetryTarget {
  readonly name: string;
  readonly level: number;
}

export interface TelemetryDeps {
  /** The loader binary. */
  readonly binary: string;
  /** The runs' cgroup2 parent, or why there is none. */
  readonly target: TelemetryTarget | string;
  readonly runOf: (cgroupId: string) => { run: string; agent: string } | undefined;
  readonly bus: EventPublisher;
  readonly log: { info(o: object, m: string): void; error(o: object, m: string): void };
  /** Syscalls whose refusal is reported. */
  readonly deny: readonly string[];
  /** Publishes in flight beyond which events are dropped (and counted). */
  readonly maxInFlight?: number;
}

export interface TelemetryStats {
  events: number;
  published: number;
  /** Lost in the kernel (ring buffer full), as the loader last reported. */
  droppedKernel: number;
  /** Lost here: more publishes in flight than the bound, or the publish failed. */
  droppedReader: number;
  /** Left out on purpose: reads of paths that do not matter (see mattersToRead). */
  filtered: number;
  /** From a group that is no run any more (its events after its end). */
  unknownRun: number;
  /** Opens whose path the kernel could not read at the syscall's entry. */
  unreadablePaths: number;
}

/** Reads that matter: credential stores, other processes' memory and environment, sockets of engines. */
const SENSITIVE_READS = [
  /\/\.ssh\//,
  /\/\.aws\//,
  /\/\.config\/gcloud\//,
  /\/\.azure\//,
  /\/\.kube\//,
  /\/\.docker\/config\.json$/,
  /\/\.gnupg\//,
  /\/\.(netrc|git-credentials|npmrc|pypirc|pgpass|my\.cnf)$/,
  /^\/proc\/(\d+|self)\/(environ|mem)$/,
  /^\/etc\/(shadow|gshadow|sudoers|master\.passwd)$/,
  /^\/(var\/)?run\/secrets\//,
  /\/\.(mozilla|config\/google-chrome|config\/chromium)\//,
  /(docker|containerd)\.sock$/,
  /\/\.git\/hooks\//,
];

export function mattersToRead(path: string): boolean {
  return SENSITIVE_READS.some((re) => re.test(path));
}

const FLAG_NAMES: [number, string][] = [
  [0o100, 'O_CREAT'],
  [0o200, 'O_EXCL'],
  [0o1000, 'O_TRUNC'],
  [0o2000, 'O_APPEND'],
  [0o200000, 'O_DIRECTORY'],
  [0o400000, 'O_NOFOLLOW'],
  [0o2000000, 'O_CLOEXEC'],
  [0o10000000, 'O_PATH'],
];

export function openFlags(flags: number): string[] {
  const acc = flags & 3;
  const out = [acc === 0 ? 'O_RDONLY' : acc === 1 ? 'O_WRONLY' : 'O_RDWR'];
  for (const [bit, name] of FLAG_NAMES) if (flags & bit) out.push(name);
  return out;
}

type Line = Record<string, unknown> & { t: string };

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export class Telemetry {
  readonly stats: TelemetryStats = {
    events: 0,
    published: 0,
    droppedKernel: 0,
    droppedReader: 0,
    filtered: 0,
    unknownRun: 0,
    unreadablePaths: 0,
  };
  private child: ChildProcess | undefined;
  private state: { status: ComponentHealth['status']; detail: string } = {
    status: 'degraded',
    detail: 'starting',
  };
  /** Losses degrade health; this is whether the programs watch at all. */
  private downReason: string | undefined = 'starting';
  private inFlight = 0;
  private stopped = false;
  private lastLossReport = 0;
  private reportedLosses = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private restarts = 0;
  /**
   * Runs (by cgroup id) whose first exec has been seen. Before it, only bubblewrap runs in the
   * group, building the sandbox (no code of the agent's can run before an exec): its opens are
   * set-up, not the run's, and are left out (counted as filtered). A run that was already going
   * when telemetry started counts as started at its first event from a process not named bwrap.
   */
  private readonly started = new Set<string>();

  constructor(private readonly deps: TelemetryDeps) {}

  /** Starts the loader; resolves once it has said which programs attached (or failed to start). */
  async start(): Promise<void> {
    if (typeof this.deps.target === 'string') return this.down(`no run to watch: ${this.deps.target}`);
    if (!existsSync(this.deps.binary))
      return this.down(
        `the loader ${this.deps.binary} was not built (clang, bpftool, libbpf-dev and kernel BTF are needed)`,
      );
    const t = this.deps.target;
    const child = spawn(
      this.deps.binary,
      ['--parent', t.name, '--level', String(t.level), '--deny', this.deps.deny.join(',')],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
    const ready = new Promise<void>((resolve) => {
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (l) => {
        let o: Line;
        try {
          o = JSON.parse(l) as Line;
        } catch {
          return;
        }
        if (o.t === 'ready') {
          this.onReady(o);
          resolve();
        } else this.onLine(o);
      });
      child.on('exit', (code, signal) => {
        resolve();
        if (this.stopped) return;
        const why = stderr.trim().split('\n').pop() || `exited with ${code ?? signal}`;
        void this.down(`the telemetry loader stopped: ${why}`);
        // Back again after a pause that grows with each failure (at most 30 s).
        this.restartTimer = setTimeout(
          () => void this.start(),
          Math.min(30_000, 1000 * 2 ** this.restarts++),
        );
        this.restartTimer.unref();
      });
      child.on('error', (e) => {
        resolve();
        void this.down(`the telemetry loader cannot start: ${messageOf(e)}`);
      });
    });
    await ready;
  }

  /** Why runs are not watched (loader down, a program not attached), or undefined while they are. */
  notWatching(): string | undefined {
    return this.downReason;
  }

  health(): ComponentHealth {
    return { status: this.state.status, detail: this.state.detail };
  }

  stop(): void {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.child?.stdin?.end();
    this.child?.kill('SIGTERM');
  }

  private async down(reason: string): Promise<void> {
    this.state = { status: 'degraded', detail: reason };
    this.downReason = reason;
    this.deps.log.error({ reason }, 'kernel telemetry unavailable');
    await this.deps.bus
      .publish({
        type: 'detect.telemetry',
        severity: 'high',
        source: 'telemetry',
        data: { state: 'degraded', reason },
      })
      .catch(() => undefined);
  }

  private onReady(o: Line): void {
    const attached = (o['attached'] as string[]) ?? [];
    const failed = (o['failed'] as { program: string; error: string }[]) ?? [];
    this.restarts = 0;
    if (failed.length > 0) {
      void this.down(`programs not attached: ${failed.map((f) => `${f.program} (${f.error})`).join(', ')}`);
      return;
    }
    this.state = { status: 'ok', detail: `${attached.length} programs attached` };
    this.downReason = undefined;
    this.deps.log.info({ attached }, 'kernel telemetry up');
    void this.deps.bus
      .publish({
        type: 'detect.telemetry',
        severity: 'info',
        source: 'telemetry',
        data: { state: 'up', reason: `${attached.join(', ')} attached` },
      })
      .catch(() => undefined);
  }

  private onLine(o: Line): void {
    if (o.t === 'drops') {
      this.stats.droppedKernel = Number(o['total']) || 0;
      this.reportLoss();
      return;
    }
    this.stats.events++;
    const cg = String(o['cg']);
    const who = this.deps.runOf(cg);
    if (!who) {
      this.stats.unknownRun++;
      this.started.delete(cg);
      return;
    }
    if (!this.started.has(cg)) {
      // A run already going when telemetry started shows itself by any process not bwrap's.
      if (o.t !== 'exec' && o['comm'] === 'bwrap') {
        this.stats.filtered++;
        return;
      }
      if (this.started.size >= 100_000) this.started.clear();
      this.started.add(cg);
    }
    const event = this.eventOf(o, who);
    if (!event) return;
    if (this.inFlight >= (this.deps.maxInFlight ?? 10_000)) {
      this.stats.droppedReader++;
      this.reportLoss();
      return;
    }
    this.inFlight++;
    this.deps.bus.publish(event).then(
      () => {
        this.inFlight--;
        this.stats.published++;
      },
      () => {
        this.inFlight--;
        this.stats.droppedReader++;
        this.reportLoss();
      },
    );
  }

  /** At most one loss report every 5 s, with what was lost since the last. */
  private reportLoss(): void {
    const total = this.stats.droppedKernel + this.stats.droppedReader;
    const now = Date.now();
    if (total === this.reportedLosses || now - this.lastLossReport < 5000) return;
    const dropped = total - this.reportedLosses;
    this.lastLossReport = now;
    this.reportedLosses = total;
    this.state = {
      status: 'degraded',
      detail: `${total} telemetry events lost (${this.stats.droppedKernel} in the kernel, ${this.stats.droppedReader} here)`,
    };
    void this.deps.bus
      .publish({
        type: 'detect.telemetry',
        severity: 'high',
        source: 'telemetry',
        data: { state: 'dropped', reason: this.state.detail, dropped, droppedTotal: total },
      })
      .catch(() => undefined);
  }

  private eventOf(o: Line, who: { run: string; agent: string }): BusEvent | undefined {
    const base = {
      run: who.run,
      agent: who.agent,
      pid: Number(o['pid']),
      ppid: Number(o['ppid']),
      comm: str(o['comm']),
    };
    const envelope = { source: 'telemetry', subject: { run: who.run, agent: who.agent } };
    switch (o.t) {
      case 'exec':
        return {
          ...envelope,
          type: 'process.exec',
          severity: 'info',
          data: {
            ...base,
            exe: str(o['file']),
            argv: (o['argv'] as string[]) ?? [],
            cwd: str(o['cwd']),
            uid: Number(o['uid']),
            stdin: str(o['stdin']),
            pcomm: str(o['pcomm']),
          },
        };
      case 'exit':
        return {
          ...envelope,
          type: 'process.exit',
          severity: 'info',
          data: { ...base, exitCode: Number(o['code']), signal: Number(o['signal']) },
        };
      case 'open': {
        const raw = str(o['path']);
        if (raw === '') {
          this.stats.unreadablePaths++;
          return undefined;
        }
        const path = raw.startsWith('/') ? posix.normalize(raw) : raw;
        const flags = openFlags(Number(o['flags']));
        const write = flags.some(
          (f) => f !== 'O_RDONLY' && ['O_WRONLY', 'O_RDWR', 'O_CREAT', 'O_TRUNC', 'O_APPEND'].includes(f),
        );
        if (!(write ? !path.startsWith('/dev/') && !path.startsWith('/proc/self/') : mattersToRead(path))) {
          this.stats.filtered++;
          return undefined;
        }
        return { ...envelope, type: 'file.open', severity: 'info', data: { ...base, path, flags } };
      }
      case 'connect': {
        const family = String(o['family']);
        if (family !== 'inet' && family !== 'inet6' && family !== 'unix') {
          this.stats.filtered++;
          return undefined;
        }
        return {
          ...envelope,
          type: 'net.connect',
          severity: 'info',
          data: { ...base, address: str(o['address']), port: Number(o['port']), family },
        };
      }
      case 'denied':
        return {
          ...envelope,
          type: 'syscall.denied',
          severity: 'medium',
          outcome: 'denied',
          data: {
            ...base,
            syscall: str(o['syscall']),
            nr: Number(o['nr']),
            errno: Number(o['errno']),
          },
        };
      default:
        return undefined;
    }
  }
}

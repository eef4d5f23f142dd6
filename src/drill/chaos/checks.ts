// What a chaos scenario observes, and the expectations every scenario shares: before the fault,
// the audit log's size; at the fault, health saying so (timed); at its end, health ok again
// (timed), a token issued, a run that works, every record counted before still there and the
// whole log verifying. A check that does not hold throws: the scenario failed, with that reason.

import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DrillApi } from '../runner.js';
import type { Ran } from './exec.js';
import type { Deployment } from './deployment.js';

interface Health {
  readonly status: string;
  readonly components: Readonly<Record<string, { status: string; detail?: string } | undefined>>;
}

const BWRAP = '/usr/bin/bwrap';
const exe = (pid: string): string => {
  try {
    return readlinkSync(join('/proc', pid, 'exe'));
  } catch {
    return '?';
  }
};
const HEALTH_WAIT_MS = 20_000;
const RECOVER_WAIT_MS = 60_000;
const POLL_MS = 50;

export class Checks {
  readonly notes: string[] = [];
  healthMs: number | undefined;
  recoverMs: number | undefined;
  private size = 0;

  constructor(
    private readonly d: Deployment,
    /** The API of the deployment's control plane as it is now (it moves when restarted). */
    private readonly api: () => DrillApi,
  ) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const r = await this.api().call<T>(method, path, body);
    return { status: r.status, body: r.body };
  }

  async health(): Promise<Health | undefined> {
    try {
      const r = await this.call<Health>('GET', '/v1/health');
      return r.body;
    } catch {
      return undefined; // not answering: not ok
    }
  }

  private async waitHealth(pred: (h: Health) => boolean, ms: number): Promise<number | undefined> {
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      const h = await this.health();
      if (h && pred(h)) return Math.round(performance.now() - t0);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return undefined;
  }

  /** Notes the log's size, breaks the thing, and (given `says`) waits for health to say so. */
  async fault(
    label: string,
    act: () => Promise<unknown>,
    says: ((h: Health) => boolean) | undefined,
  ): Promise<void> {
    this.size = (await this.call<{ size: number }>('GET', '/v1/audit/head')).body.size;
    const t0 = performance.now();
    await act();
    if (!says) {
      this.notes.push(label);
      return;
    }
    await this.saysSo(label, says, t0);
  }

  /** Waits for health to say what `says` wants; times it from `t0` (default: now). */
  async saysSo(label: string, says: (h: Health) => boolean, t0 = performance.now()): Promise<void> {
    const waited = await this.waitHealth(says, HEALTH_WAIT_MS);
    if (waited === undefined)
      throw new Error(`after "${label}", health did not say so within ${HEALTH_WAIT_MS / 1000} s`);
    this.healthMs = Math.round(performance.now() - t0);
    this.notes.push(`${label}: health said so in ${this.healthMs} ms`);
  }

  /** Ends the fault; then health ok, a token, a run, and the log whole and verifying. */
  async end(label: string, act: () => Promise<unknown>): Promise<void> {
    const t0 = performance.now();
    await act();
    const waited = await this.waitHealth((h) => h.status === 'ok', RECOVER_WAIT_MS);
    if (waited === undefined) {
      const h = await this.health();
      throw new Error(
        `after "${label}", health was not ok within ${RECOVER_WAIT_MS / 1000} s: ${JSON.stringify(h ?? 'no answer').slice(0, 400)}`,
      );
    }
    this.recoverMs = Math.round(performance.now() - t0);
    await this.ok('a token is issued again', () => this.issue('chaos:agent'));
    if (!(await this.runTrue())) throw new Error('after recovery, a run did not work');
    const size = (await this.call<{ size: number }>('GET', '/v1/audit/head')).body.size;
    if (size < this.size)
      throw new Error(`the audit log has ${size} records, ${this.size} were acknowledged before the fault`);
    const v = await this.d.cli(['audit', 'verify', '--quiet']);
    if (v.code !== 0) throw new Error(`audit verify failed: ${v.stderr.trim().slice(0, 400)}`);
    this.notes.push(
      `recovered in ${this.recoverMs} ms; all ${this.size} records of before kept, the log verifies`,
    );
  }

  /** What is on record now counts as acknowledged: it must be there after recovery. */
  async acknowledged(): Promise<void> {
    this.size = (await this.call<{ size: number }>('GET', '/v1/audit/head')).body.size;
  }

  /** `act` must not succeed (it throws, or resolves false or 0). */
  async refused(label: string, act: () => Promise<unknown>): Promise<void> {
    let got: unknown;
    try {
      got = await act();
    } catch {
      this.notes.push(label);
      return;
    }
    if (got === false || got === 0) this.notes.push(label);
    else throw new Error(`expected refused: ${label}; it succeeded`);
  }

  async ok(label: string, act: () => Promise<unknown>): Promise<void> {
    try {
      await act();
    } catch (e) {
      throw new Error(`${label}: ${(e as Error).message}`, { cause: e });
    }
  }

  async issue(agent: string, ttlSeconds = 120): Promise<{ token: string; kid: string }> {
    const r = await this.call<{ token: string; kid: string; error?: { code: string } }>(
      'POST',
      '/v1/tokens',
      {
        agent,
        namespace: 'chaos',
        ttl_seconds: ttlSeconds,
      },
    );
    if (r.status !== 200 && r.status !== 201) throw new Error(`token refused (${r.status})`);
    return r.body;
  }

  async active(token: string, want: boolean, label: string): Promise<void> {
    const r = await this.call<{ active: boolean; reason?: string }>('POST', '/v1/tokens/introspect', {
      token,
    });
    if (r.body.active !== want)
      throw new Error(
        `${label}: the token is ${r.body.active ? 'active' : `refused (${r.body.reason ?? ''})`}`,
      );
    this.notes.push(label);
  }

  async runTrue(): Promise<boolean> {
    return (await this.d.cli(['run', '--agent', 'chaos:probe', '--', 'true'])).code === 0;
  }

  async mustCli(args: readonly string[]): Promise<Ran> {
    const r = await this.d.cli(args);
    if (r.code !== 0) throw new Error(`rampart ${args.join(' ')}: ${r.stderr.trim().slice(0, 400)}`);
    return r;
  }

  /** A run in the background: its id once it has started, and its end. */
  startRun(
    script: string,
  ): Promise<{ id: string; exited: Promise<void>; ended: () => boolean; stderr: () => string }> {
    const child = spawn(
      process.execPath,
      [this.d.self, ...this.d.withDeployment(['run', '--agent', 'chaos:run', '--', 'sh', '-c', script])],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let ended = false;
    const exited = new Promise<void>((r) =>
      child.once('close', () => {
        ended = true;
        r();
      }),
    );
    return new Promise((resolve, reject) => {
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        const m = /^rampart: run (\S+) \(agent /m.exec(err);
        if (m) resolve({ id: m[1]!, exited, ended: () => ended, stderr: () => err });
      });
      void exited.then(() => reject(new Error(`the run did not start: ${err.trim().slice(0, 400)}`)));
    });
  }

  /**
   * The run is contained: it is under its process limit, and every process with one of the
   * deployment's run uids is in a run's cgroup (the run's own or a group below it).
   */
  contained(run: string): void {
    const parent = `/${this.d.cgroupParent}/`;
    let max: string | undefined;
    try {
      max = readFileSync(join('/sys/fs/cgroup/pids', this.d.cgroupParent, run, 'pids.max'), 'utf8').trim();
    } catch {
      max = undefined; // the run has ended and its group is gone
    }
    if (max === 'max') throw new Error(`run ${run} has no process limit`);
    let inRun = 0;
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      let uid: number;
      let group: string;
      try {
        const status = readFileSync(join('/proc', p, 'status'), 'utf8');
        if (/^State:\s+Z/m.test(status)) continue; // a zombie runs nothing; its parent reaps it
        uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
        group = /^\d+:pids:(.*)$/m.exec(readFileSync(join('/proc', p, 'cgroup'), 'utf8'))?.[1] ?? '';
      } catch {
        continue; // gone meanwhile
      }
      if (uid < this.d.uidFirst || uid >= this.d.uidFirst + 100) continue;
      // bubblewrap's own monitor (the parent of the sandbox, outside its namespaces) runs as the
      // run's uid and stays where `rampart run` started it; it runs no code of the agent's.
      if (!group.startsWith(parent) && exe(p) !== BWRAP)
        throw new Error(
          `process ${p} (${exe(p)}, uid ${uid}) of a run lives outside every run's cgroup (${group})`,
        );
      if (group.startsWith(`${parent}${run}`)) inRun++;
    }
    this.notes.push(
      inRun > 0
        ? `run contained (${inRun} processes in its cgroup, under its limit)`
        : 'run ended, nothing left',
    );
  }

  remove(file: string): Promise<void> {
    rmSync(file, { force: true });
    return Promise.resolve();
  }
}

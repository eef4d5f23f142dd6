// The ends of runs the control plane has to see to itself. A runner (`rampart run`) reports its
// run's end; a runner that is killed (SIGKILL, a crash, the host's OOM killer) reports nothing,
// and its run would stay "running" with a live token and an open egress channel. So every run is
// registered with its runner's identity (pid and start time), kept in the store, and:
//
// - a watcher checks each runner every WATCH_MS: one that is gone has its run ended as a normal
//   end would (recorded, tokens revoked, channel closed, cgroup swept, uid released);
// - at start-up, runs the store says are running on this host are reconciled: ended when their
//   runner is gone, taken back (channel reopened) when it is still there;
// - uids held by runners that died before they registered are released.

import { hostname } from 'node:os';
import { messageOf } from '../core/errors.js';
import type { EventPublisher } from '../core/events.js';
import { stillRunning, type ProcessIdentity } from '../core/process.js';
import type { Log } from '../core/types.js';
import type { RunStore } from '../store/types.js';
import type { RunRecord, SandboxService } from './service.js';

/** How often runners are checked: a dead one is noticed within this (the issue asks 1 s). */
const WATCH_MS = 250;

/** What the store keeps of a run beyond its columns. */
export interface RunState extends RunRecord {
  readonly uid: number;
  readonly runner: ProcessIdentity;
  readonly network: boolean;
}

export interface RunLifeDeps {
  readonly sandbox: SandboxService;
  readonly runs: RunStore;
  readonly bus: EventPublisher;
  readonly logger: Log;
  /** Revokes the run's tokens (the identity component). */
  readonly revoke: (run: string, why: string, by: string) => Promise<unknown>;
  /** The run's egress channel, when the proxy runs here. */
  readonly channels?: {
    open(run: string, agent: string, uid: number): Promise<void>;
    close(run: string): void;
  };
}

export class RunLife {
  /** This machine, in the store: runs are acted on only by the control plane of their host. */
  readonly host = hostname();
  private readonly timer: NodeJS.Timeout;
  private readonly state = new Map<string, RunState>();
  private ending = new Set<string>();
  readonly stats = { runnersLost: 0, reconciled: 0 };

  constructor(private readonly deps: RunLifeDeps) {
    this.timer = setInterval(() => void this.watch(), WATCH_MS);
    this.timer.unref();
  }

  /** A run has been registered: kept, and watched. */
  async started(r: RunState): Promise<void> {
    this.state.set(r.id, r);
    await this.persist(r, 'running');
  }

  /** A run has ended, however: no longer watched, and the store says how. */
  async ended(id: string, status: string): Promise<void> {
    const r = this.state.get(id);
    this.state.delete(id);
    if (r) {
      this.deps.sandbox.uids.release(r.uid);
      await this.persist(r, status).catch((e: unknown) =>
        this.deps.logger.error({ err: messageOf(e), run: id }, 'could not store the end of a run'),
      );
    }
  }

  /** Whether this control plane keeps the run (registered here, or taken back at start-up). */
  has(id: string): boolean {
    return this.state.has(id);
  }

  /** How the store says a run is (running, or how it ended), whichever replica keeps it. */
  async storedStatus(id: string): Promise<string | undefined> {
    return (await this.deps.runs.get(id))?.status;
  }

  uidOf(id: string): number | undefined {
    return this.state.get(id)?.uid;
  }

  /**
   * Takes back this host's runs after a restart: a run whose runner is gone is ended, one whose
   * runner is alive is watched again and gets its channel back.
   */
  async reconcile(): Promise<void> {
    for (const stored of await this.deps.runs.list({ host: this.host, status: 'running', limit: 100_000 })) {
      let r: RunState;
      try {
        r = JSON.parse(stored.record) as RunState;
      } catch {
        continue;
      }
      this.stats.reconciled++;
      this.deps.sandbox.records.restore({ ...r, status: 'running' });
      this.state.set(r.id, r);
      if (!stillRunning(r.runner)) await this.runnerGone(r);
      else if (r.network)
        await this.deps.channels
          ?.open(r.id, r.agent, r.uid)
          .catch((e: unknown) =>
            this.deps.logger.error(
              { err: messageOf(e), run: r.id },
              'could not reopen the egress channel of a run',
            ),
          );
    }
    await this.watch();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async watch(): Promise<void> {
    for (const r of [...this.state.values()])
      if (!this.ending.has(r.id) && !stillRunning(r.runner)) await this.runnerGone(r);
    // Uids whose runner died before it registered its run: nothing else will give them back.
    for (const lease of this.deps.sandbox.uids.orphans())
      if (!this.state.has(lease.run)) {
        this.deps.sandbox.sweep(lease.run);
        this.deps.sandbox.uids.release(lease.uid);
      }
  }

  /** Ends a run whose runner is gone, as its runner would have: the same records and revocations. */
  private async runnerGone(r: RunState): Promise<void> {
    this.ending.add(r.id);
    try {
      this.stats.runnersLost++;
      // Whatever the runner left in the run's cgroup dies with it.
      this.deps.sandbox.sweep(r.id);
      this.deps.sandbox.records.ended(r.id, { reason: 'runner_died' }, new Date().toISOString());
      this.deps.channels?.close(r.id);
      const revoked = this.deps.revoke(r.id, 'the runner of the run died', 'component:sandbox');
      const recorded = this.deps.bus.publish({
        type: 'sandbox.run_ended',
        // A runner does not die on its own: someone should look.
        severity: 'high',
        source: 'sandbox',
        subject: { agent: r.agent, run: r.id },
        data: {
          run: r.id,
          agent: r.agent,
          reason: 'runner_died',
          exitCode: null,
          signal: null,
          durationMs: Math.max(0, Date.now() - Date.parse(r.startedAt)),
          peakMemory: 0,
        },
      });
      await Promise.allSettled([revoked, recorded]);
      await this.ended(r.id, 'runner_died');
    } catch (e) {
      this.deps.logger.error({ err: messageOf(e), run: r.id }, 'could not end a run whose runner died');
    } finally {
      this.ending.delete(r.id);
    }
  }

  private persist(r: RunState, status: string): Promise<void> {
    return this.deps.runs.put({
      id: r.id,
      host: this.host,
      agent: r.agent,
      status,
      startedAt: Date.parse(r.startedAt),
      record: JSON.stringify({ ...r, status }),
    });
  }
}

// Forcing a run: kill, quarantine, freeze, thaw, and the kill switch. One code path for the
// operator's routes and for the response engine's playbooks. Containment acts first and is
// recorded after: a slow or failing audit write must never delay stopping a compromised run, so
// each of these resolves once the run is stopped, and its record is a separate promise the
// caller awaits (and raises loudly when it fails).

import { RampartError } from '../core/errors.js';
import type { EventPublisher } from '../core/events.js';
import type { Evidence } from './evidence.js';
import type { RunLife } from './life.js';
import type { RunChannels, RunStats, RunTokens } from './routes.js';
import type { SandboxService } from './service.js';

/** What a forced end did, and the promise of its record. */
export interface Forced<T = undefined> {
  /** 'gone': the run had no cgroup here (it ended, or it lives on another host). */
  readonly outcome: 'done' | 'gone';
  readonly result?: T;
  /** Resolves once the run's end, status and record are written; rejects when they cannot be. */
  readonly recorded: Promise<unknown>;
}

export interface RunControlDeps {
  readonly sandbox: SandboxService;
  readonly life: RunLife;
  readonly identity: Pick<RunTokens, 'revoke'>;
  readonly bus: EventPublisher;
  readonly stats: RunStats;
  readonly channels?: RunChannels;
}

const count = (m: Record<string, number>, k: string): void => void (m[k] = (m[k] ?? 0) + 1);

export class RunControl {
  constructor(private readonly deps: RunControlDeps) {}

  /** Throws RAMPART_E_CONFLICT when the run has ended, saying how. */
  notEnded(id: string): void {
    const rec = this.deps.sandbox.records.get(id);
    if (rec && rec.status !== 'running')
      throw new RampartError(
        'RAMPART_E_CONFLICT',
        `run ${id} has already ended (${rec.status}${rec.endedBy ? ` by ${rec.endedBy}` : ''}${rec.endedAt ? ` at ${rec.endedAt}` : ''})`,
      );
  }

  /** Whether this control plane keeps the run (its runner registered here, its channel is here). */
  hosts(id: string): boolean {
    return this.deps.life.has(id);
  }

  /**
   * Where a run is: kept here, kept by another replica sharing the store, or gone (ended, or
   * never known). The store is read only for a run this replica does not keep.
   */
  async where(id: string): Promise<'here' | 'elsewhere' | 'gone'> {
    if (this.deps.life.has(id)) return 'here';
    const rec = this.deps.sandbox.records.get(id);
    if (rec && rec.status !== 'running') return 'gone';
    return (await this.deps.life.storedStatus(id)) === 'running' ? 'elsewhere' : 'gone';
  }

  /** SIGKILL, no grace: a compromised run gets no time to clean up. */
  kill(id: string, reason: string, by: string, graceMs?: number): Forced {
    if (!this.deps.sandbox.kill(id, graceMs)) return { outcome: 'gone', recorded: Promise.resolve() };
    const recorded = this.settle(id, 'killed', reason, by).then(() =>
      this.deps.bus.publish({
        type: 'sandbox.killed',
        severity: 'medium',
        source: 'sandbox',
        subject: { run: id },
        data: { run: id, by, reason },
      }),
    );
    return { outcome: 'done', recorded };
  }

  /** Freeze, capture (processes, sockets, workspace, memory images), kill. */
  async quarantine(
    id: string,
    reason: string,
    by: string,
    opts: { memory?: boolean } = {},
  ): Promise<Forced<Evidence>> {
    const { sandbox } = this.deps;
    const evidence = await sandbox.quarantine(id, sandbox.records.get(id)?.workspace, opts);
    if (!evidence) return { outcome: 'gone', recorded: Promise.resolve() };
    const recorded = this.settle(id, 'quarantined', reason, by, evidence).then(() =>
      this.deps.bus.publish({
        type: 'sandbox.quarantined',
        severity: 'critical',
        source: 'sandbox',
        subject: { run: id },
        data: { run: id, by, reason, ...evidence },
      }),
    );
    return { outcome: 'done', result: evidence, recorded };
  }

  /** Freezes the run: every process stops where it is, evidence intact, reversible by thaw. */
  async freeze(id: string): Promise<'done' | 'gone'> {
    return (await this.deps.sandbox.freeze(id)) ? 'done' : 'gone';
  }

  thaw(id: string): 'done' | 'gone' {
    return this.deps.sandbox.thaw(id) ? 'done' : 'gone';
  }

  /** Closes the run's egress channel (and cuts its connections); the run goes on, offline. */
  cutEgress(id: string): 'done' | 'gone' {
    if (!this.deps.channels || !this.hosts(id)) return 'gone';
    this.deps.channels.close(id);
    return 'done';
  }

  /** The kill switch: every run on this host, SIGKILL at once. */
  destroyAll(
    reason: string,
    by: string,
    hostWide = false,
  ): { ids: string[]; ms: number; recorded: Promise<unknown> } {
    const t0 = performance.now();
    const all = hostWide ? this.deps.sandbox.destroyHostWide() : this.deps.sandbox.destroyAll();
    const ms = performance.now() - t0;
    // This installation's runs are settled here; another's are ended by their own control plane.
    const runs = all.filter((id) => !id.includes('/'));
    const recorded = Promise.all(runs.map((id) => this.settle(id, 'killed', reason, by))).then(() =>
      this.deps.bus.publish({
        type: 'sandbox.destroyed_all',
        severity: 'critical',
        source: 'sandbox',
        data: { runs, by, reason, ms: Math.round(ms * 10) / 10 },
      }),
    );
    return { ids: all, ms, recorded };
  }

  /** What every forced end does once the processes are gone: status, egress cut, tokens revoked. */
  private settle(
    id: string,
    status: 'killed' | 'quarantined',
    why: string,
    by: string,
    evidence?: Evidence,
  ): Promise<unknown> {
    this.deps.sandbox.records.mark(id, status, evidence, { actor: by, reason: why });
    count(this.deps.stats.ended, status);
    this.deps.channels?.close(id);
    return Promise.all([
      // Routine: a run's tokens end with it. The run's own end event says how it ended.
      this.deps.identity.revoke('run', id, why, by, { severity: 'info' }).catch(() => undefined),
      this.deps.life.ended(id, status),
    ]);
  }
}

// The runs this control plane knows of (registered by whoever started them), with their ends,
// kills and quarantines; the most recent ended ones are kept for `rampart runs` (the audit log
// has every one).

import { RampartError } from '../core/errors.js';
import type { Evidence } from './evidence.js';

/** What the control plane knows of a run (registered by whoever started it). */
export interface RunRecord {
  readonly id: string;
  readonly agent: string;
  readonly profile: string;
  readonly workspace: string;
  readonly command: string;
  readonly startedAt: string;
  readonly startedBy: string;
  status: 'running' | 'ended' | 'killed' | 'quarantined';
  endedAt?: string;
  result?: Record<string, unknown>;
  evidence?: Evidence;
  /** Who ended it by force (kill, quarantine, the kill switch), and why they said. */
  endedBy?: string;
  endReason?: string;
}

/** Ended runs kept for `rampart runs`; the audit log has every one. */
const KEEP_ENDED = 1000;

export class RunRegistry {
  private readonly records = new Map<string, RunRecord>();

  register(r: Omit<RunRecord, 'status'>): RunRecord {
    if (this.records.get(r.id)?.status === 'running')
      throw new RampartError('RAMPART_E_CONFLICT', `run ${r.id} is already running`);
    const rec: RunRecord = { ...r, status: 'running' };
    this.records.set(r.id, rec);
    if (this.records.size > KEEP_ENDED * 2) {
      for (const [id, old] of this.records) {
        if (this.records.size <= KEEP_ENDED) break;
        if (old.status !== 'running') this.records.delete(id);
      }
    }
    return rec;
  }

  /** Takes back a run known from the store (the control plane restarted while it ran). */
  restore(r: RunRecord): void {
    this.records.set(r.id, { ...r });
  }

  get(id: string): RunRecord | undefined {
    return this.records.get(id);
  }

  ended(id: string, result: Record<string, unknown>, at: string): RunRecord | undefined {
    const rec = this.records.get(id);
    if (!rec) return undefined;
    if (rec.status === 'running') rec.status = 'ended';
    rec.endedAt = at;
    rec.result = result;
    return rec;
  }

  mark(
    id: string,
    status: 'killed' | 'quarantined',
    evidence?: Evidence,
    by?: { readonly actor: string; readonly reason: string },
  ): void {
    const rec = this.records.get(id);
    if (!rec) return;
    rec.status = status;
    if (evidence) rec.evidence = evidence;
    if (by) {
      rec.endedBy = by.actor;
      rec.endReason = by.reason;
    }
  }

  /**
   * Every known run, newest first. Runs with a cgroup on this host that nobody registered (the
   * control plane restarted while they ran) are listed too, as far as the cgroup tells.
   */
  list(live: ReadonlySet<string>, local: (id: string) => boolean): RunRecord[] {
    const now = Date.now();
    // A registered run with no cgroup is either about to start (registration comes first) or
    // gone without reporting its end (its runner crashed): the latter once it is old enough.
    const out: RunRecord[] = [...this.records.values()].map((r) =>
      r.status === 'running' && !live.has(r.id) && !local(r.id) && now - Date.parse(r.startedAt) > 10_000
        ? { ...r, status: 'ended' }
        : r,
    );
    for (const id of live) {
      if (!this.records.has(id))
        out.push({
          id,
          agent: '?',
          profile: '?',
          workspace: '?',
          command: '?',
          startedAt: '?',
          startedBy: '?',
          status: 'running',
        });
    }
    return out.reverse();
  }
}

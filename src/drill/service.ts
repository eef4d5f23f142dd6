// Drills on the control plane's side: which drills are active (their agents, drill:ID:..., may
// start runs and get tokens only then), what each found, and the last one's figures for /metrics
// and health. The drill itself is run by `rampart drill` (runner.ts) against this API: the
// control plane does not attack itself, it keeps the record. Drills live in the store's meta, so
// every replica answers for the same drills, and each replica follows the others through the
// drill.* events it subscribes to.

import { randomBytes } from 'node:crypto';
import { DRILL_PREFIX, drillOf } from '../core/drill.js';
import type { BusEvent, EventMap, EventType, StreamEvent } from '../core/events.js';
import { RampartError } from '../core/errors.js';
import type { ComponentHealth } from '../core/types.js';
import type { MetaStore } from '../store/types.js';

export type ScenarioStatus = 'held' | 'failed' | 'unavailable';

/** One scenario's outcome, as `rampart drill` reports it. */
export interface ScenarioResult {
  readonly name: string;
  readonly expected: string;
  readonly observed: string;
  readonly status: ScenarioStatus;
  readonly reason?: string;
  readonly runs: readonly string[];
  /** Per repetition, ms from the act: to detection and to containment, when seen. */
  readonly times: readonly { readonly detectMs?: number; readonly containMs?: number }[];
}

export interface Drill {
  readonly id: string;
  readonly by: string;
  readonly scenarios: readonly string[];
  readonly repeat: number;
  readonly started: string;
  readonly expires: string;
  finished?: string;
  results?: readonly ScenarioResult[];
  summary?: EventMap['drill.finished'];
}

/** What the service publishes with: the bus, whose receipt carries the record's number. */
export interface DrillBus {
  publish<K extends EventType>(event: BusEvent<K>): Promise<unknown>;
}

export interface DrillServiceDeps {
  readonly meta: MetaStore;
  readonly bus: DrillBus;
  readonly now: () => number;
}

const KEY = 'drill:';
const LAST = 'drill-last';
const MAX_KEPT = 100;

/** The p-quantile of a non-empty series (nearest rank). */
export const pct = (xs: readonly number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

export class DrillService {
  /** Active drills by id (with their expiry), mirrored from the store and the drill.* events. */
  private readonly active = new Map<string, number>();
  private last: Drill | undefined;

  private constructor(private readonly deps: DrillServiceDeps) {}

  static async start(deps: DrillServiceDeps): Promise<DrillService> {
    const s = new DrillService(deps);
    for (const [, v] of await deps.meta.list(KEY)) {
      const d = JSON.parse(v) as Drill;
      if (!d.finished) s.active.set(d.id, Date.parse(d.expires));
    }
    const lastId = await deps.meta.get(LAST);
    if (lastId) s.last = await s.get(lastId).catch(() => undefined);
    return s;
  }

  /** Why an agent in the drills' namespace may not act now, or undefined (every other agent too). */
  refusal(agent: string): string | undefined {
    if (!agent.startsWith(DRILL_PREFIX)) return undefined;
    const id = drillOf(agent);
    if (!id) return `agent ${agent} is in the drills' namespace (drill:ID:NAME) but names no drill`;
    const until = this.active.get(id);
    if (until === undefined) return `agent ${agent} belongs to drill ${id}, which is not active`;
    if (until <= this.deps.now()) return `agent ${agent} belongs to drill ${id}, which expired`;
    return undefined;
  }

  async begin(
    by: string,
    scenarios: readonly string[],
    repeat: number,
    ttlMs: number,
  ): Promise<Drill & { seq: number }> {
    const id = randomBytes(6).toString('hex');
    const now = this.deps.now();
    const d: Drill = {
      id,
      by,
      scenarios: [...scenarios],
      repeat,
      started: new Date(now).toISOString(),
      expires: new Date(now + ttlMs).toISOString(),
    };
    // On record before its agents may run: a drill that cannot be recorded never begins.
    const receipt = (await this.deps.bus.publish({
      type: 'drill.started',
      severity: 'info',
      source: 'drill',
      data: { id, by, scenarios: d.scenarios.slice(0, 100), repeat, expires: d.expires },
    })) as { seq?: number };
    await this.deps.meta.set(KEY + id, JSON.stringify(d));
    this.active.set(id, now + ttlMs);
    await this.prune();
    return { ...d, seq: receipt.seq ?? 0 };
  }

  async get(id: string): Promise<Drill> {
    const v = await this.deps.meta.get(KEY + id);
    if (!v) throw new RampartError('RAMPART_E_NOT_FOUND', `no drill ${id}`);
    return JSON.parse(v) as Drill;
  }

  async list(): Promise<Drill[]> {
    const all = (await this.deps.meta.list(KEY)).map(([, v]) => JSON.parse(v) as Drill);
    return all.sort((a, b) => b.started.localeCompare(a.started)).map(({ results: _r, ...d }) => d as Drill);
  }

  /** Records what a drill found: a scenario_failed event for each scenario that did not hold, then the summary. */
  async finish(id: string, by: string, results: readonly ScenarioResult[]): Promise<Drill> {
    const d = await this.get(id);
    if (d.finished) throw new RampartError('RAMPART_E_CONFLICT', `drill ${id} finished at ${d.finished}`);
    const count = (s: ScenarioStatus): number => results.filter((r) => r.status === s).length;
    for (const r of results.filter((x) => x.status === 'failed'))
      await this.deps.bus.publish({
        type: 'drill.scenario_failed',
        severity: 'high',
        source: 'drill',
        outcome: 'failure',
        data: {
          id,
          scenario: r.name,
          expected: r.expected,
          observed: r.observed,
          reason: r.reason ?? '',
          runs: r.runs.slice(0, 50),
        },
      });
    const contain = results.flatMap((r) =>
      r.times.flatMap((t) => (t.containMs === undefined ? [] : [t.containMs])),
    );
    const now = this.deps.now();
    const summary: EventMap['drill.finished'] = {
      id,
      by,
      held: count('held'),
      failed: count('failed'),
      unavailable: count('unavailable'),
      durationMs: now - Date.parse(d.started),
      ...(contain.length > 0
        ? {
            containMs: {
              p50: pct(contain, 0.5),
              p99: pct(contain, 0.99),
              max: Math.max(...contain),
              n: contain.length,
            },
          }
        : {}),
      scenarios: results.map((r) => ({
        name: r.name,
        expected: r.expected,
        observed: r.observed,
        status: r.status,
      })),
    };
    const done: Drill = { ...d, finished: new Date(now).toISOString(), results, summary };
    await this.deps.meta.set(KEY + id, JSON.stringify(done));
    await this.deps.meta.set(LAST, id);
    this.active.delete(id);
    this.last = done;
    await this.deps.bus.publish({
      type: 'drill.finished',
      severity: summary.failed > 0 ? 'high' : 'info',
      source: 'drill',
      outcome: summary.failed > 0 ? 'failure' : 'success',
      data: summary,
    });
    return done;
  }

  /** Another replica's drill began or ended: follow it. */
  async follow(se: StreamEvent): Promise<void> {
    if (se.event.type === 'drill.started') {
      const d = se.event.data as EventMap['drill.started'];
      if (!this.last || this.last.id !== d.id) this.active.set(d.id, Date.parse(d.expires));
    } else if (se.event.type === 'drill.finished') {
      const d = se.event.data as EventMap['drill.finished'];
      this.active.delete(d.id);
      if (this.last?.id !== d.id) this.last = await this.get(d.id).catch(() => this.last);
    }
  }

  activeCount(): number {
    const now = this.deps.now();
    return [...this.active.values()].filter((t) => t > now).length;
  }

  lastSummary(): EventMap['drill.finished'] | undefined {
    return this.last?.summary;
  }

  lastFinished(): string | undefined {
    return this.last?.finished;
  }

  /** A drill whose scenarios did not all hold says so in health until a drill holds again. */
  health(): ComponentHealth {
    const s = this.last?.summary;
    if (!s) return { status: 'ok', detail: `no drill on record; ${this.activeCount()} active` };
    const when = `the last drill (${s.id}, ${this.last!.finished})`;
    if (s.failed > 0)
      return {
        status: 'degraded',
        detail: `${when}: ${s.failed} scenario(s) did not hold: ${s.scenarios
          .filter((x) => x.status === 'failed')
          .map((x) => x.name)
          .join(', ')}`,
      };
    return { status: 'ok', detail: `${when}: ${s.held} held, ${s.unavailable} not available` };
  }

  /** Keeps the newest drills: the store holds a bounded history. */
  private async prune(): Promise<void> {
    const all = await this.list();
    for (const d of all.slice(MAX_KEPT)) if (d.finished) await this.deps.meta.delete(KEY + d.id);
  }
}

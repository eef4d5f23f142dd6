// Component health. Each component registers a check; /v1/health reports every component and the
// worst status overall. A check that throws or does not answer in time counts as failing: health
// must fail closed too.

import type { ComponentHealth, HealthCheck, HealthStatus } from '../core/types.js';
import { messageOf } from '../core/errors.js';
import type { EventPublisher } from '../core/events.js';

const RANK: Record<HealthStatus, number> = { ok: 0, degraded: 1, failing: 2 };
const CHECK_TIMEOUT_MS = 2000;

export interface HealthReport {
  readonly status: HealthStatus;
  readonly components: Readonly<Record<string, ComponentHealth>>;
}

export class HealthRegistry {
  private readonly checks = new Map<string, HealthCheck>();
  private last = new Map<string, HealthStatus>();

  register(name: string, check: HealthCheck): void {
    if (this.checks.has(name)) throw new TypeError(`health check ${name} is registered twice`);
    this.checks.set(name, check);
  }

  async report(): Promise<HealthReport> {
    const entries = await Promise.all(
      [...this.checks].map(async ([name, check]): Promise<[string, ComponentHealth]> => {
        try {
          return [name, await withTimeout(Promise.resolve(check()), CHECK_TIMEOUT_MS)];
        } catch (e) {
          return [name, { status: 'failing', detail: `health check failed: ${messageOf(e)}` }];
        }
      }),
    );
    let status: HealthStatus = 'ok';
    for (const [, h] of entries) if (RANK[h.status] > RANK[status]) status = h.status;
    return { status, components: Object.fromEntries(entries) };
  }

  /**
   * Checks every `ms` and publishes health.changed for each change: every second, so a component
   * that fails pages at once. One report at a time, so changes are computed in order even when a
   * check is slow. Returns the function that stops it.
   */
  watch(bus: EventPublisher, ms: number): () => void {
    let checking = false;
    const timer = setInterval(() => {
      if (checking) return;
      checking = true;
      void this.report().then((r) => {
        checking = false;
        for (const data of this.changes(r))
          bus
            .publish({
              type: 'health.changed',
              severity: data.to === 'ok' ? 'info' : 'high',
              source: 'server',
              data,
            })
            .catch(() => undefined);
      });
    }, ms);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Components whose status changed since the last call, for health.changed events. */
  changes(
    report: HealthReport,
  ): { component: string; from: HealthStatus; to: HealthStatus; detail?: string }[] {
    const out: { component: string; from: HealthStatus; to: HealthStatus; detail?: string }[] = [];
    for (const [name, h] of Object.entries(report.components)) {
      const before = this.last.get(name) ?? 'ok';
      if (before !== h.status)
        out.push({ component: name, from: before, to: h.status, ...(h.detail ? { detail: h.detail } : {}) });
    }
    this.last = new Map(Object.entries(report.components).map(([n, h]) => [n, h.status]));
    return out;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * The store's health: it answers, and, for a store shared between machines, this replica's clock
 * agrees with the database's within the tokens' tolerance. A replica whose clock is off issues
 * tokens other replicas refuse (or accept too long), signs checkpoints with wrong times and lets
 * leases run out early or late: it says so, as failing, until its clock is put right.
 */
export async function storeHealth(
  store: { readonly driver: string; ping(): Promise<void>; clock?(): Promise<number> },
  toleranceMs: number,
): Promise<ComponentHealth> {
  await store.ping();
  if (!store.clock) return { status: 'ok', detail: store.driver };
  const before = Date.now();
  const theirs = await store.clock();
  const after = Date.now();
  // Their reading was taken somewhere in the round trip: the middle, give or take half of it.
  const skew = (before + after) / 2 - theirs;
  if (Math.abs(skew) > toleranceMs + (after - before) / 2)
    return {
      status: 'failing',
      detail: `${store.driver}: this replica's clock is ${(Math.abs(skew) / 1000).toFixed(1)} s ${skew > 0 ? 'ahead of' : 'behind'} the store's (tolerance identity.clock_skew, ${toleranceMs / 1000} s)`,
    };
  return { status: 'ok', detail: store.driver };
}

// The circuit breaker: automatic response must stop itself before it does more harm than the
// attacker. Every action a playbook takes is charged to three scopes (its playbook, its action,
// its agent), each with a limit per sliding window. The first charge past a limit trips that
// scope; a tripped scope stays tripped until a person resets it (people decide, not a timer an
// attacker can wait out). The engine reads `tripped` to stop destructive actions and freeze
// instead; this class only counts.

import { drillOf } from '../core/drill.js';

export interface BreakerLimits {
  readonly windowMs: number;
  readonly perPlaybook: number;
  readonly perAction: number;
  readonly perAgent: number;
}

export interface Trip {
  readonly scope: string;
  readonly limit: number;
  readonly at: number;
}

/** The scopes one action is charged to. */
export function scopesOf(playbook: string, action: string, agent: string): string[] {
  const scopes = [`playbook:${playbook}`, `action:${action}`, ...(agent ? [`agent:${agent}`] : [])];
  // A drill's actions count against the drill alone: a drill of 20 kills must not trip the
  // breaker that guards every real agent (and its trip pages nobody: notify, incidents).
  const drill = drillOf(agent);
  return drill ? scopes.map((x) => `drill:${drill}/${x}`) : scopes;
}

export class Breaker {
  /** Charge times per scope, oldest first, never more than the scope's limit. */
  private readonly charges = new Map<string, number[]>();
  private readonly trips = new Map<string, Trip>();

  constructor(private readonly limits: BreakerLimits) {}

  private limitOf(full: string): number {
    const scope = full.startsWith('drill:') ? full.slice(full.indexOf('/') + 1) : full;
    if (scope.startsWith('playbook:')) return this.limits.perPlaybook;
    if (scope.startsWith('action:')) return this.limits.perAction;
    return this.limits.perAgent;
  }

  /** The first of `scopes` that is tripped, if any. */
  tripped(scopes: readonly string[]): Trip | undefined {
    for (const s of scopes) {
      const t = this.trips.get(s);
      if (t) return t;
    }
    return undefined;
  }

  /**
   * Charges one action to every scope, or trips the first scope it would take past its limit
   * (charging nothing). Returns the trip, `fresh` when this call tripped it.
   */
  charge(scopes: readonly string[], now: number): { trip: Trip; fresh: boolean } | undefined {
    const old = this.tripped(scopes);
    if (old) return { trip: old, fresh: false };
    const since = now - this.limits.windowMs;
    for (const s of scopes) {
      const times = this.charges.get(s);
      if (!times) continue;
      while (times.length > 0 && times[0]! <= since) times.shift();
      const limit = this.limitOf(s);
      if (times.length >= limit) {
        const trip = { scope: s, limit, at: now };
        this.trips.set(s, trip);
        return { trip, fresh: true };
      }
    }
    for (const s of scopes) {
      let times = this.charges.get(s);
      if (!times) this.charges.set(s, (times = []));
      times.push(now);
    }
    // Scopes whose charges have all aged out are forgotten, so the map is bounded by what is live.
    if (this.charges.size > 10_000)
      for (const [s, times] of this.charges) if ((times.at(-1) ?? 0) <= since) this.charges.delete(s);
    return undefined;
  }

  /** Takes back a trip kept in the store (a restart does not reset the breaker). */
  restore(scope: string, limit: number, at: number): void {
    this.trips.set(scope, { scope, limit, at });
  }

  /** Resets one scope, or every one; returns the scopes reset. */
  reset(scope?: string): string[] {
    const which = scope === undefined ? [...this.trips.keys()] : this.trips.has(scope) ? [scope] : [];
    for (const s of which) {
      this.trips.delete(s);
      this.charges.delete(s);
    }
    return which;
  }

  /** Every tripped scope. */
  list(): Trip[] {
    return [...this.trips.values()];
  }
}

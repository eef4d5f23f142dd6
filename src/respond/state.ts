// Containment that outlives a request: blocked agents, severed external traffic, timed bans and
// tripped breakers. Each lives under its own key in the store's meta (so two replicas changing
// different things never overwrite each other), survives restarts, and reaches every replica
// sharing the store at once: a change is written, then announced on the store's notifications,
// and every replica (this one included) re-reads the keys and applies what changed to its own
// egress proxy. A replica that misses a notification catches up on its next poll.

import type { MetaStore, Notifications } from '../store/types.js';

export const STATE_CHANNEL = 'rampart_respond_state';
const PREFIX = 'respond.';

export interface Mark {
  readonly by: string;
  readonly reason: string;
  /** ISO time. */
  readonly at: string;
}

export interface Ban extends Mark {
  /** Epoch ms when it lifts. */
  readonly until: number;
}

export interface Containment {
  readonly severed: Mark | undefined;
  readonly blocked: ReadonlyMap<string, Mark>;
  readonly bans: ReadonlyMap<string, Ban>;
  /** Tripped breaker scopes. */
  readonly trips: ReadonlyMap<string, Mark & { limit: number }>;
}

export interface StateDeps {
  readonly meta: MetaStore;
  readonly notifications?: Notifications;
  /** Applies a new state to this replica (egress sever and bans); called after every change. */
  readonly apply: (next: Containment, prev: Containment) => void;
  readonly onError: (e: unknown) => void;
  readonly now: () => number;
}

const EMPTY: Containment = { severed: undefined, blocked: new Map(), bans: new Map(), trips: new Map() };

export class ContainmentState {
  private current: Containment = EMPTY;
  private readonly unsubscribe: (() => void) | undefined;
  private readonly timer: NodeJS.Timeout;
  private loading: Promise<void> | undefined;
  private again = false;

  private constructor(private readonly deps: StateDeps) {
    this.unsubscribe = deps.notifications?.subscribe(STATE_CHANNEL, () => void this.refresh());
    // Bans lift on time, and a missed notification is caught up.
    this.timer = setInterval(() => void this.refresh(), 1_000);
    this.timer.unref();
  }

  static async open(deps: StateDeps): Promise<ContainmentState> {
    const s = new ContainmentState(deps);
    await s.load();
    return s;
  }

  get state(): Containment {
    return this.current;
  }

  /** Why the agent is blocked, or undefined. */
  blocked(agent: string): string | undefined {
    const b = this.current.blocked.get(agent);
    return b && `agent ${agent} is blocked since ${b.at} by ${b.by}: ${b.reason}`;
  }

  async setSevered(mark: Mark | undefined): Promise<void> {
    await this.write('respond.severed', mark);
  }

  async setBlocked(agent: string, mark: Mark | undefined): Promise<void> {
    await this.write(`respond.block.${agent}`, mark);
  }

  async setBan(target: string, ban: Ban | undefined): Promise<void> {
    await this.write(`respond.ban.${target}`, ban);
  }

  async setTrip(scope: string, trip: (Mark & { limit: number }) | undefined): Promise<void> {
    await this.write(`respond.trip.${scope}`, trip);
  }

  /** Writes one key (undefined: removes it), then tells every replica; applied here before it resolves. */
  private async write(key: string, value: unknown): Promise<void> {
    if (value === undefined) await this.deps.meta.delete(key);
    else await this.deps.meta.set(key, JSON.stringify(value));
    await this.load();
    await this.deps.notifications?.publish(STATE_CHANNEL, key).catch(this.deps.onError);
  }

  /** Re-reads the state; concurrent calls share one read and one more after it. */
  private refresh(): Promise<void> {
    return this.load().catch(this.deps.onError);
  }

  private load(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      try {
        do {
          this.again = false;
          await this.read();
        } while (this.again);
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  private async read(): Promise<void> {
    const rows = await this.deps.meta.list(PREFIX);
    const now = this.deps.now();
    let severed: Mark | undefined;
    const blocked = new Map<string, Mark>();
    const bans = new Map<string, Ban>();
    const trips = new Map<string, Mark & { limit: number }>();
    const expired: string[] = [];
    for (const [key, text] of rows) {
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        continue;
      }
      const rest = key.slice(PREFIX.length);
      if (rest === 'severed') severed = v as Mark;
      else if (rest.startsWith('block.')) blocked.set(rest.slice(6), v as Mark);
      else if (rest.startsWith('trip.')) trips.set(rest.slice(5), v as Mark & { limit: number });
      else if (rest.startsWith('ban.')) {
        const ban = v as Ban;
        if (ban.until > now) bans.set(rest.slice(4), ban);
        else expired.push(key);
      }
    }
    // Any replica may remove an expired ban: removing twice is harmless.
    for (const key of expired) await this.deps.meta.delete(key).catch(this.deps.onError);
    const prev = this.current;
    this.current = { severed, blocked, bans, trips };
    this.deps.apply(this.current, prev);
  }

  stop(): void {
    clearInterval(this.timer);
    this.unsubscribe?.();
  }
}

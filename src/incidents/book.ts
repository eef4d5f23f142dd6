// Incidents in the store: each a JSON record under `incident.rec.<id>` in the store's meta, and
// the open incident of each group key ("run:ID", "agent:ID") under `incident.key.<key>`. Every
// change is read, change, compare-and-set, so replicas that apply the same event, or a person's
// command racing a detection, never lose one another's changes. A change is announced over the
// store's notifications so every replica's copy stays current.

import type { MetaStore, Notifications } from '../store/types.js';
import type { Incident } from './model.js';

const REC = 'incident.rec.';
const KEY = 'incident.key.';
const CHANNEL = 'rampart_incidents';
/** Compare-and-set rounds before a change is given up as contended (a bug or a storm of writers). */
const MAX_ROUNDS = 20;

interface Cached {
  raw: string;
  incident: Incident;
}

export class IncidentBook {
  private readonly cache = new Map<string, Cached>();
  private unlisten: (() => void) | undefined;

  private constructor(
    private readonly meta: MetaStore,
    private readonly notifications: Notifications,
    private readonly keep: { readonly ms: number; readonly now: () => number },
  ) {}

  /**
   * Loads the incidents worth keeping in memory (open ones, and those resolved within
   * `keep.ms`: what lists and statistics show), and follows other replicas' changes. Older ones
   * stay in the store, found by id.
   */
  static async open(
    meta: MetaStore,
    notifications: Notifications,
    keep: { readonly ms: number; readonly now: () => number },
  ): Promise<IncidentBook> {
    const book = new IncidentBook(meta, notifications, keep);
    for (const [k, raw] of await meta.list(REC)) {
      const incident = JSON.parse(raw) as Incident;
      if (book.current(incident)) book.cache.set(k.slice(REC.length), { raw, incident });
    }
    book.unlisten = notifications.subscribe(CHANNEL, (id) => void book.reload(id).catch(() => undefined));
    return book;
  }

  stop(): void {
    this.unlisten?.();
  }

  private current(i: Incident): boolean {
    return i.status !== 'resolved' || Date.parse(i.times.resolved ?? '') >= this.keep.now() - this.keep.ms;
  }

  /** Open incidents and those resolved within the kept period, newest first. */
  all(): Incident[] {
    const out: Incident[] = [];
    for (const [id, c] of this.cache)
      if (this.current(c.incident)) out.push(c.incident);
      else this.cache.delete(id);
    return out.sort((a, b) => cmpNewest(a, b));
  }

  /** Incidents not resolved (cheap: no sort, for health every second). */
  openCount(): number {
    let n = 0;
    for (const c of this.cache.values()) if (c.incident.status !== 'resolved') n++;
    return n;
  }

  get(id: string): Incident | undefined {
    return this.cache.get(id)?.incident;
  }

  /** The cached copy, else the store's (an incident another replica opened a moment ago). */
  async find(id: string): Promise<Incident | undefined> {
    return this.cache.get(id)?.incident ?? (await this.reload(id))?.incident;
  }

  /** The store's copy, for a change: the cache may be behind another replica. */
  private async reload(id: string): Promise<Cached | undefined> {
    const raw = await this.meta.get(REC + id);
    if (raw === undefined) return undefined;
    const c = { raw, incident: JSON.parse(raw) as Incident };
    this.cache.set(id, c);
    return c;
  }

  /** Creates it unless an incident of that id exists; resolves with the stored one and whether it is new. */
  async create(incident: Incident): Promise<{ incident: Incident; created: boolean }> {
    const raw = JSON.stringify(incident);
    if (await this.meta.compareAndSet(REC + incident.id, undefined, raw)) {
      this.cache.set(incident.id, { raw, incident });
      await Promise.all(incident.keys.map((k) => this.meta.set(KEY + k, incident.id)));
      await this.notifications.publish(CHANNEL, incident.id);
      return { incident, created: true };
    }
    const stored = (await this.reload(incident.id))!;
    return { incident: stored.incident, created: false };
  }

  /**
   * Applies `change` to the latest copy until it sticks. `change` edits the copy it is given and
   * says whether it changed anything; nothing is written when it did not. Resolves with the
   * incident after the change (or as it is), and whether this call changed it.
   */
  async update(
    id: string,
    change: (i: Incident) => boolean,
  ): Promise<{ incident: Incident; changed: boolean } | undefined> {
    let cur = this.cache.get(id) ?? (await this.reload(id));
    for (let round = 0; round < MAX_ROUNDS && cur; round++) {
      const next = structuredClone(cur.incident);
      if (!change(next)) return { incident: cur.incident, changed: false };
      const raw = JSON.stringify(next);
      if (await this.meta.compareAndSet(REC + id, cur.raw, raw)) {
        this.cache.set(id, { raw, incident: next });
        await this.notifications.publish(CHANNEL, id);
        return { incident: next, changed: true };
      }
      cur = await this.reload(id);
    }
    if (!cur) return undefined;
    throw new Error(`incident ${id} kept changing under ${MAX_ROUNDS} attempts to update it`);
  }

  /** The incident that answers for a group key now, if any. */
  async owner(key: string): Promise<string | undefined> {
    return this.meta.get(KEY + key);
  }

  async claim(key: string, id: string): Promise<void> {
    await this.meta.set(KEY + key, id);
  }

  /** Lets go of a group key (the incident is resolved): the next detection opens a new one. */
  async release(key: string, id: string): Promise<void> {
    await this.meta.compareAndSet(KEY + key, id, '');
  }
}

function cmpNewest(a: Incident, b: Incident): number {
  return a.times.opened < b.times.opened ? 1 : a.times.opened > b.times.opened ? -1 : a.id < b.id ? 1 : -1;
}

// The event stream: every security event, in the order of the audit log, to every subscriber, on
// every replica sharing the store, from any record number.
//
// The audit log is the stream's only source. An event is delivered after its record is durable
// (the bus writes it first), in sequence-number order, whoever published it: a replica learns of
// new records from its own publishes and from the store's notifications, and reads them from the
// store, so events of several replicas arrive interleaved exactly as the log has them.
//
// Back-pressure without loss: one reader keeps the newest events in a bounded window in memory;
// each subscriber has its own cursor and awaits its handler before the next event. A subscriber
// that falls behind the window reads from the store instead (catch-up), so a slow subscriber
// costs store reads, never memory and never events, and never delays the others.
//
// Durable subscribers keep their cursor in the store (meta `events.cursor.<name>`) after each
// batch they handle: restarted, they resume where they stopped. Delivery is at least once: a
// crash between handling an event and storing the cursor delivers it again. The store's write is
// not waited for before the next event: it is a durable commit (a round trip to the writer
// thread, behind whatever the audit log is committing), and a detection waiting behind it was a
// containment milliseconds late. One write per subscriber is in flight, and the newest cursor is
// written after it; what is stored never runs ahead of what was handled.

import type { BusEvent, EventType, StreamEvent } from '../core/events.js';
export type { StreamEvent } from '../core/events.js';
import { messageOf } from '../core/errors.js';
import type { ComponentHealth, Severity } from '../core/types.js';
import type { AuditRecordRow, MetaStore, Notifications } from '../store/types.js';

/** The notification channel a replica signals new event records on (payload: a sequence number). */
export const EVENTS_CHANNEL = 'events';

export interface StreamSource {
  /** Audit records with seq >= from, ascending, at most `limit`. */
  records(from: number, limit: number): Promise<AuditRecordRow[]>;
  /** The number of records (the next record's seq). */
  size(): Promise<number>;
}

export interface SubscribeOptions {
  /** Its name in health, metrics and the stored cursor. Unique per stream. */
  readonly name: string;
  /** Types it wants, or '*' for all. */
  readonly types: readonly EventType[] | '*';
  /**
   * Where it starts: a record number (replay from there), 'now' (events recorded from now on;
   * the default), or 'stored' (a durable subscriber: where it stopped last time, else now).
   */
  readonly from?: number | 'now' | 'stored';
  /** Awaited before the next event: that is the back-pressure. A throw is counted and skipped. */
  handle(e: StreamEvent): void | Promise<void>;
  /** Called whenever it has caught up with the head of the log (a replay that is done). */
  onIdle?(): void;
}

export interface StreamOptions {
  readonly source: StreamSource;
  readonly meta: MetaStore;
  readonly notifications?: Notifications;
  /** Events kept in memory for subscribers that keep up (default 4096). */
  readonly window?: number;
  readonly onError?: (subscription: string, error: unknown) => void;
}

const PAGE = 512;

/** Reads an event back from its audit record; undefined for records that are not events. */
export function eventOf(row: AuditRecordRow): StreamEvent | undefined {
  // Cheap test first: most records are decisions, not events.
  if (!row.entry.includes('"action":"event.')) return undefined;
  const r = JSON.parse(row.entry) as {
    time: string;
    actor: string;
    action: string;
    outcome: BusEvent['outcome'];
    details: { severity: Severity; subject?: BusEvent['subject']; data: unknown };
  };
  if (!r.action.startsWith('event.')) return undefined;
  return {
    seq: row.seq,
    time: r.time,
    event: {
      type: r.action.slice('event.'.length) as EventType,
      severity: r.details.severity,
      source: r.actor.startsWith('component:') ? r.actor.slice('component:'.length) : r.actor,
      ...(r.details.subject ? { subject: r.details.subject } : {}),
      ...(r.outcome ? { outcome: r.outcome } : {}),
      data: r.details.data as BusEvent['data'],
    },
  };
}

interface Sub {
  readonly opts: SubscribeOptions;
  readonly wants: (t: EventType) => boolean;
  /** The next record number it has not seen. */
  cursor: number;
  running: boolean;
  stopped: boolean;
  delivered: number;
  errors: number;
  catchUps: number;
  /** The cursor write in flight, if any; `unsaved` says a newer cursor must follow it. */
  saving: Promise<void> | undefined;
  unsaved: boolean;
}

export class EventStream {
  /** Newest events, ascending by seq; `windowFrom` is the first record number it covers. */
  private window: StreamEvent[] = [];
  private windowFrom = 0;
  /** The next record number the reader has not read. */
  private head = 0;
  private reading: Promise<void> | undefined;
  private again = false;
  private readonly subs = new Map<string, Sub>();
  private readonly size: number;
  private started: Promise<void> | undefined;
  private closed = false;
  private unlisten: (() => void) | undefined;
  /** Cursor writes in flight, of subscribers current or gone. */
  private readonly saving = new Set<Promise<void>>();
  readonly stats = { reads: 0, readErrors: 0, lastError: '' };

  constructor(private readonly opts: StreamOptions) {
    this.size = opts.window ?? 4096;
  }

  /** Positions the reader at the log's end and listens for other replicas' records. */
  start(): Promise<void> {
    return (this.started ??= (async () => {
      this.head = this.windowFrom = await this.opts.source.size();
      this.unlisten = this.opts.notifications?.subscribe(EVENTS_CHANNEL, () => this.wake());
    })());
  }

  /** New records may exist (a local publish, or another replica's notification). */
  wake(): void {
    if (this.closed || !this.started) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = this.read().finally(() => {
      this.reading = undefined;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  async subscribe(opts: SubscribeOptions): Promise<() => void> {
    if (this.subs.has(opts.name)) throw new TypeError(`subscription ${opts.name} exists already`);
    await this.start();
    const from = opts.from ?? 'now';
    let cursor: number;
    if (typeof from === 'number') cursor = from;
    else if (from === 'stored') {
      const stored = await this.opts.meta.get(cursorKey(opts.name));
      cursor = stored === undefined ? this.head : Number(stored);
    } else cursor = this.head;
    const types = opts.types === '*' ? undefined : new Set<string>(opts.types);
    const sub: Sub = {
      opts,
      wants: (t) => types === undefined || types.has(t),
      cursor,
      running: false,
      stopped: false,
      delivered: 0,
      errors: 0,
      catchUps: 0,
      saving: undefined,
      unsaved: false,
    };
    this.subs.set(opts.name, sub);
    this.pump(sub);
    return () => {
      sub.stopped = true;
      this.subs.delete(opts.name);
    };
  }

  /** Events held in memory (at most the window's size, however far behind a subscriber is). */
  get buffered(): number {
    return this.window.length;
  }

  /** How far behind the log each subscriber is, in records. */
  lag(): Record<string, number> {
    return Object.fromEntries([...this.subs].map(([n, s]) => [n, Math.max(0, this.head - s.cursor)]));
  }

  delivered(): Record<string, number> {
    return Object.fromEntries([...this.subs].map(([n, s]) => [n, s.delivered]));
  }

  health(): ComponentHealth {
    if (this.stats.lastError !== '')
      return { status: 'degraded', detail: `cannot read the event log: ${this.stats.lastError}` };
    const behind = Object.entries(this.lag()).filter(([, l]) => l > this.size);
    return behind.length > 0
      ? {
          status: 'degraded',
          detail: `catching up: ${behind.map(([n, l]) => `${n} ${l} behind`).join(', ')}`,
        }
      : { status: 'ok', detail: `${this.subs.size} subscriber(s), record ${this.head}` };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unlisten?.();
    for (const s of this.subs.values()) s.stopped = true;
    await this.reading;
    // The last cursors are written before the store may close.
    while (this.saving.size > 0) await Promise.all(this.saving);
  }

  private async read(): Promise<void> {
    try {
      for (;;) {
        const rows = await this.opts.source.records(this.head, PAGE);
        this.stats.reads++;
        if (rows.length === 0) break;
        for (const row of rows) {
          const e = eventOf(row);
          if (e) this.window.push(e);
        }
        this.head = rows[rows.length - 1]!.seq + 1;
        if (this.window.length > this.size) {
          const drop = this.window.length - this.size;
          this.windowFrom = this.window[drop]!.seq;
          this.window.splice(0, drop);
        }
        if (rows.length < PAGE) break;
      }
      this.stats.lastError = '';
    } catch (e) {
      this.stats.readErrors++;
      this.stats.lastError = messageOf(e);
    }
    for (const s of this.subs.values()) this.pump(s);
  }

  /** Delivers what a subscriber has not seen, one event at a time, until it is at the head. */
  private pump(sub: Sub): void {
    if (sub.running || sub.stopped) return;
    sub.running = true;
    void (async () => {
      try {
        while (!sub.stopped && sub.cursor < this.head) {
          const { events, end } = await this.next(sub);
          for (const e of events) {
            if (sub.stopped) return;
            if (sub.wants(e.event.type)) {
              try {
                await sub.opts.handle(e);
                sub.delivered++;
              } catch (err) {
                sub.errors++;
                this.opts.onError?.(sub.opts.name, err);
              }
            }
            sub.cursor = e.seq + 1;
          }
          sub.cursor = Math.max(sub.cursor, end);
          if (sub.opts.from === 'stored') this.save(sub);
        }
      } catch (err) {
        this.opts.onError?.(sub.opts.name, err);
      } finally {
        sub.running = false;
      }
      if (!sub.stopped && sub.cursor >= this.head) sub.opts.onIdle?.();
    })();
  }

  /** Stores a durable subscriber's cursor: one write in flight, then the newest cursor. */
  private save(sub: Sub): void {
    sub.unsaved = true;
    if (sub.saving) return;
    const saving: Promise<void> = this.writeCursor(sub).finally(() => {
      sub.saving = undefined;
      this.saving.delete(saving);
      // A cursor handled between the loop's last check and here.
      if (sub.unsaved) this.save(sub);
    });
    sub.saving = saving;
    this.saving.add(saving);
  }

  private async writeCursor(sub: Sub): Promise<void> {
    while (sub.unsaved) {
      sub.unsaved = false;
      await this.opts.meta.set(cursorKey(sub.opts.name), String(sub.cursor)).catch((err: unknown) => {
        this.opts.onError?.(sub.opts.name, err);
      });
    }
  }

  /**
   * The events after a subscriber's cursor, from the window when it covers them, else from the
   * store; and `end`, the record number after the last record this covers (events or not).
   */
  private async next(sub: Sub): Promise<{ events: StreamEvent[]; end: number }> {
    if (sub.cursor >= this.windowFrom) {
      const i = this.window.findIndex((e) => e.seq >= sub.cursor);
      if (i < 0) return { events: [], end: this.head };
      const events = this.window.slice(i, i + PAGE);
      return { events, end: i + PAGE >= this.window.length ? this.head : events[events.length - 1]!.seq + 1 };
    }
    sub.catchUps++;
    const rows = await this.opts.source.records(sub.cursor, PAGE);
    return {
      events: rows.map(eventOf).filter((e): e is StreamEvent => e !== undefined),
      end: rows.length > 0 ? Math.min(rows[rows.length - 1]!.seq + 1, this.head) : sub.cursor,
    };
  }
}

const cursorKey = (name: string): string => `events.cursor.${name}`;

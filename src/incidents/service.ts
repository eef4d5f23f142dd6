// The incidents service: what recorded events do to incidents (a detection opens one or joins the
// open incident of its run or agent; a playbook's action joins it, and its first containment
// stops the time-to-contain clock; a quarantine adds its archive as evidence; a tripped breaker
// or a break-glass request opens a critical one), and what people do (open, acknowledge, assign,
// note, move through the phases, judge, resolve, reopen, tick off tasks).
//
// Every replica may run it. Events are applied by record number (an incident remembers the last
// it applied) and by the event's own time, so every replica computes the same change, the
// store's compare-and-set keeps one, and only the replica whose write landed announces it.

import { drillOf } from '../core/drill.js';
import { RampartError } from '../core/errors.js';
import type { EventMap, EventPublisher, EventType, StreamEvent } from '../core/events.js';
import type { IncidentsSettings } from '../core/settings.js';
import type { Auditor, Log, Severity } from '../core/types.js';
import type { IncidentBook } from './book.js';
import {
  CONTAINING,
  addTo,
  atLeast,
  between,
  blankIncident,
  higher,
  incidentSeverity,
  keep,
  statsOf,
  type Incident,
  type IncidentKind,
  type IncidentStats,
} from './model.js';
import type { RunbookSet } from './runbooks.js';
import { announceChanged, announceOpened } from './announce.js';
import { IncidentDesk } from './desk.js';

export interface IncidentsServiceOptions {
  readonly settings: IncidentsSettings;
  readonly book: IncidentBook;
  readonly runbooks: RunbookSet;
  readonly bus: EventPublisher;
  readonly auditor: Auditor;
  /** The time of a record (a detection's first triggering event), or undefined. */
  readonly recordTime: (seq: number) => Promise<string | undefined>;
  /** The host (installation and machine) that keeps a run, for the observables. */
  readonly runHost?: (run: string) => Promise<string | undefined>;
  /** This replica, unique: who created an incident announces it. */
  readonly replica: string;
  readonly log: Log;
  readonly now?: () => number;
}

/** The event types the service follows. */
export const FOLLOWED: readonly EventType[] = [
  'detect.detection',
  'auth.rejected',
  'respond.action',
  'respond.breaker',
  'sandbox.quarantined',
  'breakglass.requested',
  'breakglass.approved',
  'breakglass.denied',
  'breakglass.used',
  'breakglass.ended',
  'breakglass.reviewed',
  'drill.scenario_failed',
];

export class IncidentsService {
  readonly stats = { applied: 0, opened: 0, joined: 0, failures: 0 };
  private lastError: { seq: number; since: string; error: string } | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;

  /** What people do to incidents. */
  readonly desk: IncidentDesk;

  constructor(private readonly o: IncidentsServiceOptions) {
    this.desk = new IncidentDesk({
      book: o.book,
      bus: o.bus,
      auditor: o.auditor,
      replica: o.replica,
      groupKeys: (run, agent) => this.groupKeys(run, agent),
      find: (id) => this.find(id),
      now: () => this.now,
    });
  }

  private get now(): number {
    return (this.o.now ?? Date.now)();
  }

  all(): Incident[] {
    return this.o.book.all();
  }

  get(id: string): Incident {
    const i = this.o.book.get(id);
    if (!i) throw new RampartError('RAMPART_E_NOT_FOUND', `no incident ${id}`);
    return i;
  }

  /** The incident, from the store when this replica has not seen it yet. */
  async find(id: string): Promise<Incident> {
    const i = await this.o.book.find(id);
    if (!i) throw new RampartError('RAMPART_E_NOT_FOUND', `no incident ${id}`);
    return i;
  }

  statsSince(since: number): IncidentStats {
    return statsOf(this.o.book.all(), since);
  }

  health(): { status: 'ok' | 'degraded'; detail: string } {
    if (this.lastError)
      return {
        status: 'degraded',
        detail: `record ${this.lastError.seq} could not be applied to incidents since ${this.lastError.since} (retrying; later events wait): ${this.lastError.error}`,
      };
    return { status: 'ok', detail: `${this.o.book.openCount()} open incident(s)` };
  }

  /** Stops retrying (the component is stopping). */
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  /**
   * A recorded event. A failure (the store unreachable) is retried with backoff until it
   * applies: later events wait (the stream holds them for this subscriber alone), nothing is
   * skipped, and health says which record is stuck and why. Applying is idempotent, so a retry
   * after a partial failure changes nothing twice.
   */
  async handle(se: StreamEvent): Promise<void> {
    for (let wait = 100; !this.stopped; wait = Math.min(wait * 2, 5000)) {
      try {
        await this.apply(se);
        this.stats.applied++;
        this.lastError = undefined;
        return;
      } catch (e) {
        this.stats.failures++;
        const error = (e as Error).message;
        if (this.lastError?.seq !== se.seq)
          this.o.log.error(
            { err: error, seq: se.seq, type: se.event.type },
            'incident update failed; retrying',
          );
        this.lastError = {
          seq: se.seq,
          since: this.lastError?.seq === se.seq ? this.lastError.since : new Date(this.now).toISOString(),
          error,
        };
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    }
  }

  private async apply(se: StreamEvent): Promise<void> {
    const t = se.event.type;
    if (t === 'detect.detection') return this.detection(se, se.event.data as EventMap['detect.detection']);
    if (t === 'respond.action') return this.action(se, se.event.data as EventMap['respond.action']);
    if (t === 'sandbox.quarantined') {
      const d = se.event.data as EventMap['sandbox.quarantined'];
      const id = await this.openFor([`run:${d.run}`], se.time);
      if (!id) return;
      await this.change(id, se, (i) => {
        if (i.evidence.some((e) => e.sha256 === d.sha256)) return false;
        keep(i.evidence, {
          seq: se.seq,
          kind: 'quarantine',
          run: d.run,
          archive: d.archive,
          sha256: d.sha256,
          bytes: d.bytes,
        });
        addTo(i.observables.files, d.sha256);
        return true;
      });
      return;
    }
    if (t === 'respond.breaker') {
      const d = se.event.data as EventMap['respond.breaker'];
      if (d.state !== 'tripped') return;
      await this.openOrJoin(se, {
        keys: [`breaker:${d.scope}`],
        kind: 'breaker',
        title: `circuit breaker tripped: ${d.scope}`,
        severity: 'critical',
        firstEvent: se.time,
        // A drill's own breaker (drill:ID/...): the drill's incident, out of the statistics.
        build: (i) => {
          const drill = /^drill:([a-z0-9]+)\//.exec(d.scope)?.[1];
          if (drill) {
            i.drill = drill;
            addTo(i.tags, 'drill');
          }
        },
      });
      return;
    }
    if (t.startsWith('breakglass.')) return this.breakglass(se);
    if (t === 'drill.scenario_failed') {
      // A control that did not hold in a drill is a real finding: one incident per drill.
      const d = se.event.data as EventMap['drill.scenario_failed'];
      await this.openOrJoin(se, {
        keys: [`drillfailed:${d.id}`],
        kind: 'drill',
        title: `drill ${d.id}: ${d.scenario} expected ${d.expected}, observed ${d.observed}`.slice(0, 200),
        severity: 'high',
        firstEvent: se.time,
        build: (i) => {
          addTo(i.tags, 'drill-failed');
          for (const r of d.runs) addTo(i.observables.runs, r);
          i.notes.push({ by: 'rampart', at: se.time, text: `${d.scenario}: ${d.reason}`.slice(0, 2000) });
        },
      });
      return;
    }
    if (t === 'auth.rejected') {
      // A token of an incident's agent refused (revoked, replayed, used elsewhere): its id is an observable.
      const d = se.event.data as EventMap['auth.rejected'];
      if (!d.sub || !d.jti) return;
      const id = await this.openFor(this.groupKeys(undefined, d.sub), se.time);
      if (id) await this.change(id, se, (i) => addTo(i.observables.tokens, d.jti));
    }
  }

  /** The host of a run, remembered (a run never moves). */
  private readonly hosts = new Map<string, string>();
  private async hostOf(run: string | undefined): Promise<string | undefined> {
    if (!run || !this.o.runHost) return undefined;
    let h = this.hosts.get(run);
    if (h === undefined) {
      h = (await this.o.runHost(run).catch(() => undefined)) ?? '';
      if (this.hosts.size >= 10_000) this.hosts.delete(this.hosts.keys().next().value!);
      this.hosts.set(run, h);
    }
    return h || undefined;
  }

  groupKeys(run: string | undefined, agent: string | undefined): string[] {
    const keys: string[] = [];
    if (run && this.o.settings.groupBy.includes('run')) keys.push(`run:${run}`);
    if (agent && this.o.settings.groupBy.includes('agent')) keys.push(`agent:${agent}`);
    return keys;
  }

  /** The open incident answering for one of `keys` whose last activity is within the window of `time`. */
  private async openFor(keys: readonly string[], time: string): Promise<string | undefined> {
    for (const k of keys) {
      const id = await this.o.book.owner(k);
      if (!id) continue;
      const i = await this.o.book.find(id);
      if (!i || i.status === 'resolved') continue;
      const idle = between(i.times.lastActivity, time);
      if (idle === undefined || idle <= this.o.settings.windowMs) return id;
    }
    return undefined;
  }

  private async detection(se: StreamEvent, d: EventMap['detect.detection']): Promise<void> {
    const keys = this.groupKeys(d.run, d.agent);
    const existing = await this.openFor(keys, se.time);
    const host = await this.hostOf(d.run);
    const join = (i: Incident): void => {
      addTo(i.observables.hosts, host);
      keep(i.detections, {
        seq: se.seq,
        time: se.time,
        rule: d.rule,
        priority: d.priority,
        count: d.count,
        output: d.output.slice(0, 500),
      });
      i.detectionCount += d.repeat ? Math.max(0, d.count - 1) : d.count;
      addTo(i.observables.agents, d.agent);
      addTo(i.observables.runs, d.run);
      addTo(i.observables.destinations, d.fields?.['net.host']);
      addTo(i.observables.destinations, d.fields?.['net.address']);
      for (const tag of d.tags) addTo(i.tags, tag);
      for (const k of keys) addTo(i.keys, k);
      // A drill's run: the incident is the drill's, kept out of the statistics and paging nobody.
      const drill = drillOf(d.agent);
      if (drill) {
        i.drill ??= drill;
        addTo(i.tags, 'drill');
      }
      for (const r of this.o.runbooks.forDetection(d.rule, d.tags)) {
        if (i.runbooks.includes(r.name)) continue;
        i.runbooks.push(r.name);
        for (const text of r.tasks) i.tasks.push({ runbook: r.name, text, done: false });
      }
      i.times.lastActivity = se.time;
    };
    if (existing) {
      const before = this.o.book.get(existing)?.severity;
      const r = await this.change(existing, se, (i) => {
        join(i);
        i.severity = higher(i.severity, incidentSeverity(d.priority));
        return true;
      });
      this.stats.joined++;
      if (r?.changed && before && r.incident.severity !== before)
        await announceChanged(this.o.bus, r.incident, 'rampart', {
          change: 'severity',
          from: before,
          to: r.incident.severity,
        });
      return;
    }
    if (!atLeast(d.priority, this.o.settings.minSeverity) || d.repeat) return;
    const firstEvent = d.events.length > 0 ? await this.o.recordTime(d.events[0]!) : undefined;
    await this.openOrJoin(se, {
      keys,
      kind: 'detection',
      title: `${drillOf(d.agent) ? '[drill] ' : ''}${d.rule}: ${d.output}`.slice(0, 200),
      severity: incidentSeverity(d.priority),
      firstEvent: firstEvent ?? se.time,
      build: join,
    });
  }

  private async action(se: StreamEvent, d: EventMap['respond.action']): Promise<void> {
    // The incident its detection opened, else its run's or agent's.
    let id: string | undefined;
    if (d.detection !== undefined && this.o.book.get(`INC-${d.detection}`)) id = `INC-${d.detection}`;
    id ??= await this.openFor(this.groupKeys(d.run, d.agent), se.time);
    const ref = {
      seq: se.seq,
      time: se.time,
      action: d.action,
      outcome: d.outcome,
      target: d.target,
      by: d.by,
      ...(d.playbook ? { playbook: d.playbook } : {}),
    };
    const host = await this.hostOf(d.run);
    const add = (i: Incident): void => {
      keep(i.actions, ref);
      addTo(i.observables.hosts, host);
      addTo(i.observables.runs, d.run);
      addTo(i.observables.agents, d.agent);
      i.times.lastActivity = se.time;
      if (CONTAINING.has(d.action) && (d.outcome === 'done' || d.outcome === 'gone') && !i.times.contained) {
        i.times.contained = se.time;
        if (i.phase === 'detection' || i.phase === 'analysis') {
          i.history.push({ at: se.time, by: 'rampart', change: 'phase', from: i.phase, to: 'containment' });
          i.phase = 'containment';
        }
      }
    };
    if (id) {
      await this.change(id, se, (i) => {
        add(i);
        return true;
      });
      return;
    }
    // A playbook acting on its own (a rate limit, a breaker's freeze) opens one; a person's does not.
    if (!d.playbook || d.outcome === 'dry_run') return;
    await this.openOrJoin(se, {
      keys: this.groupKeys(d.run, d.agent),
      kind: 'action',
      title: `${d.playbook}: ${d.action} ${d.target} (${d.outcome})`.slice(0, 200),
      severity: d.outcome === 'failed' ? 'high' : 'medium',
      firstEvent: se.time,
      build: add,
    });
  }

  private async breakglass(se: StreamEvent): Promise<void> {
    const d = se.event.data as { id: string; requester: string; by?: string } & Record<string, unknown>;
    const key = `breakglass:${d.id}`;
    if (se.event.type === 'breakglass.requested') {
      const r = se.event.data as EventMap['breakglass.requested'];
      await this.openOrJoin(se, {
        keys: [key],
        kind: 'breakglass',
        title:
          `break-glass ${r.emergency ? 'EMERGENCY ' : ''}request by ${r.requester}: ${r.scopes.join(', ')}: ${r.reason}`.slice(
            0,
            200,
          ),
        severity: 'critical',
        firstEvent: se.time,
        build: (i) => {
          i.breakglass = { id: d.id, reviewed: false };
          addTo(i.tags, 'breakglass');
        },
      });
      return;
    }
    const id = await this.o.book.owner(key);
    if (!id) return;
    await this.change(id, se, (i) => {
      // Nothing was used when a request was denied or lapsed: there is nothing to review.
      const unused =
        se.event.type === 'breakglass.denied' ||
        (se.event.type === 'breakglass.ended' && d['why'] === 'lapsed');
      if ((se.event.type === 'breakglass.reviewed' || unused) && i.breakglass) i.breakglass.reviewed = true;
      keep(i.notes, {
        at: se.time,
        by: d.by ?? d.requester,
        text: `${se.event.type}${se.event.type === 'breakglass.reviewed' ? `: ${String(d['text'])}` : ''}`,
      });
      i.times.lastActivity = se.time;
      return true;
    });
  }

  /** Opens an incident for `keys` unless an open one answers for them (then joins it). */
  private async openOrJoin(
    se: StreamEvent,
    o: {
      keys: string[];
      kind: IncidentKind;
      title: string;
      severity: Severity;
      firstEvent: string;
      build?: (i: Incident) => void;
    },
  ): Promise<void> {
    const existing = await this.openFor(o.keys, se.time);
    if (existing) {
      await this.change(existing, se, (i) => {
        o.build?.(i);
        i.times.lastActivity = se.time;
        return true;
      });
      return;
    }
    const incident = blankIncident(
      this.o.replica,
      `INC-${se.seq}`,
      o.kind,
      o.title,
      o.severity,
      se.time,
      o.firstEvent,
      o.keys,
    );
    incident.seq = se.seq;
    o.build?.(incident);
    const r = await this.o.book.create(incident);
    if (!r.created) return;
    this.stats.opened++;
    await announceOpened(this.o.bus, r.incident, 'rampart');
  }

  /** Applies a recorded event's change once: an incident that has seen this record (or a later one) is left as it is. */
  private change(id: string, se: StreamEvent, fn: (i: Incident) => boolean) {
    return this.o.book.update(id, (i) => {
      if (i.seq >= se.seq) return false;
      if (!fn(i)) return false;
      i.seq = se.seq;
      return true;
    });
  }
}

// What people do to incidents: open one by hand, acknowledge, assign, note, move through the
// phases, judge, tick off tasks, resolve, reopen. Each change lands by compare-and-set on the
// latest copy (a detection joining at the same moment is kept), goes into the incident's
// history, and is announced as an incident.* event. The routes record the request first.

import { RampartError } from '../core/errors.js';
import type { EventMap, EventPublisher } from '../core/events.js';
import type { Auditor, Severity } from '../core/types.js';
import { announceAcknowledged, announceChanged, announceOpened, announceResolved } from './announce.js';
import type { IncidentBook } from './book.js';
import {
  addTo,
  blankIncident,
  incidentSeverity,
  keep,
  type Incident,
  type Phase,
  type Verdict,
} from './model.js';

export interface DeskOptions {
  readonly book: IncidentBook;
  readonly bus: EventPublisher;
  readonly auditor: Auditor;
  readonly replica: string;
  readonly groupKeys: (run: string | undefined, agent: string | undefined) => string[];
  readonly find: (id: string) => Promise<Incident>;
  readonly now: () => number;
}

export class IncidentDesk {
  constructor(private readonly o: DeskOptions) {}

  /** Opens an incident by hand; its id is its opening record's number. */
  async open(
    by: string,
    o: { title: string; severity: Severity; runs?: string[]; agents?: string[]; note?: string },
  ): Promise<Incident> {
    const receipt = await this.o.auditor.record({
      actor: by,
      action: 'incident.open',
      target: '-',
      outcome: 'success',
      details: { title: o.title, severity: o.severity },
    });
    const keys = [
      ...(o.runs ?? []).flatMap((r) => this.o.groupKeys(r, undefined)),
      ...(o.agents ?? []).flatMap((a) => this.o.groupKeys(undefined, a)),
    ];
    const i = blankIncident(
      this.o.replica,
      `INC-${receipt.seq}`,
      'manual',
      o.title,
      incidentSeverity(o.severity),
      receipt.time,
      receipt.time,
      keys,
    );
    i.seq = receipt.seq;
    for (const r of o.runs ?? []) addTo(i.observables.runs, r);
    for (const a of o.agents ?? []) addTo(i.observables.agents, a);
    if (o.note) i.notes.push({ at: receipt.time, by, text: o.note });
    const r = await this.o.book.create(i);
    await announceOpened(this.o.bus, r.incident, by);
    return r.incident;
  }

  private async person(
    id: string,
    by: string,
    fn: (
      i: Incident,
      at: string,
    ) =>
      | { change: EventMap['incident.changed']['change'] | 'ack' | 'resolve'; from?: string; to?: string }
      | undefined,
  ): Promise<Incident> {
    await this.o.find(id);
    let what: ReturnType<typeof fn>;
    const at = new Date(this.o.now()).toISOString();
    const r = await this.o.book.update(id, (i) => {
      what = fn(i, at);
      if (!what) return false;
      i.history.push({
        at,
        by,
        change: what.change,
        ...(what.from ? { from: what.from } : {}),
        ...(what.to ? { to: what.to } : {}),
      });
      return true;
    });
    if (!r) throw new RampartError('RAMPART_E_NOT_FOUND', `no incident ${id}`);
    const i = r.incident;
    if (!r.changed || !what) return i;
    if (what.change === 'ack') await announceAcknowledged(this.o.bus, i, by);
    else if (what.change === 'resolve') {
      await Promise.all(i.keys.map((k) => this.o.book.release(k, id)));
      await announceResolved(this.o.bus, i, by);
    } else {
      if (what.change === 'reopen') await Promise.all(i.keys.map((k) => this.o.book.claim(k, id)));
      await announceChanged(this.o.bus, i, by, {
        change: what.change,
        ...(what.from ? { from: what.from } : {}),
        ...(what.to ? { to: what.to } : {}),
      });
    }
    return i;
  }

  ack(id: string, by: string): Promise<Incident> {
    return this.person(id, by, (i, at) => {
      if (i.status !== 'open') return undefined;
      i.status = 'acknowledged';
      i.times.acknowledged ??= at;
      i.assignee ??= by;
      return { change: 'ack', to: 'acknowledged' };
    });
  }

  assign(id: string, to: string, by: string): Promise<Incident> {
    return this.person(id, by, (i) => {
      if (i.assignee === to) return undefined;
      const from = i.assignee;
      i.assignee = to;
      return { change: 'assign', ...(from ? { from } : {}), to };
    });
  }

  note(id: string, text: string, by: string): Promise<Incident> {
    return this.person(id, by, (i, at) => {
      keep(i.notes, { at, by, text });
      return { change: 'note' };
    });
  }

  phase(id: string, phase: Phase, by: string): Promise<Incident> {
    return this.person(id, by, (i) => {
      if (i.phase === phase) return undefined;
      const from = i.phase;
      i.phase = phase;
      return { change: 'phase', from, to: phase };
    });
  }

  verdict(id: string, value: Verdict, by: string, reason?: string): Promise<Incident> {
    return this.person(id, by, (i, at) => {
      const from = i.verdict?.value;
      i.verdict = { value, by, at, ...(reason ? { reason } : {}) };
      return { change: 'verdict', ...(from ? { from } : {}), to: value };
    });
  }

  task(id: string, index: number, done: boolean, by: string): Promise<Incident> {
    return this.person(id, by, (i, at) => {
      const t = i.tasks[index];
      if (!t) throw new RampartError('RAMPART_E_BAD_REQUEST', `incident ${id} has no task ${index}`);
      if (t.done === done) return undefined;
      t.done = done;
      t.by = by;
      t.at = at;
      return { change: 'task', to: `${index}:${done ? 'done' : 'open'}` };
    });
  }

  resolve(id: string, by: string, o: { verdict?: Verdict; note?: string } = {}): Promise<Incident> {
    return this.person(id, by, (i, at) => {
      if (i.status === 'resolved') return undefined;
      if (i.breakglass && !i.breakglass.reviewed)
        throw new RampartError(
          'RAMPART_E_CONFLICT',
          `incident ${id} is a break-glass access: record its review first (rampart breakglass review ${i.breakglass.id})`,
        );
      if (o.verdict) i.verdict = { value: o.verdict, by, at };
      if (o.note) keep(i.notes, { at, by, text: o.note });
      i.status = 'resolved';
      i.times.resolved = at;
      return { change: 'resolve', to: 'resolved' };
    });
  }

  reopen(id: string, by: string): Promise<Incident> {
    return this.person(id, by, (i, at) => {
      if (i.status !== 'resolved') return undefined;
      i.status = i.times.acknowledged ? 'acknowledged' : 'open';
      delete i.times.resolved;
      i.times.lastActivity = at;
      return { change: 'reopen', to: i.status };
    });
  }
}

// What the incidents component tells the event stream: an incident opened, changed,
// acknowledged or resolved, with the severity of the incident (what the notification channels
// route on) and its run and agent as the subject when it has exactly one of each.

import type { EventMap, EventPublisher } from '../core/events.js';
import { between, type Incident } from './model.js';

function subjectOf(i: Incident): { subject?: { run?: string; agent?: string } } {
  const run = i.observables.runs.length === 1 ? i.observables.runs[0] : undefined;
  const agent = i.observables.agents.length === 1 ? i.observables.agents[0] : undefined;
  if (!run && !agent) return {};
  return { subject: { ...(run ? { run } : {}), ...(agent ? { agent } : {}) } };
}

/** One incident event: the incident's severity, its run and agent as the subject. */
function tell<
  K extends 'incident.opened' | 'incident.changed' | 'incident.acknowledged' | 'incident.resolved',
>(bus: EventPublisher, type: K, i: Incident, data: EventMap[K]): Promise<unknown> {
  return bus.publish({ type, severity: i.severity, source: 'incidents', ...subjectOf(i), data });
}

export async function announceOpened(bus: EventPublisher, i: Incident, by: string): Promise<void> {
  await tell(bus, 'incident.opened', i, {
    id: i.id,
    title: i.title,
    kind: i.kind,
    by,
    runs: i.observables.runs.slice(0, 20),
    agents: i.observables.agents.slice(0, 20),
    rules: [...new Set(i.detections.map((x) => x.rule))],
    tags: i.tags,
    phase: i.phase,
  });
}

export async function announceChanged(
  bus: EventPublisher,
  i: Incident,
  by: string,
  c: { change: EventMap['incident.changed']['change']; from?: string; to?: string },
): Promise<void> {
  await tell(bus, 'incident.changed', i, {
    id: i.id,
    title: i.title,
    by,
    ...c,
    tags: i.tags,
    phase: i.phase,
  });
}

export async function announceAcknowledged(bus: EventPublisher, i: Incident, by: string): Promise<void> {
  await tell(bus, 'incident.acknowledged', i, { id: i.id, title: i.title, by, tags: i.tags, phase: i.phase });
}

export async function announceResolved(bus: EventPublisher, i: Incident, by: string): Promise<void> {
  await tell(bus, 'incident.resolved', i, {
    id: i.id,
    title: i.title,
    by,
    ...(i.verdict ? { verdict: i.verdict.value } : {}),
    tags: i.tags,
    phase: i.phase,
    durationMs: between(i.times.opened, i.times.resolved) ?? 0,
  });
}

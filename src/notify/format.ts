// What a notification says, per channel type, from one recorded event. Every event reaches here
// from the audit log, so its data is already redacted; a notification carries nothing the record
// does not. The summary is one line a person can act on from a phone: severity, what, where.

import { createHmac } from 'node:crypto';
import type { StreamEvent } from '../core/events.js';
import type { Severity } from '../core/types.js';

/** One line: "[high] detect.detection: nc started in run r-1 (agent a1, run r-1, record 4711)". */
export function summary(se: StreamEvent): string {
  const e = se.event;
  const d = e.data as Record<string, unknown>;
  const str = (k: string): string | undefined => (typeof d[k] === 'string' && d[k] !== '' ? d[k] : undefined);
  const what =
    e.type === 'health.changed'
      ? `${str('component') ?? '?'} is ${str('to') ?? '?'} (was ${str('from') ?? '?'})${str('detail') ? `: ${str('detail')}` : ''}`
      : e.type.startsWith('incident.')
        ? `${str('id') ?? '?'} ${str('title') ?? ''}${str('change') ? ` (${str('change')}${str('to') ? ` to ${str('to')}` : ''})` : ''}${str('by') ? ` by ${str('by')}` : ''}`
        : e.type.startsWith('breakglass.')
          ? `${str('id') ?? '?'} of ${str('requester') ?? '?'}${str('by') ? ` by ${str('by')}` : ''}${str('reason') ? `: ${str('reason')}` : ''}${str('why') ? `: ${str('why')}` : ''}`
          : (str('message') ?? str('output') ?? str('reason') ?? str('error') ?? str('rule') ?? '');
  const where = [
    e.subject?.agent ? `agent ${e.subject.agent}` : undefined,
    e.subject?.run ? `run ${e.subject.run}` : undefined,
    `record ${se.seq}`,
  ].filter(Boolean);
  return `[${e.severity}] ${e.type}${what ? `: ${what}` : ''} (${where.join(', ')})`.slice(0, 1000);
}

/** The JSON a generic webhook receives: the event as recorded, with its summary. */
export function webhookBody(se: StreamEvent): string {
  return JSON.stringify({
    seq: se.seq,
    time: se.time,
    type: se.event.type,
    severity: se.event.severity,
    source: se.event.source,
    ...(se.event.subject ? { subject: se.event.subject } : {}),
    summary: summary(se),
    data: se.event.data,
  });
}

/**
 * The signature header of a webhook: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
 * (Stripe's scheme): the receiver recomputes it and refuses an old `t`, so a captured delivery
 * cannot be replayed later.
 */
export function signature(key: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', key).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** Slack-compatible incoming webhooks take {text}. */
export function slackBody(se: StreamEvent): string {
  return JSON.stringify({ text: summary(se) });
}

const PD_SEVERITY: Record<Severity, 'critical' | 'error' | 'warning' | 'info'> = {
  critical: 'critical',
  high: 'error',
  medium: 'warning',
  low: 'info',
  info: 'info',
};

/**
 * PagerDuty Events API v2. One alert per thing going wrong: an incident keys on its id (opened
 * and changed trigger, acknowledged acknowledges, resolved resolves), a health change on the
 * component (resolved when it is ok again), anything else on the run (or agent) and the rule or
 * event type, so repeats on one run are one page, not a page each.
 */
export function pagerDutyBody(se: StreamEvent, routingKey: string): string {
  const e = se.event;
  const d = e.data as Record<string, unknown>;
  const health = e.type === 'health.changed';
  const incident = e.type.startsWith('incident.');
  // An incident is one alert through its life: trigger, acknowledge, resolve on one dedup_key.
  const dedup = incident
    ? `rampart:incident:${String(d['id'])}`
    : health
      ? `rampart:health:${String(d['component'])}`
      : `rampart:${e.subject?.run ?? e.subject?.agent ?? 'installation'}:${typeof d['rule'] === 'string' ? d['rule'] : e.type}`;
  const action =
    (health && d['to'] === 'ok') || e.type === 'incident.resolved'
      ? 'resolve'
      : e.type === 'incident.acknowledged'
        ? 'acknowledge'
        : 'trigger';
  return JSON.stringify({
    routing_key: routingKey,
    event_action: action,
    dedup_key: dedup,
    ...(action !== 'trigger'
      ? {}
      : {
          payload: {
            summary: summary(se).slice(0, 1024),
            source: 'rampart',
            severity: PD_SEVERITY[e.severity],
            timestamp: se.time,
            component: e.source,
            ...(e.subject?.agent ? { group: e.subject.agent } : {}),
            class: e.type,
            custom_details: { seq: se.seq, ...(e.subject ?? {}), data: e.data },
          },
        }),
  });
}

/** An email's subject and plain-text body. */
export function emailMessage(se: StreamEvent): { subject: string; text: string } {
  const s = summary(se);
  return {
    subject: `[Rampart] ${s.slice(0, 150)}`,
    text: `${s}\n\nRecorded at ${se.time} as record ${se.seq}; check it with rampart audit verify-proof.\n\n${JSON.stringify(se.event.data, null, 2)}\n`,
  };
}

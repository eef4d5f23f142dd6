// The incidents component's door: where people take over from detection and the automatic
// response. It follows recorded events (detections, playbook actions, quarantines, tripped
// breakers, break-glass), groups them so one attack is one incident, attaches runbook tasks,
// keeps the times that make MTTD, MTTA, MTTC and MTTR, and serves timelines and reports whose
// every record carries its inclusion proof. It reads the audit log through an interface and
// keeps incidents in the store's meta; it takes no other component's internals.

import { randomBytes } from 'node:crypto';
import type { Component } from '../core/component.js';
import type { EventPublisher } from '../core/events.js';
import type { IncidentsSettings } from '../core/settings.js';
import type { Auditor, Log } from '../core/types.js';
import type { MetaStore, Notifications } from '../store/types.js';
import { IncidentBook } from './book.js';
import { statsOf } from './model.js';
import { incidentRoutes } from './routes.js';
import type { RunbookSet } from './runbooks.js';
import { FOLLOWED, IncidentsService } from './service.js';
import { buildTimeline, type AuditAccess } from './timeline.js';

export { loadRunbooks } from './runbooks.js';
export { checkReport, extractReport } from './report.js';

export interface IncidentsDeps {
  readonly settings: IncidentsSettings;
  readonly runbooks: RunbookSet;
  readonly meta: MetaStore;
  readonly notifications: Notifications;
  readonly audit: AuditAccess;
  /** The host that keeps a run (the store's run registry). */
  readonly runHost?: (run: string) => Promise<string | undefined>;
  readonly bus: EventPublisher;
  readonly auditor: Auditor;
  readonly log: Log;
  readonly now?: () => number;
}

export interface IncidentsComponent extends Component {
  readonly service: IncidentsService;
}

/** Statistics in /metrics cover this much history. */
const METRICS_PERIOD_MS = 30 * 86_400_000;

export async function startIncidents(deps: IncidentsDeps): Promise<IncidentsComponent> {
  const now = deps.now ?? Date.now;
  const book = await IncidentBook.open(deps.meta, deps.notifications, { ms: METRICS_PERIOD_MS, now });
  const service = new IncidentsService({
    settings: deps.settings,
    book,
    runbooks: deps.runbooks,
    bus: deps.bus,
    auditor: deps.auditor,
    recordTime: async (seq) => {
      const [row] = await deps.audit.records(seq, 1);
      return row ? (JSON.parse(row.entry) as { time: string }).time : undefined;
    },
    ...(deps.runHost ? { runHost: deps.runHost } : {}),
    replica: randomBytes(8).toString('hex'),
    log: deps.log,
    now,
  });
  const timeline = (i: Parameters<typeof buildTimeline>[1]) =>
    buildTimeline(deps.audit, i, {
      leadMs: deps.settings.timelineLeadMs,
      max: deps.settings.timelineMax,
      now: now(),
    });
  // Metrics are read at scrape time; statistics over every incident are cheap but not free, so
  // one computation serves a second of scrapes.
  let cached: { at: number; stats: ReturnType<typeof statsOf> } | undefined;
  const stats = () => {
    const t = now();
    if (!cached || t - cached.at > 1000)
      cached = { at: t, stats: statsOf(book.all(), t - METRICS_PERIOD_MS) };
    return cached.stats;
  };
  const gauge = (
    name: string,
    help: string,
    pick: (s: ReturnType<typeof statsOf>) => number | undefined,
  ) => ({
    kind: 'gauge' as const,
    name,
    help,
    read: () => pick(stats()) ?? 0,
  });
  return {
    name: 'incidents',
    service,
    routes: incidentRoutes({ service, auditor: deps.auditor, timeline, now }),
    health: () => service.health(),
    metrics: [
      {
        kind: 'gauge',
        name: 'rampart_incidents_open',
        help: 'Incidents not resolved, by severity.',
        label: 'severity',
        read: () => ({ low: 0, medium: 0, high: 0, critical: 0, ...stats().bySeverity }),
      },
      {
        kind: 'counter',
        name: 'rampart_incidents_opened_total',
        help: 'Incidents this replica opened.',
        read: () => service.stats.opened,
      },
      {
        kind: 'counter',
        name: 'rampart_incidents_update_failures_total',
        help: 'Attempts to apply a recorded event to incidents that failed and were retried (health says which record waits).',
        read: () => service.stats.failures,
      },
      gauge(
        'rampart_incidents_mttd_seconds',
        'Mean time to detect over 30 days: first triggering event to detection.',
        (s) => s.mttdSeconds,
      ),
      gauge(
        'rampart_incidents_mtta_seconds',
        'Mean time to acknowledge over 30 days, from the detection.',
        (s) => s.mttaSeconds,
      ),
      gauge(
        'rampart_incidents_mttc_seconds',
        'Mean time to contain over 30 days: detection to the first containment done.',
        (s) => s.mttcSeconds,
      ),
      gauge(
        'rampart_incidents_mttr_seconds',
        'Mean time to resolve over 30 days, from the detection.',
        (s) => s.mttrSeconds,
      ),
      gauge(
        'rampart_incidents_alert_accuracy',
        'Share of verdicts over 30 days that were true (true positive or benign true positive).',
        (s) => s.accuracy,
      ),
      gauge(
        'rampart_incidents_closure_rate',
        'Share of the incidents opened over 30 days that are resolved.',
        (s) => s.closureRate,
      ),
    ],
    subscriptions: deps.settings.enabled
      ? [{ name: 'incidents', types: FOLLOWED, from: 'stored', handle: (e) => service.handle(e) }]
      : [],
    stop: async () => {
      service.stop();
      book.stop();
    },
  };
}

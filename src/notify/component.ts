// The notify component's door: people told at once, on the channels a team already watches
// (Slack-compatible webhooks, PagerDuty, a signed generic webhook, email), of what they must
// act on: a playbook's notification or escalation, a tripped breaker, a component that fails,
// a rules or playbooks change that did not load, telemetry lost. It reads events from the stream
// after they are on record (so it notifies only what is recorded, already redacted), routes each
// by type and severity, and delivers on a queue per channel with retries; nothing waits on a
// delivery. A channel that keeps failing is in health, in /metrics and on record.

import type { Component, ReadMetric } from '../core/component.js';
import { isDrillName } from '../core/drill.js';
import type { EventPublisher, EventType, StreamEvent } from '../core/events.js';
import type { NotifySettings } from '../core/settings.js';
import { severityRank, type Log } from '../core/types.js';
import { senderFor, type ReadSecret } from './channels.js';
import { Dispatcher } from './dispatcher.js';

const BREAKGLASS = [
  'breakglass.requested',
  'breakglass.approved',
  'breakglass.denied',
  'breakglass.used',
  'breakglass.ended',
  'breakglass.reviewed',
] as const satisfies readonly EventType[];

/** An event about a drill's agent, run or incident (tagged drill). */
function aboutDrill(se: StreamEvent): boolean {
  const d = se.event.data as { agent?: unknown; tags?: unknown; scope?: unknown };
  return (
    isDrillName(se.event.subject?.agent) ||
    (se.event.type === 'respond.breaker' && typeof d.scope === 'string' && d.scope.startsWith('drill:')) ||
    (typeof d.agent === 'string' && isDrillName(d.agent)) ||
    (Array.isArray(d.tags) && d.tags.includes('drill'))
  );
}

export interface NotifyDeps {
  readonly settings: NotifySettings;
  readonly bus: EventPublisher;
  readonly log: Log;
  readonly readSecret: ReadSecret;
}

export function startNotify(deps: NotifyDeps): Component {
  const { settings, bus, log } = deps;
  const latency: ((s: number) => void)[] = [];
  const routes = settings.channels.map((ch) => {
    const dispatcher = new Dispatcher({
      name: ch.name,
      sender: senderFor(ch, deps.readSecret),
      attempts: settings.retry.attempts,
      backoffMs: settings.retry.backoffMs,
      timeoutMs: settings.retry.timeoutMs,
      queue: settings.queue,
      observe: (s) => latency.forEach((o) => o(s)),
      onGiveUp: (se, attempts, error) => {
        log.error({ channel: ch.name, seq: se.seq, error }, 'a notification could not be delivered');
        // Its own failures are not sent back to the channel that failed (no loop); others hear.
        void bus
          .publish({
            type: 'notify.delivery_failed',
            severity: 'high',
            source: 'notify',
            outcome: 'failure',
            data: { channel: ch.name, kind: ch.type, about: se.event.type, seq: se.seq, attempts, error },
          })
          .catch(() => undefined);
      },
    });
    return {
      ch,
      dispatcher,
      types: new Set(ch.types),
      min: severityRank(ch.minSeverity),
      tags: ch.tags.length > 0 ? new Set(ch.tags) : undefined,
      phases: ch.phases.length > 0 ? new Set(ch.phases) : undefined,
    };
  });
  const types =
    routes.length > 0
      ? ([...new Set([...settings.channels.flatMap((c) => c.types), ...BREAKGLASS])] as EventType[])
      : [];

  /** Tags and phase filter what carries them: a channel with tags hears only events with one of them. */
  const routed = (r: (typeof routes)[number], se: StreamEvent): boolean => {
    const d = se.event.data as { tags?: unknown; phase?: unknown };
    if (r.tags && !(Array.isArray(d.tags) && d.tags.some((t) => r.tags!.has(String(t))))) return false;
    if (r.phases && typeof d.phase === 'string' && !r.phases.has(d.phase)) return false;
    return true;
  };

  let drillsQuiet = 0;
  const handle = (se: StreamEvent): void => {
    // A drill pages nobody: what its runs set off is the drill's to report (rampart drill), and
    // only a scenario that did not hold (drill.scenario_failed, about no drill agent) is told.
    if (aboutDrill(se)) {
      drillsQuiet++;
      return;
    }
    // Break-glass is loud: every step goes to every channel, whatever it is set to hear.
    const loud = (BREAKGLASS as readonly string[]).includes(se.event.type);
    for (const r of routes) {
      if (!loud && (!r.types.has(se.event.type) || severityRank(se.event.severity) < r.min || !routed(r, se)))
        continue;
      const d = se.event.data as { channel?: string };
      if (se.event.type === 'notify.delivery_failed' && d.channel === r.ch.name) continue;
      r.dispatcher.enqueue(se);
    }
  };

  /** A metric with one value per channel. */
  const perChannel = (
    kind: 'counter' | 'gauge',
    name: string,
    help: string,
    pick: (d: Dispatcher) => number,
  ): ReadMetric => ({
    kind,
    name,
    help,
    label: 'channel',
    read: () => Object.fromEntries(routes.map((r) => [r.ch.name, pick(r.dispatcher)])),
  });

  return {
    name: 'notify',
    routes: [],
    health: () => {
      if (routes.length === 0) return { status: 'ok', detail: 'no channels configured' };
      const failing = routes.filter((r) => r.dispatcher.stats.failing);
      if (failing.length === 0) return { status: 'ok', detail: `${routes.length} channel(s)` };
      return {
        status: 'degraded',
        detail: failing
          .map(
            (r) =>
              `channel ${r.ch.name} failing since ${r.dispatcher.stats.failing!.at}: ${r.dispatcher.stats.failing!.error}`,
          )
          .join('; '),
      };
    },
    metrics: [
      perChannel(
        'counter',
        'rampart_notify_sent_total',
        'Notifications delivered, by channel.',
        (d) => d.stats.sent,
      ),
      perChannel(
        'counter',
        'rampart_notify_failed_total',
        'Notifications given up after every try, by channel.',
        (d) => d.stats.failed,
      ),
      perChannel(
        'counter',
        'rampart_notify_retries_total',
        'Tries that failed and were tried again, by channel.',
        (d) => d.stats.retried,
      ),
      perChannel(
        'counter',
        'rampart_notify_dropped_total',
        'Notifications dropped from a full queue or at shutdown, by channel.',
        (d) => d.stats.dropped,
      ),
      {
        kind: 'counter',
        name: 'rampart_notify_drill_quiet_total',
        help: "Events about a drill's agents and incidents, not sent to any channel.",
        read: () => drillsQuiet,
      },
      perChannel('gauge', 'rampart_notify_queued', 'Notifications waiting, by channel.', (d) => d.queued),
      {
        kind: 'histogram',
        name: 'rampart_notify_latency_seconds',
        help: "From an event's record to its delivery.",
        buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30],
        attach: (observe) => void latency.push(observe),
      },
    ],
    // From where it stopped: what was recorded while the control plane was down is still told.
    subscriptions: types.length > 0 ? [{ name: 'notify', types, from: 'stored', handle }] : [],
    stop: async () => routes.forEach((r) => r.dispatcher.stop()),
  };
}

// The events door: the bus components publish on (on record first), the stream that delivers
// from the log to subscribers on every replica, and the live stream's route
// (GET /v1/events/stream), with their health and metrics.

import type { Component } from '../core/component.js';
import { messageOf } from '../core/errors.js';
import type { Auditor, Log } from '../core/types.js';
import type { AuditStore, MetaStore, Notifications } from '../store/types.js';
import { EventBus } from './bus.js';
import { eventRoutes } from './routes.js';
import { EventStream } from './stream.js';

export interface EventsDeps {
  readonly audit: Pick<AuditStore, 'records' | 'head'>;
  readonly meta: MetaStore;
  readonly notifications: Notifications;
  readonly auditor: Auditor;
  readonly log: Log;
}

export interface EventsComponent extends Component {
  readonly bus: EventBus;
  readonly stream: EventStream;
}

export async function startEvents(deps: EventsDeps): Promise<EventsComponent> {
  const stream = new EventStream({
    source: {
      records: (from, limit) => deps.audit.records(from, limit),
      size: async () => (await deps.audit.head()).size,
    },
    meta: deps.meta,
    notifications: deps.notifications,
    onError: (name, e) =>
      deps.log.error({ subscription: name, err: messageOf(e) }, 'event subscriber failed'),
  });
  await stream.start();
  const bus = new EventBus({
    auditor: deps.auditor,
    onRecorded: () => stream.wake(),
    notifications: deps.notifications,
    onNotifyError: (e) => deps.log.warn({ err: messageOf(e) }, 'could not tell other replicas of new events'),
  });
  return {
    name: 'events',
    bus,
    stream,
    routes: eventRoutes(stream),
    health: () => stream.health(),
    metrics: [
      {
        kind: 'counter',
        name: 'rampart_events_total',
        help: 'Security events published.',
        read: () => bus.stats.published,
      },
      {
        kind: 'counter',
        name: 'rampart_events_delivered_total',
        help: 'Events handled by each subscriber.',
        read: () => stream.delivered(),
        label: 'subscriber',
      },
      {
        kind: 'gauge',
        name: 'rampart_events_lag',
        help: 'Records between each subscriber and the head of the log.',
        read: () => stream.lag(),
        label: 'subscriber',
      },
    ],
    subscriptions: [],
    stop: () => stream.close(),
  };
}

// The respond component's door: playbooks that answer detections in milliseconds (freeze, kill,
// quarantine, revoke, cut, ban, block, sever, notify), the circuit breaker that stops them before
// they do more harm than the attacker, containment that lives in the store (blocked agents,
// severed external traffic, timed bans, tripped breakers: on every replica, across restarts), and
// a person's commands over the same code. It acts through interfaces: the sandbox's RunControl,
// identity's revocation, the secrets broker and this replica's egress proxy, and takes no
// component's internals.
//
// Every replica starts it: each carries out orders for the runs it keeps and applies the shared
// containment to its own proxy. Only the replica that detects (respond.enabled) runs playbooks.

import { messageOf } from '../core/errors.js';
import type { Component } from '../core/component.js';
import type { EventPublisher } from '../core/events.js';
import type { RespondSettings } from '../core/settings.js';
import type { Auditor, Log } from '../core/types.js';
import type { MetaStore, Notifications } from '../store/types.js';
import type { Actuators, Order } from './engine.js';
import type { LoadOptions } from './playbooks.js';
import { respondRoutes } from './routes.js';
import { RespondService } from './service.js';
import { ContainmentState, type Containment } from './state.js';

export { ACTIONS, ACTION_NAMES } from './actions.js';
export { loadPlaybooks } from './playbooks.js';
export type { RunActions, SecretActions } from './engine.js';

const ORDER_CHANNEL = 'rampart_respond_orders';

/** This replica's egress proxy, as far as containment needs it. */
export interface EgressLever {
  /** The panic button: every connection cut, new ones refused (true), or lifted. */
  sever(on: boolean): void;
  /** Bans an address (and cuts what is open to it); lifts a ban. */
  ban(target: string): void;
  unban(target: string): void;
}

export interface RespondDeps {
  readonly settings: RespondSettings;
  /** Playbook directories, the shipped set first when asked. */
  readonly dirs: readonly string[];
  readonly meta: MetaStore;
  readonly notifications: Notifications;
  readonly bus: EventPublisher;
  readonly auditor: Auditor;
  readonly log: Log;
  readonly actuators: Omit<Actuators, 'order'>;
  readonly egress?: EgressLever;
  /** The rules detections come from and the fields they carry, to check playbooks against. */
  readonly load: () => LoadOptions;
  readonly now?: () => number;
}

export interface RespondComponent extends Component {
  readonly service: RespondService;
  readonly state: ContainmentState;
  /** Why an agent may get no run or token now, or undefined. */
  blocked(agent: string): string | undefined;
}

export async function startRespond(deps: RespondDeps): Promise<RespondComponent> {
  const now = deps.now ?? Date.now;
  const applyEgress = (next: Containment, prev: Containment): void => {
    const e = deps.egress;
    if (!e) return;
    if (next.severed && !prev.severed) e.sever(true);
    if (!next.severed && prev.severed) e.sever(false);
    for (const t of next.bans.keys()) if (!prev.bans.has(t)) e.ban(t);
    for (const t of prev.bans.keys()) if (!next.bans.has(t)) e.unban(t);
  };
  const state = await ContainmentState.open({
    meta: deps.meta,
    notifications: deps.notifications,
    apply: (next, prev) => {
      try {
        applyEgress(next, prev);
      } catch (e) {
        deps.log.error({ err: messageOf(e) }, 'containment could not be applied to the egress proxy');
      }
    },
    onError: (e) => deps.log.error({ err: messageOf(e) }, 'containment state could not be read'),
    now,
  });
  const service = await RespondService.start({
    dirs: deps.dirs,
    watch: deps.settings.watch,
    dryRun: deps.settings.dryRun,
    breaker: deps.settings.breaker,
    load: deps.load,
    actuators: {
      ...deps.actuators,
      order: (o) => deps.notifications.publish(ORDER_CHANNEL, JSON.stringify(o)),
    },
    state,
    bus: deps.bus,
    log: deps.log,
    now,
  });
  const unlisten = deps.notifications.subscribe(ORDER_CHANNEL, (payload) => {
    let o: Order;
    try {
      o = JSON.parse(payload) as Order;
    } catch {
      return;
    }
    void service
      .order(o)
      .catch((e: unknown) => deps.log.error({ err: messageOf(e), order: o.id }, 'an order failed'));
  });
  const s = service.stats;
  return {
    name: 'respond',
    service,
    state,
    blocked: (agent) => state.blocked(agent),
    routes: respondRoutes({ service, state, auditor: deps.auditor }),
    health: () => service.health(),
    metrics: [
      {
        kind: 'counter',
        name: 'rampart_respond_actions_total',
        help: 'Response actions carried out (or ordered), by action.',
        label: 'action',
        read: () => s.actions,
      },
      {
        kind: 'counter',
        name: 'rampart_respond_steps_total',
        help: 'Playbook steps not carried out as written, by why: skipped (done on the run already), suppressed or replaced (by a freeze) under a tripped breaker, failed.',
        label: 'fate',
        read: () => ({
          skipped: s.skipped,
          suppressed: s.suppressed,
          replaced: s.replaced,
          failed: s.failed,
        }),
      },
      {
        kind: 'counter',
        name: 'rampart_respond_detections_total',
        help: 'Detections seen by the playbooks, and those at least one playbook matched.',
        label: 'fate',
        read: () => ({ seen: s.detections, matched: s.matched }),
      },
      {
        kind: 'counter',
        name: 'rampart_respond_records_lost_total',
        help: 'Actions taken whose audit record could not be written (the containment stands).',
        read: () => s.recordFailures,
      },
      {
        kind: 'gauge',
        name: 'rampart_respond_breaker_tripped',
        help: 'Circuit breaker scopes tripped now.',
        read: () => service.trips().length,
      },
      {
        kind: 'gauge',
        name: 'rampart_respond_agents_blocked',
        help: 'Agents blocked now.',
        read: () => state.state.blocked.size,
      },
    ],
    subscriptions: deps.settings.enabled
      ? [{ name: 'respond', types: ['detect.detection'], from: 'stored', handle: (e) => service.handle(e) }]
      : [],
    stop: async () => {
      unlisten();
      state.stop();
      await service.stop();
    },
  };
}

// The break-glass component's door: requests, K-of-N approval by people with their own
// credentials, short-lived credentials whose clock starts at approval, and every step loud (an
// event on record for every channel, health degraded on every replica while one is active, and
// counted in /metrics). The control plane asks it, on every request, whether a credential is an
// active break-glass one and tells it of each use.

import type { Component, Principal } from '../core/component.js';
import type { EventPublisher } from '../core/events.js';
import type { BreakglassSettings } from '../core/settings.js';
import type { Auditor, Log } from '../core/types.js';
import type { MetaStore, Notifications } from '../store/types.js';
import { breakglassRoutes } from './routes.js';
import { BreakglassService } from './service.js';

export { CREDENTIAL_PREFIX } from './service.js';

export interface BreakglassDeps {
  readonly settings: BreakglassSettings;
  readonly meta: MetaStore;
  readonly notifications: Notifications;
  readonly bus: EventPublisher;
  readonly auditor: Auditor;
  readonly log: Log;
  readonly now?: () => number;
}

export interface BreakglassComponent extends Component {
  readonly service: BreakglassService;
  /** The principal of an active break-glass credential (by its SHA-256), or undefined. */
  authenticate(digest: Buffer): Principal | undefined;
  /** The break-glass override in force for an agent's decision of `action`, if any. */
  override(agent: string, action: string): { id: string; by: string } | undefined;
  /** A request was made with a break-glass credential. */
  used(principal: Principal, method: string, route: string): void;
}

export async function startBreakglass(deps: BreakglassDeps): Promise<BreakglassComponent> {
  const service = await BreakglassService.start(deps);
  return {
    name: 'breakglass',
    service,
    authenticate: (digest) => service.authenticate(digest),
    override: (agent, action) => service.override(agent, action),
    used: (p, method, route) => {
      if (p.breakglass) service.used(p.breakglass, method, route);
    },
    routes: breakglassRoutes(service, deps.auditor),
    health: () => service.health(),
    metrics: [
      {
        kind: 'gauge',
        name: 'rampart_breakglass_active',
        help: 'Break-glass grants active now.',
        read: () => service.activeNow().length,
      },
      {
        kind: 'gauge',
        name: 'rampart_breakglass_requests',
        help: 'Break-glass requests kept, by status.',
        label: 'status',
        read: () => service.counts(),
      },
      {
        kind: 'counter',
        name: 'rampart_breakglass_uses_total',
        help: 'Requests made with break-glass credentials on this replica.',
        read: () => service.usesTotal(),
      },
    ],
    subscriptions: [],
    stop: async () => service.stop(),
  };
}

// The identity component's door: workload tokens (keys certified by the installation key, the
// verifier, revocations on every replica, refresh, rate limits), with its routes, health,
// metrics and stop. Other components verify, issue and revoke through the service.

import type { Component } from '../core/component.js';
import type { Auditor } from '../core/types.js';
import { identityRoutes } from './routes.js';
import { IdentityService, type IdentityOptions } from './service.js';

export interface IdentityComponent extends Component {
  readonly service: IdentityService;
}

export async function startIdentity(
  opts: IdentityOptions & {
    readonly auditor: Auditor;
    readonly agentNamespace: (agent: string) => string | undefined;
  },
): Promise<IdentityComponent> {
  const service = await IdentityService.start(opts);
  const s = service.stats;
  return {
    name: 'identity',
    service,
    routes: identityRoutes({ identity: service, auditor: opts.auditor, agentNamespace: opts.agentNamespace }),
    health: () => service.health(),
    metrics: [
      {
        kind: 'counter',
        name: 'rampart_tokens_verified_total',
        help: 'Workload tokens accepted.',
        read: () => s.verified,
      },
      {
        kind: 'counter',
        name: 'rampart_tokens_verify_cache_hits_total',
        help: 'Workload tokens accepted from the verification cache.',
        read: () => s.cacheHits,
      },
      {
        kind: 'counter',
        name: 'rampart_tokens_rejected_total',
        help: 'Workload tokens refused, by reason.',
        read: () => Object.fromEntries(s.rejected),
        label: 'reason',
      },
      {
        kind: 'counter',
        name: 'rampart_rate_limited_total',
        help: 'Agent requests refused by a rate limit.',
        read: () => s.rateLimited,
      },
    ],
    subscriptions: [],
    stop: async () => service.stop(),
  };
}

// The policy component's door: the decision point (policy set loaded and type-checked, entities
// synced, decision logs), with its routes (native decisions, OPA's Data API, policies, entities),
// health, metrics and stop. Other components ask it through `decide` and `agentNamespace`.

import type { Component } from '../core/component.js';
import { policyRoutes } from './routes.js';
import { PolicyService, type PolicyServiceOptions } from './service.js';

export interface PolicyComponent extends Component {
  readonly service: PolicyService;
  /** The namespace a registered agent belongs to (attribute, or its namespace parent). */
  agentNamespace(agent: string): string | undefined;
  /** A registered agent's namespace and capabilities (its own, its teams', inherited), as rules see them. */
  agentFacts(agent: string): { namespace: string; capabilities: readonly string[] } | undefined;
}

export async function startPolicy(opts: PolicyServiceOptions): Promise<PolicyComponent> {
  const service = await PolicyService.start(opts);
  return {
    name: 'policy',
    service,
    agentNamespace(agent) {
      const e = service.getEntity('agent', agent);
      if (!e) return undefined;
      const ns = e.attributes['namespace'];
      if (typeof ns === 'string' && ns !== '') return ns;
      return e.parents.find((p) => p.startsWith('namespace:'))?.slice('namespace:'.length);
    },
    agentFacts(agent) {
      if (!service.getEntity('agent', agent)) return undefined;
      const p = service.engine.entities.principal({ type: 'agent', id: agent });
      return { namespace: p.namespace, capabilities: p.capabilities };
    },
    routes: policyRoutes(service, opts.auditor),
    health: () => service.health(),
    metrics: [
      {
        kind: 'counter',
        name: 'rampart_policy_decisions_total',
        help: 'Policy decisions by outcome.',
        read: () => {
          const s = service.engine.stats;
          return { allow: s.allowed, deny: s.denied, error: s.errors };
        },
        label: 'outcome',
      },
      {
        kind: 'counter',
        name: 'rampart_policy_cache_hits_total',
        help: 'Decisions answered from the decision cache.',
        read: () => service.engine.stats.cacheHits,
      },
      {
        kind: 'gauge',
        name: 'rampart_policy_entities',
        help: 'Entities known to the policy engine.',
        read: () => service.engine.entities.size,
      },
      {
        kind: 'gauge',
        name: 'rampart_policy_rules',
        help: 'Rules in the active policy set.',
        read: () => service.policySet?.rules.length ?? 0,
      },
    ],
    subscriptions: [],
    stop: () => service.stop(),
  };
}

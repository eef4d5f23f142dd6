// The egress proxy, composed: identity's verifier and rate limits for callers, policy's
// egress.connect and egress.request, the redaction engine for outbound inspection, the secrets
// broker's secret.use for injected credentials (bound late: the broker starts after the proxy,
// and an injected request is refused until it has), the honeytoken scan, and the git gate's
// route. Part of the control plane's composition (controlplane.ts calls it).

import type { Config } from '../config/load.js';
import { GIT_GATE_HOST } from '../core/claims.js';
import { startEgress, type EgressComponent } from '../egress/component.js';
import type { CredentialSource } from '../egress/inspection.js';
import { ChunkRedactor } from '../redact/stream.js';
import type { Shared } from './shared.js';

export interface EgressBindings {
  /** The git gate's listener, once it has started. */
  gitRoute?: { address: string; port: number; name: string };
  /** The secrets broker's secret.use, once it has started. */
  credential?: CredentialSource;
  lookForDecoys?: (text: string, where: string, by?: { agent: string; run: string }) => void;
}

/** A gate in front of GitHub makes its REST API inspected: a push by API would bypass the gate. */
function inspected(config: Config): string[] {
  const hosts = [...config.egress.inspect];
  const github =
    config.gitgate.enabled && config.gitgate.upstreams.some((u) => /^https?:\/\/github\.com\//.test(u.url));
  if (github && !hosts.includes('api.github.com')) hosts.push('api.github.com');
  return hosts;
}

export async function startEgressFor(
  o: Shared & { readonly late: EgressBindings },
): Promise<EgressComponent | undefined> {
  const { config, policy, redactor, late } = o;
  if (!config.egress.enabled) return undefined;
  const ask = async (
    agent: string,
    action: 'egress.connect' | 'egress.request',
    resource: { type: string; id: string; port?: number },
    context: Record<string, unknown>,
  ): Promise<{ allow: boolean; reason: string }> => {
    const d = await policy.decide(
      { principal: { type: 'agent', id: agent }, action, resource, context },
      { actor: `agent:${agent}`, path: 'egress' },
    );
    return { allow: d.allow, reason: d.reasons.join('; ') };
  };
  return startEgress({
    settings: { ...config.egress, inspect: inspected(config) },
    dataDir: config.dataDir,
    events: o.bus,
    log: o.log,
    verify: (token) => {
      const r = o.identity.verify(token);
      return r.ok ? { claims: r.claims } : `${r.kind}: ${r.reason}`;
    },
    rateLimit: (claims) => o.identity.rateLimit('egress', claims),
    inspect: (caller, text) =>
      late.lookForDecoys?.(text, `an egress request of run ${caller.run}`, {
        agent: caller.agent,
        run: caller.run,
      }),
    // Late: the gate starts after egress, and a name with no route is refused meanwhile.
    route: (host) => (host === GIT_GATE_HOST ? late.gitRoute : undefined),
    decide: (caller, host, port) =>
      ask(caller.agent, 'egress.connect', { type: 'host', id: host, port }, { run: caller.run }),
    decideRequest: (caller, host, method, path) =>
      ask(caller.agent, 'egress.request', { type: 'host', id: host }, { run: caller.run, method, path }),
    scanner: {
      find: (text) => redactor.find(text),
      stream: (onMatch) => new ChunkRedactor(redactor, onMatch, false),
    },
    credential: (caller, secret, context) => {
      if (!late.credential) return Promise.reject(new Error('the secrets broker has not started'));
      return late.credential(caller, secret, context);
    },
  });
}

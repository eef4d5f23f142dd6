// Wiring for the egress proxy: who a caller is (identity), what policy says (egress.connect), where
// records go (the event bus, so the audit log), and what /metrics shows. The proxy itself knows
// none of these components; it gets them as functions.

import { chmodSync, chownSync, rmSync } from 'node:fs';
import { RampartError } from '../core/errors.js';
import type { EventPublisher } from '../core/events.js';
import type { ComponentHealth } from '../core/types.js';
import type { EgressConfig } from '../config/load.js';
import { AddressGuard } from '../egress/address.js';
import { HOST_LISTS, HostMatcher, type HostRule } from '../egress/hosts.js';
import {
  EgressProxy,
  type ConnectionRecord,
  type EgressCaller,
  type EgressProfile,
} from '../egress/proxy.js';
import type { IdentityService } from '../identity/service.js';
import type { WorkloadClaims } from '../identity/token.js';
import type { Logger } from '../log/logger.js';
import type { PolicyService } from '../policy/service.js';
import type { Metrics } from './metrics.js';

export interface Egress {
  readonly proxy: EgressProxy;
  readonly guard: AddressGuard;
  /** Starts listening; resolves with the proxy's URL. */
  listen(): Promise<string>;
  /**
   * Listens on a run's own channel: a unix socket at `path` that only `owner` (the sandbox's host
   * uid) may connect to. Whoever connects there is that run; nothing it says can change that.
   */
  openChannel(
    path: string,
    caller: { run: string; agent: string },
    owner: { uid: number; gid: number },
  ): Promise<void>;
  health(): ComponentHealth;
}

/** Counters by key, bounded: past `max` keys, new ones count under "other". */
function boundedCounts(max: number): { add(k: string): void; read(): Record<string, number> } {
  const m = new Map<string, number>();
  return {
    add(k) {
      const key = m.has(k) || m.size < max ? k : 'other';
      m.set(key, (m.get(key) ?? 0) + 1);
    },
    read: () => Object.fromEntries(m),
  };
}

export function startEgress(deps: {
  config: EgressConfig;
  identity: IdentityService;
  policy: PolicyService;
  bus: EventPublisher;
  logger: Logger;
  metrics: Metrics;
}): Egress {
  const { config, identity, policy, bus, logger, metrics } = deps;
  let guard: AddressGuard;
  let profile: EgressProfile;
  try {
    guard = new AddressGuard(config.allowRanges, [config.listen.host]);
    const allow: HostRule[] = [
      ...config.lists.flatMap((l) =>
        (HOST_LISTS[l] ?? []).map((pattern) => ({ pattern, source: `list:${l}` })),
      ),
      ...config.allow.map((pattern, i) => ({ pattern, source: `egress.allow[${i}]` })),
    ];
    profile = {
      mode: config.mode,
      allow: new HostMatcher(allow),
      deny: new HostMatcher(config.deny.map((pattern, i) => ({ pattern, source: `egress.deny[${i}]` }))),
      maxConnections: config.maxConnectionsPerAgent,
    };
  } catch (e) {
    throw new RampartError('RAMPART_E_CONFIG_INVALID', `egress: ${(e as Error).message}`);
  }
  const byAgent = boundedCounts(1000);
  const byHost = boundedCounts(1000);
  const claimsOf = new WeakMap<EgressCaller, WorkloadClaims>();

  const proxy = new EgressProxy({
    guard,
    connectTimeoutMs: config.connectTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    deps: {
      authenticate: (token) => {
        const r = identity.verify(token);
        if (!r.ok) return `${r.kind}: ${r.reason}`;
        const caller: EgressCaller = { agent: r.claims.sub, run: r.claims.run, via: 'token' };
        claimsOf.set(caller, r.claims);
        return caller;
      },
      profileFor: () => profile,
      rateLimit: (caller) => {
        const claims = claimsOf.get(caller);
        return claims ? identity.rateLimit('egress', claims) : 0;
      },
      ...(config.askPolicy
        ? {
            decide: async (caller: EgressCaller, host: string, port: number) => {
              const d = await policy.decide(
                {
                  principal: { type: 'agent', id: caller.agent },
                  action: 'egress.connect',
                  resource: { type: 'host', id: host, port },
                  context: { run: caller.run },
                },
                { actor: `agent:${caller.agent}`, path: 'egress' },
              );
              return { allow: d.allow, reason: d.reasons.join('; ') };
            },
          }
        : {}),
      record: (r: ConnectionRecord) => {
        byAgent.add(r.agent);
        byHost.add(`${r.host}:${r.port}`);
        bus
          .publish({
            type: 'egress.connection',
            severity: r.decision === 'allow' ? 'info' : 'medium',
            source: 'egress',
            subject: { agent: r.agent, run: r.run },
            outcome: r.decision === 'allow' || r.decision === 'would_deny' ? 'success' : 'denied',
            data: {
              agent: r.agent,
              run: r.run,
              method: r.method,
              host: r.host,
              port: r.port,
              ...(r.address ? { address: r.address } : {}),
              decision: r.decision,
              ...(r.rule ? { rule: r.rule } : {}),
              reason: r.reason,
              bytesUp: r.bytesUp,
              bytesDown: r.bytesDown,
              durationMs: r.durationMs,
            },
          })
          .catch((e: unknown) =>
            logger.error({ err: (e as Error).message }, 'could not record an egress connection'),
          );
      },
      onLookup: (caller, host, addresses) => {
        logger.info(
          {
            agent: caller.agent,
            run: caller.run,
            host,
            ...(addresses instanceof Error ? { error: addresses.message } : { addresses }),
          },
          'egress dns lookup',
        );
      },
    },
  });

  metrics.counter(
    'rampart_egress_connections_total',
    'Egress connections by decision.',
    () => ({
      allow: proxy.stats.allowed,
      deny: proxy.stats.denied,
      would_deny: proxy.stats.wouldDeny,
    }),
    'decision',
  );
  metrics.counter(
    'rampart_egress_bytes_total',
    'Bytes through egress tunnels and requests.',
    () => ({
      up: proxy.stats.bytesUp,
      down: proxy.stats.bytesDown,
    }),
    'direction',
  );
  metrics.counter(
    'rampart_egress_connections_by_agent_total',
    'Egress connections per agent.',
    () => byAgent.read(),
    'agent',
  );
  metrics.counter(
    'rampart_egress_connections_by_destination_total',
    'Egress connections per destination host:port.',
    () => byHost.read(),
    'destination',
  );
  metrics.gauge('rampart_egress_open_tunnels', 'Open egress tunnels.', () => proxy.openTunnels);

  return {
    proxy,
    guard,
    async listen() {
      let bound;
      try {
        bound = await proxy.listen(config.listen.port, config.listen.host);
      } catch (e) {
        const where = `${config.listen.host}:${config.listen.port}`;
        const code = (e as NodeJS.ErrnoException).code;
        throw new RampartError(
          'RAMPART_E_LISTEN',
          code === 'EADDRINUSE'
            ? `egress proxy: ${where} is already in use`
            : `egress proxy cannot listen on ${where}: ${(e as Error).message}`,
        );
      }
      const { port } = bound;
      const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
      return `http://${host}:${port}`;
    },
    async openChannel(path, caller, owner) {
      rmSync(path, { force: true }); // a socket left by a crashed earlier run with this id
      await proxy.listenChannel(path, { ...caller, via: 'channel' });
      try {
        chownSync(path, owner.uid, owner.gid);
        chmodSync(path, 0o600);
      } catch (e) {
        proxy.closeChannel(caller.run);
        throw e;
      }
    },
    health: () =>
      proxy.killSwitch
        ? { status: 'degraded', detail: 'kill switch on: every external connection is refused' }
        : {
            status: 'ok',
            detail: `${config.mode}, ${proxy.openTunnels} open tunnel(s), ${proxy.openChannels} run channel(s)`,
          },
  };
}

// The egress component's door: the proxy, given who a caller is (a token verifier), what policy
// says (egress.connect), where records go (the event bus, so the audit log), with its routes
// (status, bans, kill switch), health and metrics. It knows no other component: each capability
// comes as a function.

import { lookup } from 'node:dns/promises';
import { chmodSync, chownSync, rmSync } from 'node:fs';
import type { WorkloadClaims } from '../core/claims.js';
import type { ChannelListener, Component } from '../core/component.js';
import { RampartError, messageOf } from '../core/errors.js';
import type { EventPublisher } from '../core/events.js';
import type { EgressSettings } from '../core/settings.js';
import type { Log } from '../core/types.js';
import { AddressGuard } from './address.js';
import { HOST_LISTS, HostMatcher, type HostRule } from './hosts.js';
import { EgressProxy, type ConnectionRecord, type EgressCaller, type EgressProfile } from './proxy.js';
import { egressRoutes } from './routes.js';
import { inspectionMetrics, recordRequest } from './requests.js';
import { startInspection, type CredentialSource } from './inspection.js';
import type { Scanner } from './dlp.js';
import type { InternalRoute } from './types.js';

export interface EgressComponentDeps {
  readonly settings: EgressSettings;
  readonly events: EventPublisher;
  readonly log: Log;
  /** Verifies a workload token (identity): its claims, or why it is refused. */
  readonly verify: (token: string) => { readonly claims: WorkloadClaims } | string;
  /** Milliseconds an agent must wait before another connection (identity's rate limits). */
  readonly rateLimit: (claims: WorkloadClaims) => number;
  /** Looks at what a connection says of itself (the secrets component's honeytoken scan). */
  readonly inspect?: (caller: { agent: string; run: string }, text: string) => void;
  /** The policy decision point's egress.connect, when it is asked. Throwing denies. */
  readonly decide?: (
    caller: EgressCaller,
    host: string,
    port: number,
  ) => Promise<{ allow: boolean; reason: string }>;
  /** Rampart's own services by reserved name (git.rampart.internal); others under it are refused. */
  readonly route?: (host: string) => InternalRoute | undefined;
  /** Where the CA of inspected hosts lives (DATA/egress/ca). */
  readonly dataDir: string;
  /** The redaction engine, for outbound inspection. */
  readonly scanner: Scanner;
  /** The secrets broker's secret.use, for injection; absent: every injected request is refused. */
  readonly credential?: CredentialSource;
  /** egress.request: methods and paths of inspected hosts. Throwing denies. */
  readonly decideRequest?: (
    caller: EgressCaller,
    host: string,
    method: string,
    path: string,
  ) => Promise<{ allow: boolean; reason: string }>;
}

export interface EgressComponent extends Component, ChannelListener {
  readonly proxy: EgressProxy;
  readonly guard: AddressGuard;
  /** Starts listening; resolves with the proxy's URL. */
  listen(): Promise<string>;
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

export async function startEgress(deps: EgressComponentDeps): Promise<EgressComponent> {
  const { settings: config, events: bus, log: logger } = deps;
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
    throw new RampartError('RAMPART_E_CONFIG_INVALID', `egress: ${messageOf(e)}`);
  }
  const byAgent = boundedCounts(1000);
  const byHost = boundedCounts(1000);
  const claimsOf = new WeakMap<EgressCaller, WorkloadClaims>();

  const inspection = await startInspection({
    settings: config,
    dataDir: deps.dataDir,
    scanner: deps.scanner,
    ...(deps.credential ? { credential: deps.credential } : {}),
    ...(config.askPolicy && deps.decideRequest ? { decide: deps.decideRequest } : {}),
    ...(deps.inspect ? { seen: deps.inspect } : {}),
    record: (r) => recordRequest(bus, logger, r),
  });
  const pinned = config.hosts;
  const proxy = new EgressProxy({
    guard,
    ...(inspection ? { interceptor: inspection.interceptor } : {}),
    connectTimeoutMs: config.connectTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    deps: {
      authenticate: (token) => {
        const r = deps.verify(token);
        if (typeof r === 'string') return r;
        const caller: EgressCaller = { agent: r.claims.sub, run: r.claims.run, via: 'token' };
        claimsOf.set(caller, r.claims);
        return caller;
      },
      profileFor: () => profile,
      rateLimit: (caller) => {
        const claims = claimsOf.get(caller);
        return claims ? deps.rateLimit(claims) : 0;
      },
      ...(config.askPolicy && deps.decide ? { decide: deps.decide } : {}),
      ...(deps.inspect ? { inspect: deps.inspect } : {}),
      ...(deps.route ? { route: deps.route } : {}),
      ...(Object.keys(pinned).length > 0
        ? {
            resolve: async (host: string) => {
              const a = pinned[host];
              return a
                ? [{ address: a, family: a.includes(':') ? 6 : 4 }]
                : lookup(host, { all: true, verbatim: true });
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
              ...(r.via ? { via: r.via } : {}),
              ...(r.target !== undefined ? { target: r.target } : {}),
              decision: r.decision,
              ...(r.rule ? { rule: r.rule } : {}),
              reason: r.reason,
              bytesUp: r.bytesUp,
              bytesDown: r.bytesDown,
              durationMs: r.durationMs,
            },
          })
          .catch((e: unknown) =>
            logger.error({ err: messageOf(e) }, 'could not record an egress connection'),
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

  return {
    name: 'egress',
    proxy,
    guard,
    routes: egressRoutes({
      proxy,
      guard,
      bus,
      listen: `${config.listen.host}:${config.listen.port}`,
      ...(inspection ? { ca: inspection.ca, interceptor: inspection.interceptor } : {}),
    }),
    metrics: [
      {
        kind: 'counter',
        name: 'rampart_egress_connections_total',
        help: 'Egress connections by decision.',
        read: () => ({
          allow: proxy.stats.allowed,
          deny: proxy.stats.denied,
          would_deny: proxy.stats.wouldDeny,
        }),
        label: 'decision',
      },
      {
        kind: 'counter',
        name: 'rampart_egress_bytes_total',
        help: 'Bytes through egress tunnels and requests.',
        read: () => ({ up: proxy.stats.bytesUp, down: proxy.stats.bytesDown }),
        label: 'direction',
      },
      {
        kind: 'counter',
        name: 'rampart_egress_connections_by_agent_total',
        help: 'Egress connections per agent.',
        read: () => byAgent.read(),
        label: 'agent',
      },
      {
        kind: 'counter',
        name: 'rampart_egress_connections_by_destination_total',
        help: 'Egress connections per destination host:port.',
        read: () => byHost.read(),
        label: 'destination',
      },
      ...inspectionMetrics(inspection),
      {
        kind: 'gauge',
        name: 'rampart_egress_open_tunnels',
        help: 'Open egress tunnels.',
        read: () => proxy.openTunnels,
      },
    ],
    subscriptions: [],
    stop: () => proxy.close(),
    closeChannel: (run) => proxy.closeChannel(run),
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
            ? `egress.listen: ${where} is already in use (another control plane or proxy?)`
            : `egress.listen: the egress proxy cannot listen on ${where}: ${messageOf(e)}`,
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

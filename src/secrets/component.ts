// The secrets component's door: sealed, versioned secrets in the store (the KEK from the data
// directory), every delivery to an agent decided by policy and under a lease, dynamic PostgreSQL
// credentials, rotation; its routes, health, metrics, event subscriptions and stop.
//
// Leases end with their run: the component subscribes to sandbox.run_ended (durably: a restart
// resumes where it stopped) and revokes the run's leases, and to identity.revoked, so an agent
// or run whose tokens are revoked loses its secrets too. A timer sweeps expired leases in bounded
// batches (yielding between them, so the API is never held) and retries failed revocations.
// Start-up never waits for expired leases (Vault's restart stalled behind 30k of them,
// vault#2312): those that expired while no control plane ran go at the first sweep.

import { randomUUID } from 'node:crypto';
import type { Component, Subscription } from '../core/component.js';
import type { Clock } from '../core/clock.js';
import type { EventPublisher } from '../core/events.js';
import { messageOf } from '../core/errors.js';
import type { SecretsSettings } from '../core/settings.js';
import type { Auditor, ComponentHealth } from '../core/types.js';
import type { HoneytokenStore, LeaseStore, MetaStore, SecretStore } from '../store/types.js';
import type { DynamicEngine } from './engine.js';
import { GithubEngine } from './engines/github.js';
import { PostgresEngine } from './engines/postgres.js';
import { honeytokenRoute, leaseRoutes } from './lease-routes.js';
import { Honeytokens } from './honeytokens.js';
import { LeaseService } from './leases.js';
import { Refresher, Waiters } from './refresh.js';
import { Rotations } from './rotation.js';
import { secretsRoutes } from './routes.js';
import { Sealer } from './seal.js';
import { SecretsService, type SecretDecider } from './service.js';

export interface SecretsComponentDeps {
  readonly dataDir: string;
  readonly settings: SecretsSettings;
  readonly store: SecretStore;
  readonly leases: LeaseStore;
  readonly honeytokens: HoneytokenStore;
  readonly meta: MetaStore;
  readonly auditor: Auditor;
  readonly bus: EventPublisher;
  readonly clock: Clock;
  /** The policy decision point's secret.read (throwing denies). */
  readonly decide: SecretDecider;
  /** Engines by vault, instead of those the settings describe (tests). */
  readonly engines?: ReadonlyMap<string, DynamicEngine>;
  readonly onError?: (what: string, error: unknown) => void;
}

export interface SecretsComponent extends Component {
  readonly service: SecretsService;
  readonly leases: LeaseService;
  /** One sweep: expired leases revoked in batches, failed revocations retried (tests, benches). */
  sweep(): Promise<void>;
  /** Looks for planted decoys in text seen elsewhere (egress requests, records, log lines). */
  scan(text: string, where: string, by?: { agent: string; run: string }): void;
  /** Rotates one secret now with its rotator (the response engine's rotate_secrets). */
  rotate(vault: string, name: string, by: string): Promise<unknown>;
  /**
   * A value the control plane uses on a run's behalf and never hands to it (the git gate's
   * upstream credential): decided as secret.use for the run's agent and on record as a use; a
   * dynamic engine's credential is leased to the run, so it ends with it.
   */
  use(
    vault: string,
    name: string,
    who: { agent: string; run: string; purpose: string; context?: Readonly<Record<string, string>> },
  ): Promise<Buffer>;
}

/** Expired leases ended per batch (one commit); the sweep pauses between batches. */
const SWEEP_BATCH = 25;
/** How often scheduled rotations and engines are checked: every 10 s, or a quarter of the shortest period. */
const CHECK_MS = 10_000;

/**
 * Starts it. The KEK file is made on first start, while the store holds no secret; once it does,
 * a missing or wrong KEK refuses to start (RAMPART_E_SECRETS_KEK), found by opening one secret.
 */
export async function startSecrets(deps: SecretsComponentDeps): Promise<SecretsComponent> {
  const now = (): number => deps.clock.now();
  const onError = deps.onError ?? (() => undefined);
  const sealer = Sealer.load(deps.dataDir, { create: (await deps.store.count()) === 0 });
  const service = new SecretsService({
    store: deps.store,
    sealer,
    auditor: deps.auditor,
    decide: deps.decide,
    now,
  });
  await service.check();
  // Through the service: after a rewrap, handles are sealed with the current key.
  const handles = {
    seal: (v: Buffer, a: string) => service.sealHandle(v, a),
    open: (s: string, a: string) => service.openHandle(s, a),
  };
  const engines: ReadonlyMap<string, DynamicEngine> =
    deps.engines ??
    new Map<string, DynamicEngine>([
      ...deps.settings.postgres.map((e) => [e.vault, new PostgresEngine(e)] as const),
      ...deps.settings.github.map((e) => [e.vault, new GithubEngine(e, handles, now)] as const),
    ]);
  const leases = new LeaseService({
    store: deps.leases,
    secrets: service,
    engines,
    bus: deps.bus,
    auditor: deps.auditor,
    now,
    ttl: deps.settings.leaseTtlMs,
    maxTtl: deps.settings.leaseMaxTtlMs,
    revokeTimeout: deps.settings.revokeTimeoutMs,
  });
  const rotations = new Rotations({
    secrets: service,
    bus: deps.bus,
    settings: deps.settings.rotation,
    claimSlot: async (key) => {
      const mine = randomUUID();
      return (await deps.meta.setIfAbsent(key, mine)) === mine;
    },
    now,
  });
  const honeytokens = new Honeytokens({
    store: deps.honeytokens,
    fingerprint: (v) => deps.auditor.fingerprint(v),
    bus: deps.bus,
    now,
  });
  await honeytokens.refresh();
  const waiters = new Waiters();
  const refresher = new Refresher(leases, service, waiters, now);

  let counts = { active: 0, revoking: 0, failing: 0 };
  let engineProblem: string | undefined;
  let sweeping: Promise<void> | undefined;
  let stopped = false;
  const sweepOnce = async (): Promise<void> => {
    // Bounded batches with a turn of the event loop between them (leases.ts): 30,000 expired
    // leases are cleaned without any request waiting behind the sweep for more than one batch.
    await leases.sweepExpired(SWEEP_BATCH, () => stopped);
    while (!stopped && (await leases.retry(SWEEP_BATCH)) === SWEEP_BATCH)
      await new Promise((r) => setImmediate(r));
    counts = await leases.counts();
  };
  const sweep = (): Promise<void> =>
    (sweeping ??= sweepOnce()
      .catch((e) => onError('lease sweep', e))
      .finally(() => (sweeping = undefined)));
  const sweepTimer = setInterval(() => void sweep(), deps.settings.sweepIntervalMs);
  sweepTimer.unref();
  // Decoys other replicas planted are learnt within 5 s.
  const honeyTimer = setInterval(
    () => void honeytokens.refresh().catch((e) => onError('honeytoken refresh', e)),
    5000,
  );
  honeyTimer.unref();
  const rotationTimer = setInterval(() => {
    void rotations.due().catch((e) => onError('scheduled rotation', e));
    // The active count is a count over the table: now and then for the gauge, never per request.
    void leases
      .counts()
      .then((c) => (counts = c))
      .catch(() => undefined);
    void Promise.all([...engines.values()].map((e) => e.check()))
      .then(() => (engineProblem = undefined))
      .catch((e) => (engineProblem = messageOf(e)));
  }, checkEvery(deps.settings));
  rotationTimer.unref();

  const subscriptions: Subscription[] = [
    {
      name: 'secrets.run-ended',
      types: ['sandbox.run_ended'],
      from: 'stored',
      handle: async (e) => {
        const d = e.event.data as { run: string; reason: string };
        await leases.revoke({ run: d.run }, `run ended (${d.reason})`, 'rampart');
      },
    },
    {
      name: 'secrets.tokens-revoked',
      types: ['identity.revoked'],
      from: 'stored',
      handle: async (e) => {
        const d = e.event.data as { kind: string; value: string };
        const why = `its tokens were revoked (${d.kind} ${d.value})`;
        if (d.kind === 'agent') await leases.revoke({ agent: d.value }, why, 'rampart');
        else if (d.kind === 'run') await leases.revoke({ run: d.value }, why, 'rampart');
        else if (d.kind === 'all') await leases.revoke({ all: true }, why, 'rampart');
      },
    },
    {
      // A rotation or revocation on any replica: waiting refreshes answer now.
      name: 'secrets.wake',
      types: ['secrets.rotated', 'secrets.leases_revoked'],
      handle: () => waiters.wake(),
    },
  ];

  return {
    name: 'secrets',
    service,
    leases,
    sweep,
    scan: (text, where, by) => void honeytokens.scan(text, where, by),
    rotate: (vault, name, by) => rotations.rotate(vault, name, by, 'requested'),
    use: async (vault, name, who) => {
      const actor = who.purpose;
      if (engines.has(vault))
        return (
          await leases.issue({
            vault,
            name,
            agent: who.agent,
            run: who.run,
            actor,
            use: who.purpose,
            ...(who.context ? { context: who.context } : {}),
          })
        ).value;
      const read = await service.read(vault, name, {
        actor,
        agent: who.agent,
        run: who.run,
        action: 'secret.use',
        purpose: who.purpose,
        ...(who.context ? { context: who.context } : {}),
      });
      return read.value;
    },
    routes: [
      ...secretsRoutes(service, leases, () => Sealer.load(deps.dataDir, { create: false })),
      ...leaseRoutes({ leases, secrets: service, refresher, rotations }),
      honeytokenRoute(honeytokens),
    ],
    health: async (): Promise<ComponentHealth> => {
      counts = { ...counts, ...(await leases.revoking()) };
      if (counts.failing > 0)
        return {
          status: 'degraded',
          detail: `${counts.failing} lease(s) could not be revoked and are retried (rampart lease ls --state revoking)`,
        };
      if (engineProblem)
        return { status: 'degraded', detail: `a dynamic secrets engine is unreachable: ${engineProblem}` };
      return {
        status: 'ok',
        detail: `sealed with key-encryption key "${service.kek}"`,
      };
    },
    metrics: [
      {
        kind: 'counter',
        name: 'rampart_secrets_operations_total',
        help: 'Secret operations: versions put, values read, reads denied by policy.',
        read: () => ({
          ...service.stats,
          rotated: rotations.stats.rotated,
          rotation_failed: rotations.stats.failed,
        }),
        label: 'operation',
      },
      {
        kind: 'counter',
        name: 'rampart_secrets_lease_operations_total',
        help: 'Leases issued, renewed, revoked and expired, and revocation attempts that failed.',
        read: () => ({
          ...leases.stats,
          honeytokens_planted: honeytokens.stats.planted,
          honeytokens_used: honeytokens.stats.used,
        }),
        label: 'operation',
      },
      {
        kind: 'gauge',
        name: 'rampart_secrets_leases',
        help: 'Leases by state (active counted every 10 s; revoking and failing at every sweep).',
        read: () => ({ ...counts }),
        label: 'state',
      },
    ],
    subscriptions,
    stop: async () => {
      stopped = true;
      clearInterval(sweepTimer);
      clearInterval(rotationTimer);
      clearInterval(honeyTimer);
      waiters.wake();
      await sweeping;
      await Promise.all([...engines.values()].map((e) => e.close().catch(() => undefined)));
    },
  };
}

function checkEvery(settings: SecretsSettings): number {
  const periods = settings.rotation.map((r) => r.everyMs).filter((x): x is number => x !== undefined);
  return Math.max(250, Math.min(CHECK_MS, ...periods.map((p) => p / 4)));
}

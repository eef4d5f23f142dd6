// Leases: every delivery of a secret to an agent is one. A lease has a TTL, is renewed up to a max
// TTL, and ends by revocation: one by one, by run, by agent, by vault or all, when its run ends,
// or when it expires. Revoking is two steps: the store claims the leases (state "revoking", so one
// replica takes each), then each engine takes its credential back. A revocation that fails stays
// "revoking", retried with backoff, in health and on record, and is never forgotten (Vault's
// leases that "live forever" after a failed revocation, vault#21558).
//
// Stored secrets have a "static" lease: nothing to take back upstream, but the run's file goes
// when the lease ends, and a renewal is where a rotated version reaches a running run.

import { randomBytes } from 'node:crypto';
import { RampartError, messageOf } from '../core/errors.js';
import type { EventPublisher } from '../core/events.js';
import type { Auditor } from '../core/types.js';
import type { LeaseSelector, LeaseStore, StoredLease } from '../store/types.js';
import type { DynamicEngine } from './engine.js';
import { checkNames, type SecretsService } from './service.js';

export interface LeaseDeps {
  readonly store: LeaseStore;
  readonly secrets: SecretsService;
  /** Dynamic engines by the vault they serve. */
  readonly engines: ReadonlyMap<string, DynamicEngine>;
  readonly bus: EventPublisher;
  readonly auditor: Auditor;
  readonly now: () => number;
  /** A stored secret's lease: its TTL and max TTL (ms). */
  readonly ttl: number;
  readonly maxTtl: number;
  /** How long an engine may take to revoke one credential before the attempt counts as failed. */
  readonly revokeTimeout: number;
}

/** What is said of a lease: never a value. */
export interface LeaseInfo {
  readonly id: string;
  readonly vault: string;
  readonly name: string;
  readonly engine: string;
  readonly version: number | null;
  readonly agent: string;
  readonly run: string | null;
  readonly issued_at: string;
  readonly expires_at: string;
  readonly max_expires_at: string;
  readonly state: 'active' | 'revoking';
  readonly attempts: number;
  readonly last_error?: string;
  readonly reason?: string;
}

export interface Delivery {
  readonly lease: LeaseInfo;
  readonly value: Buffer;
  readonly fingerprint: string;
}

/** A claimed revocation is retaken by any replica if not finished by then. */
const CLAIM_MS = 60_000;
/** Credentials revoked at once (each a round-trip to a database or forge). */
const CONCURRENCY = 16;
const MAX_BACKOFF_MS = 5 * 60_000;

export class LeaseService {
  readonly stats = { issued: 0, renewed: 0, revoked: 0, expired: 0, revoke_failed: 0 };

  constructor(private readonly deps: LeaseDeps) {}

  /**
   * Delivers VAULT/NAME to `agent` under a new lease, policy deciding first (secret.read): a
   * stored secret's latest version, or a new credential from the vault's dynamic engine.
   */
  async issue(req: {
    vault: string;
    name: string;
    agent: string;
    run?: string;
    actor: string;
    /** secret.use: for the control plane's use on the agent's behalf (what purpose). */
    use?: string;
    /** For policy with a use (the egress proxy's host and path). */
    context?: Readonly<Record<string, string>>;
  }): Promise<Delivery> {
    checkNames(req.vault, req.name);
    const id = `lease_${randomBytes(12).toString('hex')}`;
    const now = this.deps.now();
    const engine = this.deps.engines.get(req.vault);
    const who = {
      actor: req.actor,
      agent: req.agent,
      ...(req.run ? { run: req.run } : {}),
      lease: id,
      ...(req.use ? { action: 'secret.use' as const, purpose: req.use } : {}),
      ...(req.context ? { context: req.context } : {}),
    };
    let lease: StoredLease;
    let value: Buffer;
    if (!engine) {
      const read = await this.deps.secrets.read(req.vault, req.name, who);
      value = read.value;
      lease = this.newLease(
        id,
        req,
        now,
        'static',
        read.info.version,
        read.info.fingerprint,
        '{}',
        this.deps,
      );
      await this.deps.store.insert(lease);
    } else {
      const role = engine.role(req.name);
      if (!role) throw new RampartError('RAMPART_E_NOT_FOUND', `no role ${req.name} in vault ${req.vault}`);
      await this.deps.secrets.authorize(req.vault, req.name, who);
      const expiresAt = now + role.ttl;
      const issued = await engine.issue({
        name: req.name,
        agent: req.agent,
        run: req.run,
        lease: id,
        expiresAt,
      });
      value = issued.value;
      const fingerprint = this.deps.auditor.fingerprint(value);
      lease = this.newLease(id, req, now, engine.kind, null, fingerprint, issued.handle, role);
      try {
        await this.deps.store.insert(lease);
      } catch (e) {
        // A credential without a lease would outlive everything: take it back at once.
        await engine.revoke(issued.handle).catch(() => undefined);
        throw e;
      }
      await this.deps.auditor.record({
        actor: req.actor,
        action: req.use ? 'secret.use' : 'secret.read',
        target: `secret:${req.vault}/${req.name}`,
        outcome: 'success',
        details: {
          ...who,
          engine: engine.kind,
          fingerprint,
          expires_at: new Date(lease.expiresAt).toISOString(),
        },
      });
    }
    this.stats.issued++;
    return { lease: infoOf(lease), value, fingerprint: lease.fingerprint };
  }

  /**
   * Extends a lease by its TTL, never past its max TTL. A stored secret with a newer version is
   * delivered again (policy deciding again) with the renewal: that is how rotation reaches a run.
   * `run`: the caller is that run's runner, and may renew only that run's leases.
   */
  async renew(
    id: string,
    opts: { actor: string; run?: string },
  ): Promise<{ lease: LeaseInfo; value?: Buffer }> {
    const lease = await this.deps.store.get(id);
    if (!lease || lease.state !== 'active' || (opts.run !== undefined && lease.run !== opts.run))
      throw new RampartError(
        'RAMPART_E_LEASE',
        `lease ${id} has ended (revoked or expired), or is not this run's`,
      );
    const now = this.deps.now();
    const engine = this.deps.engines.get(lease.vault);
    const expiresAt = Math.min(now + this.ttlOf(lease), lease.maxExpiresAt);
    if (expiresAt <= now) {
      await this.revoke({ id }, 'max TTL reached', opts.actor);
      throw new RampartError('RAMPART_E_LEASE', `lease ${id} reached its max TTL`);
    }
    let value: Buffer | undefined;
    let version: number | undefined;
    const who = {
      actor: opts.actor,
      agent: lease.agent,
      ...(lease.run ? { run: lease.run } : {}),
      lease: id,
    };
    if (engine) await engine.renew(lease.handle, expiresAt);
    else {
      const latest = await this.deps.secrets.latest(lease.vault, lease.name);
      if (latest !== undefined && latest !== lease.version) {
        try {
          const read = await this.deps.secrets.read(lease.vault, lease.name, { ...who, version: latest });
          value = read.value;
          version = latest;
        } catch (e) {
          if (e instanceof RampartError && e.code === 'RAMPART_E_FORBIDDEN')
            await this.revoke({ id }, 'policy no longer allows it', opts.actor);
          throw e;
        }
      }
    }
    const renewed = await this.deps.store.renew(id, expiresAt, version);
    if (!renewed) throw new RampartError('RAMPART_E_LEASE', `lease ${id} was revoked while it was renewed`);
    this.stats.renewed++;
    await this.deps.auditor.record({
      actor: opts.actor,
      action: 'secret.lease_renewed',
      target: `secret:${lease.vault}/${lease.name}`,
      outcome: 'success',
      details: {
        ...who,
        expires_at: new Date(expiresAt).toISOString(),
        ...(version !== undefined ? { version, fingerprint: this.deps.auditor.fingerprint(value!) } : {}),
      },
    });
    return { lease: infoOf(renewed), ...(value ? { value } : {}) };
  }

  /** Revokes what a selector matches; resolves with how many were revoked and how many failed. */
  async revoke(
    selector: LeaseSelector,
    reason: string,
    by: string,
  ): Promise<{ revoked: number; failed: number }> {
    const claimed = await this.deps.store.claim(selector, reason, this.deps.now() + CLAIM_MS);
    return this.finish(claimed, reason, by, describe(selector));
  }

  /**
   * Revokes every expired lease, `batch` at a time, pausing after each batch as long as it took
   * (a request waits behind one batch at most, and the sweep takes half the event loop at most), and says so in one event per thousand (30,000
   * expired leases are 30 records, not 30,000). Resolves with how many there were.
   */
  async sweepExpired(batch: number, stop: () => boolean = () => false): Promise<number> {
    const tally = newTally('expired', 'expired', 'rampart');
    let total = 0;
    // Stored secrets' leases first: one statement (one commit) per batch ends them. Then dynamic
    // credentials: claimed, taken back by their engine, removed.
    for (const kind of ['static', 'dynamic'] as const) {
      for (;;) {
        const started = performance.now();
        const now = this.deps.now();
        let n: number;
        if (kind === 'static') {
          const gone = await this.deps.store.removeExpiredStatic(now, batch);
          n = gone.length;
          this.stats.revoked += n;
          addTo(tally, gone);
        } else {
          const claimed = await this.deps.store.claimExpired(now, batch, now + CLAIM_MS);
          n = claimed.length;
          if (n > 0) await this.finish(claimed, 'expired', 'rampart', 'expired', tally);
        }
        total += n;
        this.stats.expired += n;
        if (tally.count >= 1000) await this.publishRevoked(tally);
        if (n < batch || stop()) break;
        // At most half of the event loop: a request takes several turns of it (policy, the store,
        // the audit writer), and a sweep that took every other turn would sit in front of each.
        await new Promise((r) => setTimeout(r, Math.max(1, 2 * (performance.now() - started))));
      }
    }
    await this.publishRevoked(tally);
    return total;
  }

  /** Revocations that failed (or whose replica died), tried again when due. */
  async retry(limit: number): Promise<number> {
    const now = this.deps.now();
    const claimed = await this.deps.store.claimRetries(now, limit, now + CLAIM_MS);
    if (claimed.length > 0) await this.finish(claimed, 'retry', 'rampart', 'retry');
    return claimed.length;
  }

  async get(id: string): Promise<LeaseInfo | undefined> {
    const l = await this.deps.store.get(id);
    return l && infoOf(l);
  }

  async list(
    filter: { run?: string; agent?: string; vault?: string; state?: 'active' | 'revoking' },
    limit: number,
  ): Promise<LeaseInfo[]> {
    return (await this.deps.store.list(filter, limit)).map(infoOf);
  }

  /** The TTL a renewal gives this lease (its role's, or a stored secret's). */
  ttlOf(lease: { vault: string; name: string }): number {
    return this.deps.engines.get(lease.vault)?.role(lease.name)?.ttl ?? this.deps.ttl;
  }

  /** Vaults served by dynamic engines. */
  dynamicVaults(): string[] {
    return [...this.deps.engines.keys()];
  }

  /** Whether VAULT is served by a dynamic engine (and which kind). */
  engineOf(vault: string): string | undefined {
    return this.deps.engines.get(vault)?.kind;
  }

  counts(): Promise<{ active: number; revoking: number; failing: number }> {
    return this.deps.store.counts();
  }

  revoking(): Promise<{ revoking: number; failing: number }> {
    return this.deps.store.revoking();
  }

  /**
   * Takes back each claimed lease's credential (a few at a time), removes the revoked ones, and
   * keeps the rest "revoking" with their error and next attempt. One event says what was revoked;
   * each failure is an event of its own.
   */
  private async finish(
    leases: readonly StoredLease[],
    reason: string,
    by: string,
    selector: string,
    into?: Tally,
  ): Promise<{ revoked: number; failed: number }> {
    const done: StoredLease[] = [];
    let failed = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < leases.length) {
        const lease = leases[next++]!;
        const engine = this.deps.engines.get(lease.vault);
        try {
          if (lease.engine !== 'static') {
            if (!engine || engine.kind !== lease.engine)
              throw new Error(`no ${lease.engine} engine serves vault ${lease.vault} now`);
            await withTimeout(engine.revoke(lease.handle), this.deps.revokeTimeout);
          }
          done.push(lease);
        } catch (e) {
          failed++;
          await this.failed(lease, messageOf(e));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, leases.length) }, worker));
    if (done.length > 0) {
      await this.deps.store.remove(done.map((l) => l.id));
      this.stats.revoked += done.length;
      const tally = into ?? newTally(selector, done[0]!.reason ?? reason, by);
      addTo(tally, done);
      if (!into) await this.publishRevoked(tally);
    }
    return { revoked: done.length, failed };
  }

  /** One event for what a tally holds (then empties it). */
  private async publishRevoked(t: Tally): Promise<void> {
    if (t.count === 0) return;
    const runs = [...t.runs];
    const event = {
      selector: t.selector,
      reason: t.reason,
      by: t.by,
      count: t.count,
      leases: t.leases.splice(0),
      runs,
    };
    const agent = t.agents.size === 1 ? [...t.agents][0]! : undefined;
    t.count = 0;
    t.runs.clear();
    t.agents.clear();
    await this.deps.bus.publish({
      type: 'secrets.leases_revoked',
      severity: 'info',
      source: 'secrets',
      ...(runs.length === 1 && agent ? { subject: { run: runs[0]!, agent } } : {}),
      data: event,
    });
  }

  private async failed(lease: StoredLease, error: string): Promise<void> {
    this.stats.revoke_failed++;
    const attempts = lease.attempts + 1;
    const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(attempts - 1, 16));
    await this.deps.store.failed(lease.id, this.deps.now() + backoff * (0.75 + Math.random() / 2), error);
    await this.deps.bus.publish({
      type: 'secrets.lease_revoke_failed',
      severity: 'high',
      source: 'secrets',
      subject: { agent: lease.agent, ...(lease.run ? { run: lease.run } : {}) },
      outcome: 'failure',
      data: { lease: lease.id, vault: lease.vault, name: lease.name, engine: lease.engine, attempts, error },
    });
  }

  private newLease(
    id: string,
    req: { vault: string; name: string; agent: string; run?: string },
    now: number,
    engine: string,
    version: number | null,
    fingerprint: string,
    handle: string,
    limits: { ttl: number; maxTtl: number },
  ): StoredLease {
    return {
      id,
      vault: req.vault,
      name: req.name,
      engine,
      version,
      agent: req.agent,
      run: req.run ?? null,
      issuedAt: now,
      expiresAt: now + limits.ttl,
      maxExpiresAt: now + Math.max(limits.maxTtl, limits.ttl),
      state: 'active',
      attempts: 0,
      nextAttemptAt: null,
      lastError: null,
      reason: null,
      handle,
      fingerprint,
    };
  }
}

/** What one leases_revoked event will say: counts, and the first 100 leases and runs. */
interface Tally {
  readonly selector: string;
  readonly reason: string;
  readonly by: string;
  count: number;
  readonly leases: string[];
  readonly runs: Set<string>;
  readonly agents: Set<string>;
}

function addTo(tally: Tally, leases: readonly StoredLease[]): void {
  tally.count += leases.length;
  for (const l of leases) {
    if (tally.leases.length < 100) tally.leases.push(l.id);
    if (l.run !== null && tally.runs.size < 100) tally.runs.add(l.run);
    tally.agents.add(l.agent);
  }
}

function newTally(selector: string, reason: string, by: string): Tally {
  return { selector, reason, by, count: 0, leases: [], runs: new Set(), agents: new Set() };
}

function describe(s: LeaseSelector): string {
  if ('id' in s) return `lease:${s.id}`;
  if ('run' in s) return `run:${s.run}`;
  if ('agent' in s) return `agent:${s.agent}`;
  if ('vault' in s) return `vault:${s.vault}`;
  return 'all';
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

export function infoOf(l: StoredLease): LeaseInfo {
  return {
    id: l.id,
    vault: l.vault,
    name: l.name,
    engine: l.engine,
    version: l.version,
    agent: l.agent,
    run: l.run,
    issued_at: new Date(l.issuedAt).toISOString(),
    expires_at: new Date(l.expiresAt).toISOString(),
    max_expires_at: new Date(l.maxExpiresAt).toISOString(),
    state: l.state,
    attempts: l.attempts,
    ...(l.lastError ? { last_error: l.lastError } : {}),
    ...(l.reason ? { reason: l.reason } : {}),
  };
}

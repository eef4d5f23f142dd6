// Workload identity: issuing, refreshing, verifying and revoking the short-lived tokens agents
// carry, and the per-agent and per-token rate limits applied to them.
//
// Verification is synchronous and in memory (keys and revocations are kept current by
// notifications and a periodic resynchronization), so it can run in a request hook and in the
// egress proxy's connect path. It fails closed: if revocations cannot be refreshed from the store
// for longer than identity.revocation_staleness, every token is refused until they can be.

import { hash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { gitBindingProblem, type GitBinding } from '../core/claims.js';
import type { Clock } from '../core/clock.js';
import { RampartError, messageOf, RampartErrorList } from '../core/errors.js';
import type { Certifier } from '../core/installation.js';
import type { EventPublisher } from '../core/events.js';
import { TokenBuckets, type RateClass } from '../core/ratelimit.js';
import type { IdentitySettings } from '../core/settings.js';
import type { ComponentHealth, Log } from '../core/types.js';
import type { RevocationKind, RevocationRecord, Store } from '../store/types.js';
import { KeyRing } from './keys.js';
import { RevocationSet } from './revocations.js';
import {
  signToken,
  verifyToken,
  type VerifyPolicy,
  type VerifyResult,
  type WorkloadClaims,
} from './token.js';

export interface IdentityOptions extends IdentitySettings {
  readonly store: Store;
  readonly dataDir: string;
  readonly clock: Clock;
  readonly events: EventPublisher;
  readonly log: Log;
  /** The installation key: the root of trust for every replica's signing keys. */
  readonly certifier: Certifier;
  /** Why an agent may get no token now (the response engine's block), or undefined. */
  readonly blocked?: (agent: string) => string | undefined;
}

export interface IssueRequest {
  readonly agent: string;
  readonly namespace: string;
  readonly capabilities: readonly string[];
  /** An existing run to issue for; a new run id otherwise. */
  readonly run?: string | undefined;
  /** At most identity.token_ttl. */
  readonly ttlMs?: number | undefined;
  /** The repository and task the run is bound to (the git gate's scope). */
  readonly git?: GitBinding | undefined;
}

export interface Issued {
  readonly token: string;
  readonly claims: WorkloadClaims;
  readonly kid: string;
}

/** How often keys and revocations are reloaded from the store, whatever notifications say. */
const RESYNC_MS = 5_000;
const REVOCATION_CHANNEL = 'identity.revocations';
const KEY_CHANNEL = 'identity.keys';
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;
const CAP_RE = /^[A-Za-z0-9][A-Za-z0-9._:*/-]{0,127}$/;

interface CacheEntry {
  readonly claims: WorkloadClaims;
  readonly kid: string;
}

export class IdentityService {
  readonly stats = { verified: 0, cacheHits: 0, rejected: new Map<string, number>(), rateLimited: 0 };
  private readonly revocations = new RevocationSet();
  private readonly cache = new Map<string, CacheEntry>();
  private readonly policy: VerifyPolicy;
  private readonly limits: Record<RateClass, { agent: TokenBuckets; token: TokenBuckets }>;
  private readonly limitHits = new Map<string, { count: number; since: number; reported: boolean }>();
  private readonly revokeListeners = new Set<(r: RevocationRecord) => void>();
  /** Ids of the revocations applied (those in force, and ones learned since the last resync). */
  private seen = new Set<number>();
  private lastSync: number;
  private syncError: string | undefined;
  private staleReported = false;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void)[] = [];
  private lastKeyReload = 0;

  private constructor(
    private readonly opts: IdentityOptions,
    private readonly keys: KeyRing,
  ) {
    this.policy = {
      issuer: opts.issuer,
      audience: opts.audience,
      skewMs: opts.clockSkewMs,
      maxTtlMs: opts.tokenTtlMs,
    };
    this.limits = Object.fromEntries(
      (Object.keys(opts.rateLimits) as RateClass[]).map((c) => [
        c,
        {
          agent: new TokenBuckets(opts.rateLimits[c].perAgent),
          token: new TokenBuckets(opts.rateLimits[c].perToken),
        },
      ]),
    ) as IdentityService['limits'];
    this.lastSync = opts.clock.now();
  }

  static async start(opts: IdentityOptions): Promise<IdentityService> {
    const now = opts.clock.now();
    const keys = await KeyRing.open(
      {
        dir: join(opts.dataDir, 'keys', 'identity'),
        store: opts.store.identity,
        rotationMs: opts.keyRotationMs,
        verifyWindowMs: opts.tokenTtlMs + opts.clockSkewMs,
        certifier: opts.certifier,
        onUntrusted: (kid, why) =>
          void opts.events
            .publish({
              type: 'identity.key_untrusted',
              severity: 'critical',
              source: 'identity',
              outcome: 'denied',
              data: { kid, reason: why },
            })
            .catch((e: unknown) =>
              opts.log.error({ err: messageOf(e), kid }, 'could not record an untrusted key'),
            ),
      },
      now,
    );
    const svc = new IdentityService(opts, keys);
    const inForce = await opts.store.identity.revocations(now);
    svc.revocations.replace(inForce);
    svc.seen = new Set(inForce.map((r) => r.id));
    svc.lastSync = now;
    const n = opts.store.notifications;
    svc.unsubscribe.push(n.subscribe(REVOCATION_CHANNEL, (p) => svc.onRevocationNotice(p)));
    svc.unsubscribe.push(n.subscribe(KEY_CHANNEL, () => void svc.reloadKeys()));
    const every = (ms: number, fn: () => Promise<void>): void => {
      const t = setInterval(() => void fn().catch(() => undefined), ms);
      t.unref();
      svc.timers.push(t);
    };
    every(RESYNC_MS, () => svc.resync());
    every(60_000, () => svc.maintain());
    // A new replica's key becomes known to the others at once.
    await n.publish(KEY_CHANNEL, keys.signer.kid).catch(() => undefined);
    return svc;
  }

  // ------------------------------------------------------------------------------ verification

  /**
   * Verifies a workload token: form, signature, claims, revocation. Synchronous; never throws
   * for any input. The token is never logged or kept: the cache is keyed by its SHA-256.
   */
  verify(token: string): VerifyResult {
    const now = this.opts.clock.now();
    if (now - this.lastSync > this.opts.revocationStalenessMs) {
      return this.rejected({
        ok: false,
        kind: 'revocations_stale',
        reason: `revocations have not been refreshed for ${Math.round((now - this.lastSync) / 1000)} s: tokens cannot be trusted`,
      });
    }
    const key = this.opts.cacheSize > 0 && token.length <= 4096 ? hash('sha256', token, 'base64') : undefined;
    const hit = key === undefined ? undefined : this.cache.get(key);
    let result: VerifyResult;
    if (hit) {
      const v = this.keys.byKid.get(hit.kid);
      const skew = this.opts.clockSkewMs;
      if (!v || now > v.verifyUntil)
        result = { ok: false, kind: 'retired_key', reason: `key ${hit.kid} is retired`, kid: hit.kid };
      else if (now >= hit.claims.exp * 1000 + skew) {
        this.cache.delete(key!);
        result = {
          ok: false,
          kind: 'expired',
          reason: 'the token has expired',
          sub: hit.claims.sub,
          jti: hit.claims.jti,
        };
      } else {
        this.stats.cacheHits++;
        result = { ok: true, claims: hit.claims, kid: hit.kid };
      }
    } else {
      result = verifyToken(token, now, this.keys.byHeader, this.keys.byKid, this.keys.retired, this.policy);
      if (!result.ok && result.kind === 'unknown_key') this.maybeReloadKeys(now);
      if (result.ok && key !== undefined) this.remember(key, { claims: result.claims, kid: result.kid });
    }
    if (result.ok) {
      const revoked = this.revocations.check(result.claims);
      if (revoked !== undefined) {
        if (key !== undefined) this.cache.delete(key);
        return this.rejected({
          ok: false,
          kind: 'revoked',
          reason: revoked,
          sub: result.claims.sub,
          jti: result.claims.jti,
        });
      }
      this.stats.verified++;
      return result;
    }
    return this.rejected(result);
  }

  private rejected(r: VerifyResult & { ok: false }): VerifyResult {
    this.stats.rejected.set(r.kind, (this.stats.rejected.get(r.kind) ?? 0) + 1);
    return r;
  }

  private remember(key: string, e: CacheEntry): void {
    if (this.cache.size >= this.opts.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(key, e);
  }

  // ------------------------------------------------------------------------------ issuing

  /**
   * Everything wrong with a token request, at once (a missing namespace is the caller's to add):
   * one error hiding the next makes a user fix a request three times.
   */
  issueProblems(req: Omit<IssueRequest, 'namespace'> & { namespace?: string | undefined }): RampartError[] {
    const problems: RampartError[] = [];
    const bad = (m: string): void =>
      void problems.push(new RampartError('RAMPART_E_TOKEN_REQUEST_INVALID', m));
    if (!ID_RE.test(req.agent)) bad(`agent "${req.agent}" is not a valid id`);
    if (req.run !== undefined && !ID_RE.test(req.run)) bad(`run "${req.run}" is not a valid id`);
    if (req.namespace !== undefined && !ID_RE.test(req.namespace))
      bad(`namespace "${req.namespace}" is not a valid id`);
    if (req.capabilities.length > 64 || !req.capabilities.every((c) => CAP_RE.test(c)))
      bad('capabilities must be at most 64 names of letters, digits and . _ : * / -');
    if (req.git !== undefined) {
      const why = gitBindingProblem(req.git);
      if (why) bad(why);
    }
    const ttl = req.ttlMs ?? this.opts.tokenTtlMs;
    if (!(ttl >= 1000) || ttl > this.opts.tokenTtlMs)
      bad(
        `the lifetime ${Math.round(ttl / 1000)}s is not between 1s and identity.token_ttl (${this.opts.tokenTtlMs / 1000}s)`,
      );
    return problems;
  }

  async issue(req: IssueRequest): Promise<Issued> {
    this.notBlocked(req.agent);
    const problems = this.issueProblems(req);
    if (problems.length > 0) throw new RampartErrorList(problems);
    const ttl = req.ttlMs ?? this.opts.tokenTtlMs;
    const now = Math.floor(this.opts.clock.now() / 1000);
    return this.sign({
      sub: req.agent,
      run: req.run ?? `run_${randomUUID()}`,
      ns: req.namespace,
      caps: [...new Set(req.capabilities)],
      ...(req.git ? { git: req.git } : {}),
      rst: now,
      iat: now,
      exp: now + Math.floor(ttl / 1000),
    });
  }

  /**
   * A fresh token for the same run, in exchange for a valid one (which is revoked): the same
   * agent, namespace and capabilities, never past the run's hard end.
   */
  async refresh(current: WorkloadClaims, actor: string): Promise<Issued> {
    this.notBlocked(current.sub);
    const now = Math.floor(this.opts.clock.now() / 1000);
    const end = current.rst + Math.floor(this.opts.maxRunLifetimeMs / 1000);
    if (now >= end) {
      throw new RampartError(
        'RAMPART_E_RUN_EXPIRED',
        `run ${current.run} started ${new Date(current.rst * 1000).toISOString()} and has reached identity.max_run_lifetime`,
      );
    }
    const issued = await this.sign({
      sub: current.sub,
      run: current.run,
      ns: current.ns,
      caps: current.caps,
      ...(current.git ? { git: current.git } : {}),
      rst: current.rst,
      iat: now,
      exp: Math.min(end, now + Math.floor(this.opts.tokenTtlMs / 1000)),
    });
    // The presented token is spent: a copy of it (stolen, replayed) refreshes nothing. Recorded by
    // the refresh itself, so no separate event.
    await this.revoke('jti', current.jti, 'refreshed', actor, {
      expiresAt: current.exp * 1000 + this.opts.clockSkewMs,
      announce: false,
    });
    return issued;
  }

  /** A blocked agent gets no token, new or refreshed, until a person releases it. */
  private notBlocked(agent: string): void {
    const why = this.opts.blocked?.(agent);
    if (why !== undefined) throw new RampartError('RAMPART_E_AGENT_BLOCKED', why);
  }

  private async sign(c: Omit<WorkloadClaims, 'iss' | 'aud' | 'jti' | 'nbf'>): Promise<Issued> {
    const signer = this.keys.signer;
    const claims: WorkloadClaims = {
      iss: this.opts.issuer,
      aud: this.opts.audience,
      jti: randomUUID(),
      nbf: c.iat,
      ...c,
    };
    return { token: await signToken(claims, signer.kid, signer.privateKey), claims, kid: signer.kid };
  }

  // ------------------------------------------------------------------------------ revocation

  /**
   * Revokes matching tokens everywhere: stored (so it survives restarts), applied here at once,
   * announced to every replica, and published as an event (which the audit log records first).
   */
  async revoke(
    kind: RevocationKind,
    value: string,
    reason: string,
    actor: string,
    opts: { expiresAt?: number; announce?: boolean; severity?: 'info' | 'medium' | 'high' } = {},
  ): Promise<RevocationRecord> {
    if (kind !== 'all' && !ID_RE.test(value))
      throw new RampartError('RAMPART_E_BAD_REQUEST', `"${value}" is not a valid ${kind}`);
    const now = this.opts.clock.now();
    const rec = await this.opts.store.identity.revoke({
      kind,
      value: kind === 'all' ? '' : value,
      revokedAt: now,
      // Past this, every token it matches has expired anyway.
      expiresAt: opts.expiresAt ?? now + this.opts.tokenTtlMs + this.opts.clockSkewMs + 1000,
      reason: reason.slice(0, 500),
    });
    this.applyRevocation(rec);
    await this.opts.store.notifications
      .publish(REVOCATION_CHANNEL, JSON.stringify(rec))
      .catch((e: unknown) => {
        // Other replicas pick it up at their next resynchronization (within seconds).
        this.opts.log.warn({ err: messageOf(e) }, 'could not announce a revocation; replicas resynchronize');
      });
    if (opts.announce !== false) {
      await this.opts.events.publish({
        type: 'identity.revoked',
        // A run's tokens revoked at its end is routine (info); an operator revoking one agent's,
        // run's or token's is medium; a whole namespace or everything is high: someone looks.
        severity: opts.severity ?? (kind === 'namespace' || kind === 'all' ? 'high' : 'medium'),
        source: 'identity',
        ...(kind === 'agent'
          ? { subject: { agent: value } }
          : kind === 'run'
            ? { subject: { run: value } }
            : {}),
        data: { kind, value: rec.value, reason: rec.reason, revocation: rec.id, by: actor },
      });
    }
    return rec;
  }

  /** The revocations in force, from the store. */
  revocationList(): Promise<RevocationRecord[]> {
    return this.opts.store.identity.revocations(this.opts.clock.now());
  }

  /** Called with every revocation this replica learns of (the egress proxy cuts tunnels with it). */
  onRevoked(fn: (r: RevocationRecord) => void): () => void {
    this.revokeListeners.add(fn);
    return () => this.revokeListeners.delete(fn);
  }

  /** Applies a revocation once (it may arrive by notification and by resynchronization). */
  private applyRevocation(r: RevocationRecord): void {
    if (this.seen.has(r.id)) return;
    this.seen.add(r.id);
    this.revocations.apply(r);
    // Cached verifications are re-checked against revocations on every hit; dropping the matching
    // ones now also frees them.
    for (const [k, e] of this.cache) if (this.revocations.check(e.claims) !== undefined) this.cache.delete(k);
    for (const fn of this.revokeListeners) {
      try {
        fn(r);
      } catch (e) {
        this.opts.log.error({ err: messageOf(e) }, 'revocation listener failed');
      }
    }
  }

  private onRevocationNotice(payload: string): void {
    if (payload === '') {
      void this.resync();
      return;
    }
    try {
      const r = JSON.parse(payload) as RevocationRecord;
      if (typeof r.id === 'number' && typeof r.kind === 'string') this.applyRevocation(r);
    } catch {
      void this.resync();
    }
  }

  /** Reloads revocations and keys from the store; marks staleness when it cannot. */
  async resync(): Promise<void> {
    const now = this.opts.clock.now();
    try {
      const list = await this.opts.store.identity.revocations(now);
      for (const r of list) this.applyRevocation(r);
      // The store is the truth: what it no longer lists has expired.
      this.revocations.replace(list);
      this.seen = new Set(list.map((r) => r.id));
      await this.keys.refresh(now);
      this.lastSync = this.opts.clock.now();
      if (this.syncError !== undefined) this.opts.log.info({}, 'revocations are current again');
      this.syncError = undefined;
      this.staleReported = false;
    } catch (e) {
      this.syncError = messageOf(e);
      if (!this.staleReported && now - this.lastSync > this.opts.revocationStalenessMs) {
        this.staleReported = true;
        await this.opts.events
          .publish({
            type: 'identity.revocations_stale',
            severity: 'critical',
            source: 'identity',
            outcome: 'failure',
            data: { since: this.lastSync, error: this.syncError },
          })
          .catch(() => undefined);
      }
    }
  }

  private async reloadKeys(): Promise<void> {
    this.lastKeyReload = this.opts.clock.now();
    await this.keys.refresh(this.lastKeyReload).catch(() => undefined);
  }

  /** An unknown kid may be a replica that just started: reload keys, at most once a second. */
  private maybeReloadKeys(now: number): void {
    if (now - this.lastKeyReload >= 1000) void this.reloadKeys();
  }

  // ------------------------------------------------------------------------------ keys

  jwks(): { keys: Record<string, unknown>[] } {
    return this.keys.jwks(this.opts.clock.now());
  }

  get signingKid(): string {
    return this.keys.signer.kid;
  }

  async rotate(why: 'scheduled' | 'requested'): Promise<{ kid: string; previous: string }> {
    const r = await this.keys.rotate(this.opts.clock.now());
    await this.opts.store.notifications.publish(KEY_CHANNEL, r.kid).catch(() => undefined);
    await this.opts.events.publish({
      type: 'identity.key_rotated',
      severity: 'info',
      source: 'identity',
      data: { ...r, why },
    });
    return r;
  }

  /** Rotates the signing key when due and purges expired keys and revocations (every minute). */
  async maintain(): Promise<void> {
    const now = this.opts.clock.now();
    if (this.keys.due(now)) await this.rotate('scheduled');
    await this.opts.store.identity.purgeKeys(now);
    await this.opts.store.identity.purgeRevocations(now);
  }

  // ------------------------------------------------------------------------------ rate limits

  /**
   * Takes one request from the agent's and the token's buckets for `cls`. Returns 0 when allowed,
   * else the ms to wait. Publishes identity.rate_limited when an agent keeps being refused.
   */
  rateLimit(cls: RateClass, claims: WorkloadClaims): number {
    const now = this.opts.clock.now();
    const l = this.limits[cls];
    const wait = Math.max(l.agent.take(claims.sub, now), l.token.take(claims.jti, now));
    if (wait === 0) return 0;
    this.stats.rateLimited++;
    const k = `${cls}\n${claims.sub}`;
    const { rejections, windowMs } = this.opts.rateLimitEvent;
    let h = this.limitHits.get(k);
    if (!h || now - h.since > windowMs) {
      h = { count: 0, since: now, reported: false };
      this.limitHits.set(k, h);
    }
    h.count++;
    if (h.count >= rejections && !h.reported) {
      h.reported = true;
      void this.opts.events
        .publish({
          type: 'identity.rate_limited',
          severity: 'medium',
          source: 'identity',
          outcome: 'denied',
          subject: { agent: claims.sub, run: claims.run },
          data: { agent: claims.sub, class: cls, rejections: h.count, windowMs },
        })
        .catch((e: unknown) =>
          this.opts.log.error({ err: messageOf(e) }, 'could not publish identity.rate_limited'),
        );
    }
    if (this.limitHits.size > 10_000) this.limitHits.clear();
    return wait;
  }

  // ------------------------------------------------------------------------------ health

  health(): ComponentHealth {
    const now = this.opts.clock.now();
    const age = now - this.lastSync;
    if (age > this.opts.revocationStalenessMs)
      return {
        status: 'failing',
        detail: `revocations not refreshed for ${Math.round(age / 1000)} s (${this.syncError ?? 'unknown error'}): every workload token is refused`,
        since: this.lastSync + this.opts.revocationStalenessMs,
      };
    if (this.syncError !== undefined)
      return {
        status: 'degraded',
        detail: `revocations could not be refreshed: ${this.syncError}`,
        since: this.lastSync,
      };
    return {
      status: 'ok',
      detail: `signing with ${this.keys.signer.kid}; ${this.keys.byKid.size} keys verify; ${this.revocations.size} revocations in force`,
    };
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    for (const u of this.unsubscribe) u();
    this.timers = [];
    this.unsubscribe = [];
  }
}

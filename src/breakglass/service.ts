// Break-glass: a person asks for more than their credential allows (scopes, for a time), K of the
// N approvers (each with their own credential, never the requester, never twice) approve, and
// the requester fetches a short-lived credential whose clock started at approval. Every request,
// approval, denial, use and end is an event on record and goes to every notification channel;
// while one is active, health says so on every replica. History stays: requests are kept in the
// store after they end, and the audit log keeps them for ever.
//
// Requests live in the store's meta (`breakglass.req.<id>`), changed by compare-and-set so two
// approvers on two replicas cannot both be the K-th, and followed over the store's notifications.
// The credential is never stored: only its SHA-256 digest, checked on every request.

import { createHash, randomBytes } from 'node:crypto';
import { RampartError } from '../core/errors.js';
import type { EventMap, EventPublisher } from '../core/events.js';
import type { Principal } from '../core/component.js';
import type { Scope } from '../core/scopes.js';
import type { BreakglassSettings } from '../core/settings.js';
import type { Log } from '../core/types.js';
import type { MetaStore, Notifications } from '../store/types.js';

export type GrantStatus = 'pending' | 'active' | 'denied' | 'expired' | 'revoked' | 'lapsed';

export interface Grant {
  readonly id: string;
  /** The requester, as audited: "client:<name>". */
  readonly requester: string;
  readonly scopes: readonly Scope[];
  /** A policy override: the agent's denied decisions of these actions ("*": any) are allowed. */
  readonly override?: { readonly agent: string; readonly actions: readonly string[] };
  readonly reason: string;
  readonly ttlMs: number;
  readonly emergency: boolean;
  readonly required: number;
  readonly requestedAt: number;
  status: GrantStatus;
  approvals: { by: string; at: number }[];
  /** The clock starts here. */
  approvedAt?: number;
  expiresAt?: number;
  endedAt?: number;
  endedBy?: string;
  denied?: { by: string; reason: string };
  /** SHA-256 of the credential, once the requester has fetched it (it is never stored). */
  digest?: string;
  review?: { by: string; at: number; text: string };
}

const REC = 'breakglass.req.';
const CHANNEL = 'rampart_breakglass';
export const CREDENTIAL_PREFIX = 'rampart_breakglass_';
/** Uses after the first are told as a count, once per this period. */
const USE_REPORT_MS = 60_000;

export interface BreakglassOptions {
  readonly settings: BreakglassSettings;
  readonly meta: MetaStore;
  readonly notifications: Notifications;
  readonly bus: EventPublisher;
  readonly log: Log;
  readonly now?: () => number;
}

const refused = (msg: string): RampartError => new RampartError('RAMPART_E_BREAKGLASS_REFUSED', msg);
const conflict = (msg: string): RampartError => new RampartError('RAMPART_E_CONFLICT', msg);

export class BreakglassService {
  private readonly grants = new Map<string, { raw: string; grant: Grant }>();
  /** Active credentials by digest (hex). */
  private active = new Map<string, Grant>();
  /** Every active grant (credentials fetched or not, overrides). */
  private live: Grant[] = [];
  private readonly uses = new Map<string, { total: number; told: number; toldAt: number }>();
  private unlisten: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastError: string | undefined;

  private constructor(private readonly o: BreakglassOptions) {}

  static async start(o: BreakglassOptions): Promise<BreakglassService> {
    const s = new BreakglassService(o);
    for (const [k, raw] of await o.meta.list(REC))
      s.grants.set(k.slice(REC.length), { raw, grant: JSON.parse(raw) as Grant });
    s.reindex();
    s.unlisten = o.notifications.subscribe(CHANNEL, (id) => void s.reload(id).catch(() => undefined));
    let ticks = 0;
    s.timer = setInterval(() => {
      // Every second: end what expired; every 10 s: re-read everything (a missed notification).
      void (async () => {
        if (++ticks % 10 === 0) await s.refresh();
        await s.sweep();
        await s.tellUses();
        s.lastError = undefined;
      })().catch((e: unknown) => {
        s.lastError = (e as Error).message;
        o.log.error({ err: s.lastError }, 'break-glass sweep failed');
      });
    }, 1000);
    s.timer.unref();
    return s;
  }

  private get now(): number {
    return (this.o.now ?? Date.now)();
  }

  stop(): void {
    this.unlisten?.();
    if (this.timer) clearInterval(this.timer);
  }

  /** Active grants and their credentials, rebuilt on every change: requests, decisions and health never scan history. */
  private reindex(): void {
    const next = new Map<string, Grant>();
    const live: Grant[] = [];
    for (const { grant } of this.grants.values()) {
      if (grant.status !== 'active') continue;
      if (grant.digest) next.set(grant.digest, grant);
      live.push(grant);
    }
    this.active = next;
    this.live = live;
  }

  private async reload(id: string): Promise<void> {
    const raw = await this.o.meta.get(REC + id);
    if (raw === undefined) return;
    this.grants.set(id, { raw, grant: JSON.parse(raw) as Grant });
    this.reindex();
  }

  private async refresh(): Promise<void> {
    for (const [k, raw] of await this.o.meta.list(REC)) {
      const id = k.slice(REC.length);
      if (this.grants.get(id)?.raw !== raw) this.grants.set(id, { raw, grant: JSON.parse(raw) as Grant });
    }
    this.reindex();
  }

  list(): Grant[] {
    return [...this.grants.values()]
      .map((g) => redact(g.grant))
      .sort((a, b) => b.requestedAt - a.requestedAt);
  }

  get(id: string): Grant {
    const g = this.grants.get(id);
    if (!g) throw new RampartError('RAMPART_E_NOT_FOUND', `no break-glass request ${id}`);
    return redact(g.grant);
  }

  /** Active grants now (for health and the banner). */
  activeNow(): Grant[] {
    const t = this.now;
    return this.live.filter((g) => (g.expiresAt ?? 0) > t).map(redact);
  }

  health(): { status: 'ok' | 'degraded'; detail: string } {
    const on = this.activeNow();
    if (on.length > 0)
      return {
        status: 'degraded',
        detail: `BREAK-GLASS ACTIVE: ${on
          .map(
            (g) =>
              `${g.id} for ${g.requester} (${[...g.scopes, ...(g.override ? [`override of ${g.override.actions.join(', ')} for agent ${g.override.agent}`] : [])].join(', ')}) until ${new Date(g.expiresAt!).toISOString()}${g.emergency ? ', emergency self-approval' : ''}`,
          )
          .join('; ')}`,
      };
    if (this.lastError)
      return { status: 'degraded', detail: `break-glass requests could not be swept: ${this.lastError}` };
    const pending = [...this.grants.values()].filter((g) => g.grant.status === 'pending').length;
    return {
      status: 'ok',
      detail: pending > 0 ? `${pending} request(s) waiting for approval` : 'none active',
    };
  }

  /** The principal a break-glass credential stands for, or undefined (checked on every request). */
  authenticate(digest: Buffer): Principal | undefined {
    const g = this.active.get(digest.toString('hex'));
    if (!g || g.status !== 'active' || (g.expiresAt ?? 0) <= this.now) return undefined;
    return { actor: `breakglass:${g.id}:${g.requester}`, scopes: new Set(g.scopes), breakglass: g.id };
  }

  /** The active override covering an agent's decision of `action`, counted as a use. */
  override(agent: string, action: string): { id: string; by: string } | undefined {
    const t = this.now;
    for (const g of this.live) {
      if (g.status !== 'active' || (g.expiresAt ?? 0) <= t || !g.override || g.override.agent !== agent)
        continue;
      if (!g.override.actions.includes(action) && !g.override.actions.includes('*')) continue;
      this.used(g.id, 'decide', action);
      return { id: g.id, by: g.requester };
    }
    return undefined;
  }

  /** A request made with a break-glass credential: the first is told at once, the rest counted. */
  used(id: string, method: string, route: string): void {
    const u = this.uses.get(id);
    if (u) {
      u.total++;
      return;
    }
    const u0 = { total: 1, told: 1, toldAt: this.now };
    this.uses.set(id, u0);
    const g = this.grants.get(id)?.grant;
    this.publish('breakglass.used', { id, requester: g?.requester ?? '?', uses: 1, method, route }).catch(
      (e: unknown) => {
        // Told again with the minute's count (the use is counted, not forgotten).
        u0.told = 0;
        this.o.log.error({ err: (e as Error).message, id }, 'a break-glass use could not be recorded');
      },
    );
  }

  private async tellUses(): Promise<void> {
    for (const [id, u] of this.uses) {
      if (u.total === u.told) continue;
      const g = this.grants.get(id)?.grant;
      if (g?.status === 'active' && this.now - u.toldAt < USE_REPORT_MS) continue;
      const n = u.total - u.told;
      u.told = u.total;
      u.toldAt = this.now;
      await this.publish('breakglass.used', {
        id,
        requester: g?.requester ?? '?',
        uses: n,
        method: '*',
        route: '*',
      });
    }
  }

  private async publish<
    K extends
      | 'breakglass.requested'
      | 'breakglass.approved'
      | 'breakglass.denied'
      | 'breakglass.used'
      | 'breakglass.ended'
      | 'breakglass.reviewed',
  >(type: K, data: EventMap[K]): Promise<void> {
    const severity =
      type === 'breakglass.denied' || type === 'breakglass.ended'
        ? 'high'
        : type === 'breakglass.reviewed'
          ? 'medium'
          : 'critical';
    await this.o.bus.publish({ type, severity, source: 'breakglass', data } as never);
  }

  /** Changes a request by compare-and-set; `fn` throws to refuse, returns false to leave it. */
  private async update(id: string, fn: (g: Grant) => boolean): Promise<{ grant: Grant; changed: boolean }> {
    for (let round = 0; round < 20; round++) {
      const raw = await this.o.meta.get(REC + id);
      if (raw === undefined) throw new RampartError('RAMPART_E_NOT_FOUND', `no break-glass request ${id}`);
      const g = JSON.parse(raw) as Grant;
      if (!fn(g)) return { grant: g, changed: false };
      const next = JSON.stringify(g);
      if (await this.o.meta.compareAndSet(REC + id, raw, next)) {
        this.grants.set(id, { raw: next, grant: g });
        this.reindex();
        await this.o.notifications.publish(CHANNEL, id);
        return { grant: g, changed: true };
      }
    }
    throw new Error(`break-glass request ${id} kept changing under 20 attempts`);
  }

  private personal(p: Principal, what: string): string {
    if (p.breakglass) throw refused(`a break-glass credential cannot ${what}`);
    if (!p.actor.startsWith('client:'))
      throw refused(`${what} needs a personal credential (an auth.clients token), not ${p.actor}`);
    return p.actor;
  }

  async request(
    p: Principal,
    r: {
      scopes: Scope[];
      override?: { agent: string; actions: string[] };
      reason: string;
      ttlMs: number;
      emergency: boolean;
    },
  ): Promise<Grant> {
    const s = this.o.settings;
    const requester = this.personal(p, 'ask for break-glass');
    if (r.emergency && !s.allowEmergency)
      throw refused('emergency self-approval is switched off (breakglass.emergency)');
    if (!r.emergency && s.approvers.length === 0)
      throw refused('break-glass has no approvers (breakglass.approvers); only --emergency is possible');
    if (r.scopes.length === 0 && !r.override)
      throw new RampartError('RAMPART_E_BAD_REQUEST', 'ask for scopes, a policy override, or both');
    if (r.override && !s.overrides) throw refused('policy overrides are switched off (breakglass.overrides)');
    const outside = r.scopes.filter((x) => !s.scopes.includes(x));
    if (outside.length > 0) throw refused(`scope(s) ${outside.join(', ')} are not in breakglass.scopes`);
    if (r.ttlMs > s.maxTtlMs)
      throw refused(`ttl ${r.ttlMs} ms is longer than breakglass.max_ttl (${s.maxTtlMs} ms)`);
    await this.refresh();
    const open = [...this.grants.values()].find(
      (g) => g.grant.requester === requester && (g.grant.status === 'pending' || g.grant.status === 'active'),
    );
    // One attempt at a time (Vault's generate-root): a second request would split the approvers.
    if (open)
      throw conflict(`${requester} already has break-glass request ${open.grant.id} ${open.grant.status}`);
    const at = this.now;
    const g: Grant = {
      id: `BG-${randomBytes(5).toString('hex').toUpperCase()}`,
      requester,
      scopes: r.scopes,
      ...(r.override ? { override: r.override } : {}),
      reason: r.reason,
      ttlMs: r.ttlMs,
      emergency: r.emergency,
      required: r.emergency ? 1 : s.required,
      requestedAt: at,
      status: 'pending',
      approvals: [],
    };
    // The request is on record before it exists: a request nobody heard of never becomes access.
    await this.publish('breakglass.requested', {
      id: g.id,
      requester,
      scopes: [...g.scopes],
      ...(g.override ? { override: { agent: g.override.agent, actions: [...g.override.actions] } } : {}),
      reason: g.reason,
      ttlMs: g.ttlMs,
      emergency: g.emergency,
      required: g.required,
    });
    const raw = JSON.stringify(g);
    await this.o.meta.compareAndSet(REC + g.id, undefined, raw);
    this.grants.set(g.id, { raw, grant: g });
    await this.o.notifications.publish(CHANNEL, g.id);
    if (r.emergency) return this.approve(p, g.id);
    return redact(g);
  }

  async approve(p: Principal, id: string): Promise<Grant> {
    const s = this.o.settings;
    const by = this.personal(p, 'approve break-glass');
    const at = this.now;
    const r = await this.update(id, (g) => {
      if (g.status !== 'pending') throw conflict(`break-glass request ${id} is ${g.status}, not pending`);
      if (by === g.requester) {
        if (!g.emergency)
          throw refused(
            'a requester never approves their own request (ask with --emergency in an emergency)',
          );
      } else if (!s.approvers.includes(by.slice('client:'.length)))
        throw refused(`${by} is not a break-glass approver (breakglass.approvers)`);
      if (g.approvals.some((a) => a.by === by)) throw refused(`${by} has already approved ${id}`);
      g.approvals.push({ by, at });
      if (g.approvals.length >= g.required) {
        g.status = 'active';
        g.approvedAt = at;
        g.expiresAt = at + g.ttlMs;
      }
      return true;
    });
    const g = r.grant;
    await this.publish('breakglass.approved', {
      id,
      requester: g.requester,
      by,
      approvals: g.approvals.map((a) => a.by),
      required: g.required,
      active: g.status === 'active',
      emergency: g.emergency,
      ...(g.expiresAt ? { expiresAt: new Date(g.expiresAt).toISOString() } : {}),
    });
    return redact(g);
  }

  async deny(p: Principal, id: string, reason: string): Promise<Grant> {
    const by = this.personal(p, 'deny break-glass');
    const r = await this.update(id, (g) => {
      if (g.status !== 'pending') throw conflict(`break-glass request ${id} is ${g.status}, not pending`);
      if (by !== g.requester && !this.o.settings.approvers.includes(by.slice('client:'.length)))
        throw refused(`${by} is not a break-glass approver`);
      g.status = 'denied';
      g.denied = { by, reason };
      g.endedAt = this.now;
      g.endedBy = by;
      return true;
    });
    await this.publish('breakglass.denied', { id, requester: r.grant.requester, by, reason });
    return redact(r.grant);
  }

  /** The credential, once, to the requester of an active grant. */
  async credential(
    p: Principal,
    id: string,
  ): Promise<{ token: string; expiresAt: string; scopes: readonly Scope[] }> {
    const token = CREDENTIAL_PREFIX + randomBytes(32).toString('base64url');
    const digest = createHash('sha256').update(token).digest('hex');
    const r = await this.update(id, (g) => {
      if (p.actor !== g.requester) throw refused(`only ${g.requester} may fetch the credential of ${id}`);
      if (g.status !== 'active' || (g.expiresAt ?? 0) <= this.now)
        throw conflict(`break-glass ${id} is ${g.status}, not active`);
      if (g.scopes.length === 0)
        throw conflict(`break-glass ${id} is a policy override: it has no credential`);
      if (g.digest)
        throw conflict(`the credential of ${id} was fetched already (revoke it and ask again if it is lost)`);
      g.digest = digest;
      return true;
    });
    return { token, expiresAt: new Date(r.grant.expiresAt!).toISOString(), scopes: r.grant.scopes };
  }

  async revoke(p: Principal, id: string): Promise<Grant> {
    const by = p.actor;
    const r = await this.update(id, (g) => {
      if (g.status !== 'active' && g.status !== 'pending') throw conflict(`break-glass ${id} is ${g.status}`);
      const approver = by.startsWith('client:') && this.o.settings.approvers.includes(by.slice(7));
      if (by !== g.requester && !approver && !p.scopes.has('admin'))
        throw refused(`${by} may not revoke ${id} (the requester, an approver or an admin may)`);
      g.status = 'revoked';
      g.endedAt = this.now;
      g.endedBy = by;
      return true;
    });
    await this.ended(r.grant, 'revoked', by);
    return redact(r.grant);
  }

  async review(p: Principal, id: string, text: string): Promise<Grant> {
    const by = this.personal(p, 'review break-glass');
    const r = await this.update(id, (g) => {
      if (g.status === 'pending' || g.status === 'active')
        throw conflict(
          `break-glass ${id} is ${g.status}: review it once it has ended (revoke it to end it now)`,
        );
      if (by === g.requester) throw refused('the requester cannot review their own break-glass access');
      if (g.review) throw conflict(`break-glass ${id} was reviewed by ${g.review.by}`);
      g.review = { by, at: this.now, text };
      return true;
    });
    await this.publish('breakglass.reviewed', { id, requester: r.grant.requester, by, text });
    return redact(r.grant);
  }

  private async ended(g: Grant, why: 'expired' | 'revoked' | 'lapsed', by: string): Promise<void> {
    const uses = this.uses.get(g.id);
    await this.publish('breakglass.ended', {
      id: g.id,
      requester: g.requester,
      why,
      by,
      uses: uses?.total ?? 0,
    });
  }

  /** Ends what expired or lapsed; the replica whose change lands tells. */
  private async sweep(): Promise<void> {
    const t = this.now;
    for (const { grant } of [...this.grants.values()]) {
      const expire = grant.status === 'active' && (grant.expiresAt ?? 0) <= t;
      const lapse = grant.status === 'pending' && grant.requestedAt + this.o.settings.pendingMs <= t;
      if (!expire && !lapse) continue;
      const r = await this.update(grant.id, (g) => {
        if (g.status === 'active' && (g.expiresAt ?? 0) <= t) g.status = 'expired';
        else if (g.status === 'pending' && g.requestedAt + this.o.settings.pendingMs <= t)
          g.status = 'lapsed';
        else return false;
        g.endedAt = t;
        g.endedBy = 'rampart';
        return true;
      });
      if (r.changed) await this.ended(r.grant, r.grant.status as 'expired' | 'lapsed', 'rampart');
    }
  }

  counts(): Record<GrantStatus, number> {
    const out: Record<GrantStatus, number> = {
      pending: 0,
      active: 0,
      denied: 0,
      expired: 0,
      revoked: 0,
      lapsed: 0,
    };
    for (const { grant } of this.grants.values()) out[grant.status]++;
    return out;
  }

  usesTotal(): number {
    let n = 0;
    for (const u of this.uses.values()) n += u.total;
    return n;
  }
}

/** A grant as shown: the credential's digest is not for anyone to see. */
function redact(g: Grant): Grant {
  const { digest, ...rest } = g;
  return { ...rest, ...(digest ? { digest: 'fetched' } : {}) };
}

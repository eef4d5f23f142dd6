// Console sessions: a person signs in once with an API token, and the browser then holds a random
// session token in an HttpOnly cookie, so no script on the page can read a credential.
//
// Stored in the store's meta under the SHA-256 of the token (a copy of the store cannot be replayed
// as a session), so every replica behind a load balancer knows every session; each replica keeps
// the ones it has seen in memory, and forgets one when any replica records console.signed_out.
// A session carries the scopes of the token it was opened with: a read-only token gives a
// read-only console, enforced by the API itself.
//
// CSRF: a request that changes state must carry the session's CSRF token, HMAC(session, "csrf"),
// which the page learns from GET /console/session (same-origin: no other site can read it) and
// keeps in memory; and its Origin / Sec-Fetch-Site must not name another site. SameSite=Strict
// on the cookie is a third, independent guard.

import { createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../core/component.js';
import type { EventPublisher } from '../core/events.js';
import type { Scope } from '../core/scopes.js';
import type { MetaStore } from '../store/types.js';

export const COOKIE = 'rampart_session';
/** With TLS the cookie is __Host- prefixed: Secure, Path=/, no Domain, enforced by the browser. */
export const TLS_COOKIE = '__Host-rampart_session';
const KEY_PREFIX = 'console:session:';
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
/** Sessions a replica keeps in memory; beyond it, the oldest are looked up in the store again. */
const CACHE_MAX = 10_000;

export type ConsoleBus = EventPublisher;

export interface Session {
  readonly actor: string;
  readonly scopes: readonly Scope[];
  readonly created: string;
  readonly expires: string;
}

/** What the HTTP layer hands over from a request with a cookie and no Authorization header. */
export interface CookieRequest {
  readonly cookie: string | undefined;
  readonly method: string;
  readonly origin: string | undefined;
  readonly host: string | undefined;
  readonly fetchSite: string | undefined;
  readonly csrf: string | undefined;
}

/** A session cookie refused: expired or signed out, or a state change without its CSRF token. */
export interface CookieRefusal {
  readonly reason: string;
  readonly code: 'RAMPART_E_UNAUTHENTICATED' | 'RAMPART_E_CSRF';
}

export interface SessionPrincipal extends Principal {
  /** The session's id as audited: the first 16 hex digits of its token's SHA-256. */
  readonly session: string;
}

const digest = (token: string): string => hash('sha256', token, 'hex');
export const sessionId = (token: string): string => digest(token).slice(0, 16);
export const csrfOf = (token: string): string =>
  createHmac('sha256', token).update('rampart console csrf').digest('base64url');

/** The session token in a Cookie header, or undefined. */
export function sessionToken(cookie: string | undefined, name: string): string | undefined {
  if (!cookie) return undefined;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const v = part.slice(eq + 1).trim();
      return TOKEN.test(v) ? v : undefined;
    }
  }
  return undefined;
}

export class Sessions {
  private readonly cache = new Map<string, Session>();

  constructor(
    private readonly deps: {
      readonly meta: MetaStore;
      readonly bus: ConsoleBus;
      readonly now: () => number;
      readonly ttlMs: number;
      readonly cookie: string;
    },
  ) {}

  /** Opens a session for a principal; the token goes into the cookie and nowhere else. */
  async open(p: Principal, remote: string): Promise<{ token: string; session: Session; id: string }> {
    const token = randomBytes(32).toString('base64url');
    const now = this.deps.now();
    const session: Session = {
      actor: p.actor,
      scopes: [...p.scopes].filter((s): s is Scope => s !== 'agent').sort(),
      created: new Date(now).toISOString(),
      expires: new Date(now + this.deps.ttlMs).toISOString(),
    };
    const id = sessionId(token);
    // On record first: a session that cannot be recorded is never handed out.
    await this.deps.bus.publish({
      type: 'console.signed_in',
      severity: 'info',
      outcome: 'success',
      source: 'console',
      data: { actor: p.actor, session: id, scopes: [...session.scopes], remote, expires: session.expires },
    });
    await this.deps.meta.set(KEY_PREFIX + digest(token), JSON.stringify(session));
    this.remember(digest(token), session);
    return { token, session, id };
  }

  /** The live session of a token, or undefined (unknown, malformed or expired). */
  async lookup(token: string): Promise<Session | undefined> {
    const key = digest(token);
    let s = this.cache.get(key);
    if (!s) {
      const raw = await this.deps.meta.get(KEY_PREFIX + key);
      if (raw === undefined) return undefined;
      s = JSON.parse(raw) as Session;
      this.remember(key, s);
    }
    if (Date.parse(s.expires) <= this.deps.now()) {
      await this.end(token, 'expired');
      return undefined;
    }
    return s;
  }

  /** Authenticates a request by its cookie; undefined when it carries none. */
  authenticate(req: CookieRequest): Promise<SessionPrincipal | CookieRefusal> | undefined {
    const token = sessionToken(req.cookie, this.deps.cookie);
    if (token === undefined) return undefined;
    return this.check(token, req);
  }

  private async check(token: string, req: CookieRequest): Promise<SessionPrincipal | CookieRefusal> {
    const s = await this.lookup(token);
    if (!s) return { reason: 'console session expired or signed out', code: 'RAMPART_E_UNAUTHENTICATED' };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const why = crossSite(req) ?? badCsrf(token, req.csrf);
      if (why) return { reason: why, code: 'RAMPART_E_CSRF' };
    }
    return { actor: s.actor, scopes: new Set(s.scopes), session: sessionId(token) };
  }

  /** Ends a session (signed out or expired); only the replica that removes it records it. */
  async end(token: string, reason: 'signed_out' | 'expired'): Promise<boolean> {
    const key = digest(token);
    const s = this.cache.get(key) ?? parse(await this.deps.meta.get(KEY_PREFIX + key));
    this.cache.delete(key);
    if (!(await this.deps.meta.delete(KEY_PREFIX + key)) || !s) return false;
    await this.deps.bus.publish({
      type: 'console.signed_out',
      severity: 'info',
      outcome: 'success',
      source: 'console',
      data: { actor: s.actor, session: sessionId(token), reason },
    });
    return true;
  }

  /** Another replica ended a session: forget it here too. */
  forget(session: string): void {
    for (const [key] of this.cache) if (key.startsWith(session)) this.cache.delete(key);
  }

  /** Removes expired sessions from the store (each recorded once, by whichever replica wins). */
  async sweep(): Promise<number> {
    let n = 0;
    const now = this.deps.now();
    for (const [key, raw] of await this.deps.meta.list(KEY_PREFIX)) {
      const s = parse(raw);
      if (s && Date.parse(s.expires) > now) continue;
      const hex = key.slice(KEY_PREFIX.length);
      this.cache.delete(hex);
      if (!(await this.deps.meta.delete(key))) continue;
      n++;
      if (s)
        await this.deps.bus.publish({
          type: 'console.signed_out',
          severity: 'info',
          outcome: 'success',
          source: 'console',
          data: { actor: s.actor, session: hex.slice(0, 16), reason: 'expired' },
        });
    }
    return n;
  }

  get size(): number {
    return this.cache.size;
  }

  private remember(key: string, s: Session): void {
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, s);
  }
}

function parse(raw: string | undefined): Session | undefined {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as Session;
  } catch {
    return undefined;
  }
}

/**
 * Why a state change looks cross-site, from what the browser says about where it came from. Fixed
 * wording, never the request's text: it is a refusal's label and goes on record.
 */
function crossSite(req: CookieRequest): string | undefined {
  if (req.fetchSite !== undefined && req.fetchSite !== 'same-origin')
    return 'a state change from another site (Sec-Fetch-Site)';
  if (req.origin !== undefined) {
    let host: string | undefined;
    try {
      host = new URL(req.origin).host;
    } catch {
      host = undefined;
    }
    if (host === undefined || host !== req.host) return 'a state change from another origin (Origin)';
  }
  return undefined;
}

function badCsrf(token: string, given: string | undefined): string | undefined {
  if (given === undefined) return 'no CSRF token (x-rampart-csrf) on a request that changes state';
  const want = Buffer.from(csrfOf(token));
  const got = Buffer.from(given);
  return got.length === want.length && timingSafeEqual(got, want) ? undefined : 'wrong CSRF token';
}

// API credentials: the admin token (generated at first start into DATA/admin.token, mode 0600)
// and client tokens named in the config, each with scopes, compared by SHA-256 digest in constant
// time (only the digests stay in memory after start-up); and agents' workload tokens (JWTs),
// verified by the identity component on every request, which carry the single scope "agent".

import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { ClientConfig } from '../config/load.js';
import type { Scope } from '../config/schema.js';
import type { Rejection, VerifyResult } from '../identity/token.js';
import { RampartError } from '../core/errors.js';
import { readSecretText, writeSecretFile } from '../core/secretfile.js';

import type { Principal, RouteScope } from '../core/component.js';
export type { Principal, RouteScope } from '../core/component.js';

/** A refusal, with what the audit record says about it. */
export interface AuthFailure {
  readonly reason: string;
  /** For workload tokens: the rejection (kind and unverified hints). */
  readonly token?: Rejection;
}

const AGENT_SCOPES: ReadonlySet<'agent'> = new Set(['agent']);
/** A compact JWS: three base64url parts, the first a JSON object ("eyJ"). */
const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;

/** Admin tokens have a recognizable prefix so secret scanners (ours included) can find leaked ones. */
export const ADMIN_TOKEN_PREFIX = 'rampart_admin_';
const MIN_TOKEN_LENGTH = 32;

export { adminTokenPath } from './discovery.js';
import { adminTokenPath } from './discovery.js';

/** Reads the admin token, generating it on first start. */
export function loadOrCreateAdminToken(dataDir: string): string {
  const path = adminTokenPath(dataDir);
  if (!existsSync(path))
    writeSecretFile(path, ADMIN_TOKEN_PREFIX + randomBytes(32).toString('base64url') + '\n');
  return readSecretText(path, { purpose: 'admin token' });
}

interface Entry {
  readonly digest: Buffer;
  readonly principal: Principal;
}

export class Authenticator {
  private readonly entries: Entry[];

  constructor(
    adminToken: string,
    clients: readonly ClientConfig[],
    /** Verifies workload tokens; without it they are refused. */
    private readonly verifyWorkload?: (token: string) => VerifyResult,
    /** Active break-glass credentials, by their SHA-256 (the break-glass component). */
    private readonly breakglass?: (digest: Buffer) => Principal | undefined,
  ) {
    this.entries = [
      { digest: digest(adminToken), principal: { actor: 'admin', scopes: new Set<Scope>(['admin']) } },
    ];
    for (const c of clients) {
      const token = readSecretText(c.tokenFile, { purpose: `auth.clients ${c.name} token_file` });
      if (token.length < MIN_TOKEN_LENGTH) {
        throw new RampartError(
          'RAMPART_E_CONFIG_INVALID',
          `the token in ${c.tokenFile} (client ${c.name}) is ${token.length} characters; tokens need at least ${MIN_TOKEN_LENGTH}`,
        );
      }
      this.entries.push({
        digest: digest(token),
        principal: { actor: `client:${c.name}`, scopes: new Set(c.scopes) },
      });
    }
  }

  /** The principal for an Authorization header value, or why it has none. */
  authenticate(header: string | undefined): Principal | AuthFailure {
    if (header === undefined || header === '') return { reason: 'no credentials' };
    const m = /^Bearer ([\x21-\x7e]{1,8192})$/i.exec(header);
    if (!m) return { reason: 'malformed Authorization header' };
    const credential = m[1]!;
    if (JWT_SHAPE.test(credential)) {
      if (!this.verifyWorkload) return { reason: 'workload tokens are not accepted here' };
      const r = this.verifyWorkload(credential);
      if (!r.ok) return { reason: `workload token refused: ${r.reason}`, token: r };
      return { actor: `agent:${r.claims.sub}`, scopes: AGENT_SCOPES, workload: r.claims };
    }
    const d = digest(credential);
    let found: Principal | undefined;
    // Compare against every entry, so the time taken does not say which one matched.
    for (const e of this.entries) if (timingSafeEqual(e.digest, d)) found = e.principal;
    // A break-glass credential is looked up by its digest: a random 256-bit token's hash, so
    // the lookup's timing says nothing an attacker could use.
    found ??= this.breakglass?.(d);
    return found ?? { reason: 'unknown token' };
  }
}

export function allows(p: Principal, scope: RouteScope): boolean {
  if (scope === 'agent') return p.workload !== undefined;
  // "any" means any API client; an agent reaches only the routes made for agents.
  if (p.workload !== undefined) return false;
  return scope === 'any' || p.scopes.has('admin') || p.scopes.has(scope);
}

function digest(token: string): Buffer {
  return hash('sha256', token, 'buffer');
}

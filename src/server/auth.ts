// API credentials: the admin token (generated at first start into DATA/admin.token, mode 0600)
// and client tokens named in the config, each with scopes. Tokens are compared by SHA-256 digest
// in constant time, and only the digests stay in memory after start-up.

import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientConfig } from '../config/load.js';
import type { Scope } from '../config/schema.js';
import { RampartError } from '../core/errors.js';
import { readSecretText, writeSecretFile } from '../core/secretfile.js';

export interface Principal {
  /** As audited: "admin" or "client:<name>". */
  readonly actor: string;
  readonly scopes: ReadonlySet<Scope>;
}

/** Admin tokens have a recognizable prefix so secret scanners (ours included) can find leaked ones. */
export const ADMIN_TOKEN_PREFIX = 'rampart_admin_';
const MIN_TOKEN_LENGTH = 32;

export function adminTokenPath(dataDir: string): string {
  return join(dataDir, 'admin.token');
}

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

  constructor(adminToken: string, clients: readonly ClientConfig[]) {
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

  /** The principal for an Authorization header value, or a reason it has none. */
  authenticate(header: string | undefined): Principal | { reason: string } {
    if (header === undefined || header === '') return { reason: 'no credentials' };
    const m = /^Bearer ([\x21-\x7e]{1,4096})$/i.exec(header);
    if (!m) return { reason: 'malformed Authorization header' };
    const d = digest(m[1]!);
    let found: Principal | undefined;
    // Compare against every entry, so the time taken does not say which one matched.
    for (const e of this.entries) if (timingSafeEqual(e.digest, d)) found = e.principal;
    return found ?? { reason: 'unknown token' };
  }
}

export function allows(p: Principal, scope: Scope | 'any'): boolean {
  return scope === 'any' || p.scopes.has('admin') || p.scopes.has(scope);
}

function digest(token: string): Buffer {
  return hash('sha256', token, 'buffer');
}

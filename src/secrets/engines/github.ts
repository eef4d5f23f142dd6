// GitHub App installation tokens: a credential per lease, scoped to exactly one repository and
// the permissions its entry names. The engine holds the app's private key (a 0600 file), signs
// the app's JWT (RS256, issued 60 s in the past for clock drift, expiring at most 10 minutes
// later, as GitHub requires), and exchanges it at POST /app/installations/{id}/access_tokens for
// an installation token. What GitHub answers is checked against what was asked (one repository,
// no permission more), so a misconfigured installation cannot hand a run more than its entry.
//
// An installation token lives one hour and cannot be extended: a lease on one has a TTL and max
// TTL of 55 minutes. Revoking one is DELETE /installation/token with the token itself, so the
// lease's handle keeps the token sealed under the secrets KEK (the lease store holds no
// credential in the clear).

import { createPrivateKey, createSign, type KeyObject } from 'node:crypto';
import { request } from 'node:https';
import { RampartError, messageOf } from '../../core/errors.js';
import { readFileSync } from 'node:fs';
import { readSecretText } from '../../core/secretfile.js';
import type { GithubEngineSettings } from '../../core/settings.js';
import type { DynamicEngine, IssueRequest, Issued } from '../engine.js';

/** What the engine needs of the sealer: the token kept in the handle, bound to its lease. */
export interface HandleSealer {
  seal(value: Buffer, aad: string): string;
  open(sealed: string, aad: string): Buffer;
}

const TOKEN_TTL_MS = 55 * 60_000;
const JWT_LIFETIME_S = 9 * 60;
const TIMEOUT_MS = 10_000;

export class GithubEngine implements DynamicEngine {
  readonly kind = 'github';
  private readonly key: KeyObject;
  private readonly ca: Buffer | undefined;
  private readonly byName: ReadonlyMap<string, GithubEngineSettings['repositories'][number]>;

  constructor(
    private readonly settings: GithubEngineSettings,
    private readonly sealer: HandleSealer,
    private readonly now: () => number = Date.now,
  ) {
    const pem = readSecretText(settings.privateKeyFile, {
      purpose: `secrets.github ${settings.vault} private key`,
    });
    try {
      this.key = createPrivateKey(pem);
    } catch {
      throw new RampartError('RAMPART_E_CONFIG_INVALID', `${settings.privateKeyFile}: not a PEM private key`);
    }
    if (this.key.asymmetricKeyType !== 'rsa')
      throw new RampartError(
        'RAMPART_E_CONFIG_INVALID',
        `${settings.privateKeyFile}: a GitHub App key is RSA`,
      );
    this.ca = settings.caFile ? readCa(settings.caFile) : undefined;
    this.byName = new Map(settings.repositories.map((r) => [r.name, r]));
  }

  role(name: string): { ttl: number; maxTtl: number } | undefined {
    return this.byName.has(name) ? { ttl: TOKEN_TTL_MS, maxTtl: TOKEN_TTL_MS } : undefined;
  }

  /** The app's JWT: RS256, iss the app id, iat 60 s back, exp at most 10 minutes after. */
  appJwt(): string {
    const now = Math.floor(this.now() / 1000);
    const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const body = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ iat: now - 60, exp: now + JWT_LIFETIME_S, iss: String(this.settings.appId) })}`;
    const sig = createSign('RSA-SHA256').update(body).sign(this.key).toString('base64url');
    return `${body}.${sig}`;
  }

  async issue(req: IssueRequest): Promise<Issued> {
    const entry = this.byName.get(req.name);
    if (!entry) throw new TypeError(`no repository entry ${req.name}`);
    const res = await this.call(
      'POST',
      `/app/installations/${entry.installationId}/access_tokens`,
      `Bearer ${this.appJwt()}`,
      {
        repositories: [entry.repository],
        permissions: entry.permissions,
      },
    );
    if (res.status !== 201)
      throw new RampartError(
        'RAMPART_E_SECRETS_ENGINE',
        `GitHub refused an installation token for ${req.name}: HTTP ${res.status} ${describe(res.body)}`,
      );
    const body = res.body as {
      token?: unknown;
      repositories?: { name?: unknown }[];
      permissions?: Record<string, unknown>;
    };
    if (typeof body.token !== 'string' || body.token.length < 10)
      throw new RampartError('RAMPART_E_SECRETS_ENGINE', `GitHub's answer for ${req.name} holds no token`);
    const token = body.token;
    // No more than asked: one repository, the permissions named, at no higher level.
    const repos = (body.repositories ?? []).map((r) => r.name);
    const wider =
      repos.length !== 1 || repos[0] !== entry.repository
        ? `repositories ${JSON.stringify(repos)}`
        : Object.entries(body.permissions ?? {})
            .find(([k, v]) => !allowed(entry.permissions[k], v))
            ?.join(': ');
    if (wider) {
      await this.call('DELETE', '/installation/token', `token ${token}`).catch(() => undefined);
      throw new RampartError(
        'RAMPART_E_SECRETS_ENGINE',
        `GitHub granted ${req.name} more than asked (${wider}); the token was revoked`,
      );
    }
    return {
      value: Buffer.from(token),
      handle: JSON.stringify({
        sealed: this.sealer.seal(Buffer.from(token), `github-token|${req.lease}`),
        lease: req.lease,
      }),
    };
  }

  /** Installation tokens cannot be extended; the lease's max TTL is the token's life. */
  renew(): Promise<void> {
    return Promise.resolve();
  }

  async revoke(handle: string): Promise<void> {
    const h = JSON.parse(handle) as { sealed?: string; lease?: string };
    if (typeof h.sealed !== 'string' || typeof h.lease !== 'string')
      throw new Error('a github lease handle holds no token');
    const token = this.sealer.open(h.sealed, `github-token|${h.lease}`).toString();
    const res = await this.call('DELETE', '/installation/token', `token ${token}`);
    // 204: revoked; 401: already expired or revoked. Either way it no longer works.
    if (res.status !== 204 && res.status !== 401)
      throw new Error(`GitHub answered HTTP ${res.status} to the revocation`);
  }

  async check(): Promise<void> {
    const res = await this.call('GET', '/app', `Bearer ${this.appJwt()}`);
    if (res.status !== 200) throw new Error(`GET /app answered HTTP ${res.status}`);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private call(
    method: string,
    path: string,
    auth: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    const url = new URL(
      path.replace(/^\//, ''),
      this.settings.apiUrl.endsWith('/') ? this.settings.apiUrl : `${this.settings.apiUrl}/`,
    );
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ...(this.ca ? { ca: this.ca } : {}),
          timeout: TIMEOUT_MS,
          headers: {
            authorization: auth,
            accept: 'application/vnd.github+json',
            'x-github-api-version': '2022-11-28',
            'user-agent': 'rampart',
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON: kept as text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${url.host} within ${TIMEOUT_MS} ms`)));
      req.on('error', (e) =>
        reject(new RampartError('RAMPART_E_SECRETS_ENGINE', `cannot reach ${url.host}: ${messageOf(e)}`)),
      );
      req.end(payload);
    });
  }
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new RampartError('RAMPART_E_CONFIG_INVALID', `secrets.github ca_file ${file}: ${messageOf(e)}`);
  }
}

const LEVEL: Record<string, number> = { read: 1, write: 2, admin: 3 };

function allowed(asked: string | undefined, granted: unknown): boolean {
  return asked !== undefined && typeof granted === 'string' && (LEVEL[granted] ?? 9) <= (LEVEL[asked] ?? 0);
}

function describe(body: unknown): string {
  const m = (body as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? m.slice(0, 200) : '';
}

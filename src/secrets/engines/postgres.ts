// Dynamic PostgreSQL credentials: a role per lease, made from the role template's creation SQL
// with a generated name and password and VALID UNTIL as the database's own backstop (a role that
// Rampart could not revoke still stops logging in at its expiry). Revocation refuses new logins,
// runs the template's revocation SQL, cuts the role's open sessions (pg_terminate_backend),
// reassigns and drops what it owns, and drops it; a role already gone is revoked.
//
// The engine connects with the connection URL in a secret file (a role that may create roles
// and terminate sessions), through a small pool of its own.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { RampartError, messageOf } from '../../core/errors.js';
import { readSecretText } from '../../core/secretfile.js';
import type { PostgresEngineSettings } from '../../core/settings.js';
import { compileTemplate, type Template } from '../../core/template.js';
import type { DynamicEngine, IssueRequest, Issued } from '../engine.js';

interface Role {
  readonly ttl: number;
  readonly maxTtl: number;
  readonly creation: Template;
  readonly revocation?: Template;
}

/** The advisory lock every role change takes ("rampart roles" as a 64-bit key). */
const ROLES_LOCK = '7077658032958010739';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Letters and digits only: it goes into SQL and URLs without quoting. Rejection sampling: no bias. */
export function randomAlnum(length: number): string {
  let out = '';
  while (out.length < length)
    for (const b of randomBytes(length * 2)) if (b < 248 && out.length < length) out += ALNUM[b % 62];
  return out;
}

export class PostgresEngine implements DynamicEngine {
  readonly kind = 'postgres';
  private readonly roles: ReadonlyMap<string, Role>;
  private readonly pool: pg.Pool;
  /** Where runs reach the database: user and password are put in front of it. */
  private readonly target: { host: string; path: string };

  constructor(settings: PostgresEngineSettings) {
    const url = readSecretText(settings.connectionFile, {
      purpose: `secrets.postgres ${settings.vault}`,
    }).trim();
    let parsed: URL;
    try {
      parsed = new URL(url);
      if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:')
        throw new Error('not postgresql:');
    } catch {
      // The URL holds a password: the error names the file, never the text.
      throw new RampartError(
        'RAMPART_E_CONFIG_INVALID',
        `${settings.connectionFile}: not a postgresql://USER:PASSWORD@HOST:PORT/DB connection URL`,
      );
    }
    this.target = { host: settings.deliverHost ?? parsed.host, path: parsed.pathname };
    this.pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000 });
    // An idle client's error (the server restarted) must not crash the control plane.
    this.pool.on('error', () => undefined);
    this.roles = new Map(
      settings.roles.map((r) => [
        r.name,
        {
          ttl: r.ttlMs,
          maxTtl: r.maxTtlMs,
          creation: compileTemplate(r.creation, `${settings.vault}/${r.name} creation`),
          ...(r.revocation
            ? { revocation: compileTemplate(r.revocation, `${settings.vault}/${r.name} revocation`) }
            : {}),
        },
      ]),
    );
  }

  role(name: string): { ttl: number; maxTtl: number } | undefined {
    return this.roles.get(name);
  }

  async issue(req: IssueRequest): Promise<Issued> {
    const role = this.roles.get(req.name);
    if (!role) throw new TypeError(`no role template ${req.name}`);
    const name = `rampart_${req.name
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '_')
      .slice(0, 24)}_${randomAlnum(10).toLowerCase()}`;
    const password = randomAlnum(32);
    const sql = role.creation.render({ name, password, expiration: new Date(req.expiresAt).toISOString() });
    try {
      await this.serialized((c) => c.query(sql));
    } catch (e) {
      // Half of a creation may have run: take it back before saying no.
      await this.revoke(JSON.stringify({ role: name, template: req.name })).catch(() => undefined);
      throw new RampartError(
        'RAMPART_E_SECRETS_ENGINE',
        `PostgreSQL refused role ${req.name}'s creation: ${messageOf(e).split(password).join('***')}`,
      );
    }
    const value = `postgresql://${name}:${password}@${this.target.host}${this.target.path}`;
    return { value: Buffer.from(value), handle: JSON.stringify({ role: name, template: req.name }) };
  }

  async renew(handle: string, expiresAt: number): Promise<void> {
    const { role } = parseHandle(handle);
    try {
      await this.serialized((c) =>
        c.query(`ALTER ROLE "${role}" VALID UNTIL '${new Date(expiresAt).toISOString()}'`),
      );
    } catch (e) {
      throw new RampartError(
        'RAMPART_E_SECRETS_ENGINE',
        `PostgreSQL refused to extend ${role}: ${messageOf(e)}`,
      );
    }
  }

  async revoke(handle: string): Promise<void> {
    const { role, template } = parseHandle(handle);
    await this.serialized(async (client) => {
      const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      if (exists.rowCount === 0) return;
      // No new session from here on; then the template's own steps; then the open ones cut.
      await client.query(`ALTER ROLE "${role}" NOLOGIN`);
      const revocation = this.roles.get(template)?.revocation;
      if (revocation) await client.query(revocation.render({ name: role, password: '', expiration: '' }));
      await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
      await client.query(`REASSIGN OWNED BY "${role}" TO CURRENT_USER`);
      await client.query(`DROP OWNED BY "${role}"`);
      await client.query(`DROP ROLE IF EXISTS "${role}"`);
    });
  }

  /**
   * One transaction, one at a time across every replica (an advisory lock): two roles granted
   * on the same table, made or dropped at once, update that table's privileges concurrently, and
   * PostgreSQL fails one of them ("tuple concurrently updated"). Serialized, none fails; a role
   * takes a few milliseconds either way. A failure rolls everything back: no half-made role.
   */
  private async serialized<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1)', [ROLES_LOCK]);
        const out = await fn(client);
        await client.query('COMMIT');
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    } finally {
      client.release();
    }
  }

  async check(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Handles are ours (JSON written by issue); a role name of anything else is refused. */
function parseHandle(handle: string): { role: string; template: string } {
  const h = JSON.parse(handle) as { role?: unknown; template?: unknown };
  if (typeof h.role !== 'string' || !/^rampart_[a-z0-9_]{1,54}$/.test(h.role))
    throw new Error('a postgres lease handle names no role Rampart made');
  return { role: h.role, template: typeof h.template === 'string' ? h.template : '' };
}

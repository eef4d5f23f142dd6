// The SQLite store's leases (types.ts LeaseStore). One control plane owns an SQLite file, so a
// claim is one UPDATE ... RETURNING: nothing else can take the same lease between.

import type Database from 'better-sqlite3';
import { LEASE_COLUMNS, leaseOf, leaseValues, type LeaseRow } from './rows.js';
import { wrap } from './sqlite.js';
import type { LeaseFilter, LeaseSelector, LeaseStore, StoredLease } from './types.js';

type DB = Database.Database;

const CLAIM = "UPDATE leases SET state = 'revoking', reason = @reason, next_attempt_at = @retryAt";

export class SqliteLeases implements LeaseStore {
  private readonly stmts;

  constructor(db: DB) {
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO leases (${LEASE_COLUMNS.join(', ')}) VALUES (${LEASE_COLUMNS.map(() => '?').join(', ')})`,
      ),
      get: db.prepare('SELECT * FROM leases WHERE id = ?'),
      list: db.prepare(
        `SELECT * FROM leases WHERE (@run IS NULL OR run = @run) AND (@agent IS NULL OR agent = @agent)
         AND (@vault IS NULL OR vault = @vault) AND (@state IS NULL OR state = @state)
         ORDER BY issued_at, id LIMIT @limit`,
      ),
      renew: db.prepare(
        `UPDATE leases SET expires_at = @expiresAt, version = COALESCE(@version, version)
         WHERE id = @id AND state = 'active' RETURNING *`,
      ),
      claim: {
        id: db.prepare(`${CLAIM} WHERE state = 'active' AND id = @value RETURNING *`),
        run: db.prepare(`${CLAIM} WHERE state = 'active' AND run = @value RETURNING *`),
        agent: db.prepare(`${CLAIM} WHERE state = 'active' AND agent = @value RETURNING *`),
        vault: db.prepare(`${CLAIM} WHERE state = 'active' AND vault = @value RETURNING *`),
        all: db.prepare(`${CLAIM} WHERE state = 'active' AND @value IS NULL RETURNING *`),
      },
      expired: db.prepare(
        `${CLAIM} WHERE id IN (SELECT id FROM leases WHERE state = 'active' AND expires_at <= @now
         ORDER BY expires_at LIMIT @limit) RETURNING *`,
      ),
      retries: db.prepare(
        `UPDATE leases SET next_attempt_at = @retryAt WHERE id IN (SELECT id FROM leases
         WHERE state = 'revoking' AND next_attempt_at <= @now ORDER BY next_attempt_at LIMIT @limit) RETURNING *`,
      ),
      failed: db.prepare(
        'UPDATE leases SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?',
      ),
      remove: db.prepare('DELETE FROM leases WHERE id = ?'),
      counts: db.prepare(
        `SELECT SUM(state = 'active') AS active, SUM(state = 'revoking') AS revoking,
         SUM(state = 'revoking' AND attempts > 0) AS failing FROM leases`,
      ),
    };
    this.removeMany = db.transaction((ids: readonly string[]) => {
      for (const id of ids) this.stmts.remove.run(id);
    });
  }

  private readonly removeMany: (ids: readonly string[]) => void;

  insert(lease: StoredLease): Promise<void> {
    return wrap(() => void this.stmts.insert.run(...leaseValues(lease)));
  }

  get(id: string): Promise<StoredLease | undefined> {
    return wrap(() => {
      const r = this.stmts.get.get(id) as LeaseRow | undefined;
      return r && leaseOf(r);
    });
  }

  list(filter: LeaseFilter, limit: number): Promise<StoredLease[]> {
    return wrap(() =>
      (
        this.stmts.list.all({
          run: filter.run ?? null,
          agent: filter.agent ?? null,
          vault: filter.vault ?? null,
          state: filter.state ?? null,
          limit,
        }) as LeaseRow[]
      ).map(leaseOf),
    );
  }

  renew(id: string, expiresAt: number, version?: number): Promise<StoredLease | undefined> {
    return wrap(() => {
      const r = this.stmts.renew.get({ id, expiresAt, version: version ?? null }) as LeaseRow | undefined;
      return r && leaseOf(r);
    });
  }

  claim(selector: LeaseSelector, reason: string, retryAt: number): Promise<StoredLease[]> {
    const [kind, value] = selectorOf(selector);
    return wrap(() => (this.stmts.claim[kind].all({ value, reason, retryAt }) as LeaseRow[]).map(leaseOf));
  }

  claimExpired(now: number, limit: number, retryAt: number): Promise<StoredLease[]> {
    return wrap(() =>
      (this.stmts.expired.all({ now, limit, retryAt, reason: 'expired' }) as LeaseRow[]).map(leaseOf),
    );
  }

  claimRetries(now: number, limit: number, retryAt: number): Promise<StoredLease[]> {
    return wrap(() => (this.stmts.retries.all({ now, limit, retryAt }) as LeaseRow[]).map(leaseOf));
  }

  failed(id: string, nextAttemptAt: number, error: string): Promise<void> {
    return wrap(() => void this.stmts.failed.run(nextAttemptAt, error, id));
  }

  remove(ids: readonly string[]): Promise<void> {
    return wrap(() => this.removeMany(ids));
  }

  counts(): Promise<{ active: number; revoking: number; failing: number }> {
    return wrap(() => {
      const r = this.stmts.counts.get() as Record<'active' | 'revoking' | 'failing', number | null>;
      return { active: r.active ?? 0, revoking: r.revoking ?? 0, failing: r.failing ?? 0 };
    });
  }
}

/** A selector as (kind, value): `all` matches with a null value. */
export function selectorOf(s: LeaseSelector): ['id' | 'run' | 'agent' | 'vault' | 'all', string | null] {
  if ('id' in s) return ['id', s.id];
  if ('run' in s) return ['run', s.run];
  if ('agent' in s) return ['agent', s.agent];
  if ('vault' in s) return ['vault', s.vault];
  if (s.all === true) return ['all', null];
  throw new TypeError('a lease selector names an id, run, agent or vault, or is {all: true}');
}

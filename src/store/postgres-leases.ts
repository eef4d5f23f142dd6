// The PostgreSQL store's leases (types.ts LeaseStore). Replicas share the table: claims lock the
// rows they take (FOR UPDATE SKIP LOCKED), so two replicas sweeping at once split the work
// instead of revoking the same lease twice.

import type pg from 'pg';
import { LEASE_COLUMNS, leaseOf, leaseValues, type LeaseRow } from './rows.js';
import { selectorOf } from './sqlite-leases.js';
import type { LeaseFilter, LeaseSelector, LeaseStore, StoredLease } from './types.js';

const INSERT = `INSERT INTO leases (${LEASE_COLUMNS.join(', ')}) VALUES (${LEASE_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`;

export class PostgresLeases implements LeaseStore {
  constructor(private readonly pool: pg.Pool) {}

  async insert(lease: StoredLease): Promise<void> {
    await this.pool.query(INSERT, leaseValues(lease));
  }

  async get(id: string): Promise<StoredLease | undefined> {
    const r = (await this.pool.query<LeaseRow>('SELECT * FROM leases WHERE id = $1', [id])).rows[0];
    return r && leaseOf(r);
  }

  async list(filter: LeaseFilter, limit: number): Promise<StoredLease[]> {
    const res = await this.pool.query<LeaseRow>(
      `SELECT * FROM leases WHERE ($1::text IS NULL OR run = $1) AND ($2::text IS NULL OR agent = $2)
       AND ($3::text IS NULL OR vault = $3) AND ($4::text IS NULL OR state = $4)
       ORDER BY issued_at, id COLLATE "C" LIMIT $5`,
      [filter.run ?? null, filter.agent ?? null, filter.vault ?? null, filter.state ?? null, limit],
    );
    return res.rows.map(leaseOf);
  }

  async renew(id: string, expiresAt: number, version?: number): Promise<StoredLease | undefined> {
    const r = (
      await this.pool.query<LeaseRow>(
        `UPDATE leases SET expires_at = $2, version = COALESCE($3, version)
         WHERE id = $1 AND state = 'active' RETURNING *`,
        [id, expiresAt, version ?? null],
      )
    ).rows[0];
    return r && leaseOf(r);
  }

  async claim(selector: LeaseSelector, reason: string, retryAt: number): Promise<StoredLease[]> {
    const [kind, value] = selectorOf(selector);
    const where = kind === 'all' ? 'TRUE' : `${kind} = $3`;
    const res = await this.pool.query<LeaseRow>(
      `UPDATE leases SET state = 'revoking', reason = $1, next_attempt_at = $2 WHERE id IN
       (SELECT id FROM leases WHERE state = 'active' AND ${where} FOR UPDATE SKIP LOCKED) RETURNING *`,
      kind === 'all' ? [reason, retryAt] : [reason, retryAt, value],
    );
    return res.rows.map(leaseOf);
  }

  async claimExpired(now: number, limit: number, retryAt: number): Promise<StoredLease[]> {
    const res = await this.pool.query<LeaseRow>(
      `UPDATE leases SET state = 'revoking', reason = 'expired', next_attempt_at = $3 WHERE id IN
       (SELECT id FROM leases WHERE state = 'active' AND expires_at <= $1 ORDER BY expires_at
        LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING *`,
      [now, limit, retryAt],
    );
    return res.rows.map(leaseOf);
  }

  async removeExpiredStatic(now: number, limit: number): Promise<StoredLease[]> {
    const res = await this.pool.query<LeaseRow>(
      `DELETE FROM leases WHERE id IN
       (SELECT id FROM leases WHERE state = 'active' AND expires_at <= $1 AND engine = 'static'
        ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING *`,
      [now, limit],
    );
    return res.rows.map(leaseOf);
  }

  async claimRetries(now: number, limit: number, retryAt: number): Promise<StoredLease[]> {
    const res = await this.pool.query<LeaseRow>(
      `UPDATE leases SET next_attempt_at = $3 WHERE id IN
       (SELECT id FROM leases WHERE state = 'revoking' AND next_attempt_at <= $1 ORDER BY next_attempt_at
        LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING *`,
      [now, limit, retryAt],
    );
    return res.rows.map(leaseOf);
  }

  async failed(id: string, nextAttemptAt: number, error: string): Promise<void> {
    await this.pool.query(
      'UPDATE leases SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 WHERE id = $1',
      [id, nextAttemptAt, error],
    );
  }

  async remove(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.pool.query('DELETE FROM leases WHERE id = ANY($1::text[])', [ids]);
  }

  async revoking(): Promise<{ revoking: number; failing: number }> {
    const r = (
      await this.pool.query<{ revoking: string; failing: string }>(
        `SELECT COUNT(*) AS revoking, COUNT(*) FILTER (WHERE attempts > 0) AS failing
         FROM leases WHERE state = 'revoking'`,
      )
    ).rows[0]!;
    return { revoking: Number(r.revoking), failing: Number(r.failing) };
  }

  async counts(): Promise<{ active: number; revoking: number; failing: number }> {
    const r = (
      await this.pool.query<{ active: string; revoking: string; failing: string }>(
        `SELECT COUNT(*) FILTER (WHERE state = 'active') AS active,
         COUNT(*) FILTER (WHERE state = 'revoking') AS revoking,
         COUNT(*) FILTER (WHERE state = 'revoking' AND attempts > 0) AS failing FROM leases`,
      )
    ).rows[0]!;
    return { active: Number(r.active), revoking: Number(r.revoking), failing: Number(r.failing) };
  }
}

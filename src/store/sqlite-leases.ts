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

  /**
   * `db`: the leases' own connection, synchronous = NORMAL and no automatic checkpoint: every
   * secret delivered writes a lease, and on the main connection (FULL) each would wait for an
   * fsync on the event loop. In WAL mode a NORMAL commit is made durable by the next FULL one
   * (the audit writer commits continually, on its own thread, and checkpoints there): a delivery's
   * own record follows its lease or precedes it by a millisecond. What a power cut could lose is
   * a removal (swept again) or a lease made that instant, whose credential's own expiry (VALID
   * UNTIL, the run's end) still ends it.
   */
  constructor(private readonly db: DB) {
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
      expiredStatic: db.prepare(
        `DELETE FROM leases WHERE id IN (SELECT id FROM leases WHERE state = 'active' AND expires_at <= @now
         AND engine = 'static' ORDER BY expires_at LIMIT @limit) RETURNING *`,
      ),
      retries: db.prepare(
        `UPDATE leases SET next_attempt_at = @retryAt WHERE id IN (SELECT id FROM leases
         WHERE state = 'revoking' AND next_attempt_at <= @now ORDER BY next_attempt_at LIMIT @limit) RETURNING *`,
      ),
      failed: db.prepare(
        'UPDATE leases SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?',
      ),
      remove: db.prepare('DELETE FROM leases WHERE id = ?'),
      // By state through the (state, ...) index: a count of 60,000 leases is 5 ms, not the 18 ms
      // of a scan of the table. Failing ones are among the few "revoking".
      counts: db.prepare('SELECT state, COUNT(*) AS n FROM leases GROUP BY state'),
      failing: db.prepare(
        "SELECT COUNT(*) AS revoking, SUM(attempts > 0) AS failing FROM leases WHERE state = 'revoking'",
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

  removeExpiredStatic(now: number, limit: number): Promise<StoredLease[]> {
    return wrap(() => (this.stmts.expiredStatic.all({ now, limit }) as LeaseRow[]).map(leaseOf));
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

  close(): void {
    if (this.db.open) this.db.close();
  }

  counts(): Promise<{ active: number; revoking: number; failing: number }> {
    return wrap(() => {
      const by = new Map(
        (this.stmts.counts.all() as { state: string; n: number }[]).map((r) => [r.state, r.n]),
      );
      return { active: by.get('active') ?? 0, ...this.trouble() };
    });
  }

  revoking(): Promise<{ revoking: number; failing: number }> {
    return wrap(() => this.trouble());
  }

  private trouble(): { revoking: number; failing: number } {
    const r = this.stmts.failing.get() as { revoking: number; failing: number | null };
    return { revoking: r.revoking, failing: r.failing ?? 0 };
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

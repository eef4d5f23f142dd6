// The store's meta keys on PostgreSQL: small values (cursors, the installation's claim,
// containment state), each key its own row, so replicas changing different keys never collide.

import type pg from 'pg';
import type { MetaStore } from './types.js';

export class PostgresMeta implements MetaStore {
  constructor(private readonly pool: pg.Pool) {}

  async get(key: string): Promise<string | undefined> {
    return (await this.pool.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [key])).rows[0]
      ?.value;
  }

  async setIfAbsent(key: string, value: string): Promise<string> {
    await this.pool.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
      key,
      value,
    ]);
    return (await this.pool.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [key])).rows[0]!
      .value;
  }

  async set(key: string, value: string): Promise<void> {
    await this.pool.query(
      'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      [key, value],
    );
  }

  async compareAndSet(key: string, expected: string | undefined, value: string): Promise<boolean> {
    const r =
      expected === undefined
        ? await this.pool.query(
            'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING',
            [key, value],
          )
        : await this.pool.query('UPDATE meta SET value = $1 WHERE key = $2 AND value = $3', [
            value,
            key,
            expected,
          ]);
    return (r.rowCount ?? 0) > 0;
  }

  async delete(key: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM meta WHERE key = $1', [key])).rowCount ?? 0) > 0;
  }

  async list(prefix: string): Promise<[string, string][]> {
    // starts_with, not LIKE: a prefix may hold "%" or "_".
    const r = await this.pool.query<{ key: string; value: string }>(
      'SELECT key, value FROM meta WHERE starts_with(key, $1) ORDER BY key COLLATE "C"',
      [prefix],
    );
    return r.rows.map((x) => [x.key, x.value]);
  }
}

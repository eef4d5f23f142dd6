// The PostgreSQL store's secrets (types.ts SecretStore): versions of sealed secrets, one writer
// per secret across replicas (an advisory lock).

import type pg from 'pg';
import { inTransaction } from './postgres.js';
import { secretOf, type SecretRow } from './rows.js';
import type { HoneytokenStore, SealVersion, SecretStore, StoredHoneytoken, StoredSecret } from './types.js';

export class PostgresSecrets implements SecretStore {
  constructor(private readonly pool: pg.Pool) {}

  add(vault: string, name: string, make: SealVersion, createdAt: number, createdBy: string): Promise<number> {
    return inTransaction(this.pool, async (c) => {
      // One writer per secret across replicas: the next version is the lock holder's to take.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`secret:${vault}/${name}`]);
      const max = await c.query<{ v: number | null }>(
        'SELECT MAX(version) AS v FROM secrets WHERE vault = $1 AND name = $2',
        [vault, name],
      );
      const v = (max.rows[0]?.v ?? 0) + 1;
      const { sealed, fingerprint } = make(v);
      await c.query(
        'INSERT INTO secrets (vault, name, version, created_at, created_by, sealed, fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [vault, name, v, createdAt, createdBy, sealed, fingerprint],
      );
      return v;
    });
  }

  async get(vault: string, name: string, version?: number): Promise<StoredSecret | undefined> {
    const res =
      version === undefined
        ? await this.pool.query<SecretRow>(
            'SELECT * FROM secrets WHERE vault = $1 AND name = $2 ORDER BY version DESC LIMIT 1',
            [vault, name],
          )
        : await this.pool.query<SecretRow>(
            'SELECT * FROM secrets WHERE vault = $1 AND name = $2 AND version = $3',
            [vault, name, version],
          );
    return secretOf(res.rows[0]);
  }

  async versions(vault: string, name: string): Promise<StoredSecret[]> {
    const res = await this.pool.query<SecretRow>(
      'SELECT * FROM secrets WHERE vault = $1 AND name = $2 ORDER BY version DESC',
      [vault, name],
    );
    return res.rows.map((r) => secretOf(r)!);
  }

  async list(vault?: string): Promise<StoredSecret[]> {
    const res = await this.pool.query<SecretRow>(
      `SELECT s.* FROM secrets s WHERE ($1::text IS NULL OR s.vault = $1) AND s.version =
       (SELECT MAX(version) FROM secrets t WHERE t.vault = s.vault AND t.name = s.name)
       ORDER BY s.vault COLLATE "C", s.name COLLATE "C"`,
      [vault ?? null],
    );
    return res.rows.map((r) => secretOf(r)!);
  }

  async remove(vault: string, name: string): Promise<number> {
    return (
      (await this.pool.query('DELETE FROM secrets WHERE vault = $1 AND name = $2', [vault, name])).rowCount ??
      0
    );
  }

  async count(): Promise<number> {
    return Number(
      (await this.pool.query<{ n: string }>('SELECT COUNT(*) AS n FROM secrets')).rows[0]?.n ?? 0,
    );
  }

  async page(
    after: { vault: string; name: string; version: number } | undefined,
    limit: number,
  ): Promise<StoredSecret[]> {
    const from = after ?? { vault: '', name: '', version: 0 };
    const res = await this.pool.query<SecretRow>(
      `SELECT * FROM secrets WHERE (vault COLLATE "C", name COLLATE "C", version) > ($1 COLLATE "C", $2 COLLATE "C", $3)
       ORDER BY vault COLLATE "C", name COLLATE "C", version LIMIT $4`,
      [from.vault, from.name, from.version, limit],
    );
    return res.rows.map((r) => secretOf(r)!);
  }

  async reseal(vault: string, name: string, version: number, from: string, to: string): Promise<boolean> {
    const res = await this.pool.query(
      'UPDATE secrets SET sealed = $1 WHERE vault = $2 AND name = $3 AND version = $4 AND sealed = $5',
      [to, vault, name, version, from],
    );
    return res.rowCount === 1;
  }
}

/** Planted decoys by fingerprint (types.ts HoneytokenStore). */
export class PostgresHoneytokens implements HoneytokenStore {
  constructor(private readonly pool: pg.Pool) {}

  async add(tokens: readonly StoredHoneytoken[]): Promise<void> {
    await inTransaction(this.pool, async (c) => {
      for (const t of tokens)
        await c.query(
          'INSERT INTO honeytokens (fingerprint, kind, run, agent, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
          [t.fingerprint, t.kind, t.run, t.agent, t.createdAt],
        );
    });
  }

  async since(since: number): Promise<StoredHoneytoken[]> {
    const res = await this.pool.query<{
      fingerprint: string;
      kind: string;
      run: string;
      agent: string;
      created_at: string;
    }>('SELECT * FROM honeytokens WHERE created_at >= $1 ORDER BY created_at', [since]);
    return res.rows.map((r) => ({
      fingerprint: r.fingerprint,
      kind: r.kind,
      run: r.run,
      agent: r.agent,
      createdAt: Number(r.created_at),
    }));
  }
}

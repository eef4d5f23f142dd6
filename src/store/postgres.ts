// PostgreSQL through pg: shared state for several control-plane replicas. Audit appends serialize
// on the head row (SELECT ... FOR UPDATE) so sequence numbers and the Merkle frontier stay a
// single line of history whichever replica writes; commits wait for the WAL flush (the default
// synchronous_commit), so an acknowledged record is durable.

import pg from 'pg';
import { readFileSync } from 'node:fs';
import { RampartError } from '../core/errors.js';
import { readSecretText } from '../core/secretfile.js';
import type { PostgresConfig } from '../config/load.js';
import { MIGRATIONS, packFrontier, unpackFrontier } from './migrations.js';
import type {
  AuditBatch,
  AuditHead,
  AuditRecordRow,
  AuditStore,
  CheckpointRow,
  MetaStore,
  Store,
} from './types.js';

const INT8_OID = 20;
/** Advisory lock that serializes migrations across replicas starting at once. */
const MIGRATION_LOCK = 0x52_41_4d_50; // "RAMP"

type Queryable = pg.Pool | pg.PoolClient;

export async function openPostgresStore(cfg: PostgresConfig): Promise<Store> {
  // The schema name is interpolated into SQL; the config schema restricts it, and so do we here.
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(cfg.schema))
    throw new TypeError(`invalid PostgreSQL schema name: ${cfg.schema}`);
  const password =
    cfg.passwordFile === undefined
      ? undefined
      : readSecretText(cfg.passwordFile, { purpose: 'store.postgres.password_file' });
  const pool = new pg.Pool({
    host: cfg.host,
    port: cfg.port,
    database: cfg.database,
    user: cfg.user,
    ...(password === undefined ? {} : { password }),
    max: cfg.poolSize,
    connectionTimeoutMillis: cfg.connectTimeoutMs,
    // Schema isolation: every replica of one installation uses the same schema; tests use their own.
    options: `-c search_path=${cfg.schema}`,
    application_name: 'rampart',
    ssl:
      cfg.ssl === undefined
        ? false
        : {
            rejectUnauthorized: cfg.ssl.rejectUnauthorized,
            ...(cfg.ssl.caFile === undefined ? {} : { ca: readFileSync(cfg.ssl.caFile, 'utf8') }),
          },
    // BIGINT columns (sequence numbers, sizes) as numbers: they stay below 2^53 by construction.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
        oid === INT8_OID && format !== 'binary'
          ? (v: string) => Number(v)
          : (pg.types.getTypeParser(oid, format ?? 'text') as unknown)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener that
  // would crash the process. The next query reports the failure instead.
  pool.on('error', () => undefined);
  try {
    await migrate(pool, cfg.schema);
  } catch (e) {
    await pool.end().catch(() => undefined);
    if (e instanceof RampartError) throw e;
    throw new RampartError(
      'RAMPART_E_STORE_UNAVAILABLE',
      `cannot use PostgreSQL at ${cfg.host}:${cfg.port}/${cfg.database}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  return new PostgresStore(pool);
}

async function migrate(pool: pg.Pool, schema: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
      );
      const done = new Set(
        (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
          (r) => r.version,
        ),
      );
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        try {
          await client.query('BEGIN');
          await client.query(m.postgres);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
            m.version,
            m.name,
          ]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new RampartError(
            'RAMPART_E_STORE_MIGRATION',
            `migration ${m.version} (${m.name}) failed: ${(e as Error).message}`,
            { cause: e },
          );
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}

async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    try {
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

class PostgresStore implements Store {
  readonly driver = 'postgres' as const;
  readonly audit: AuditStore;
  readonly meta: MetaStore;

  constructor(private readonly pool: pg.Pool) {
    this.audit = new PostgresAudit(pool);
    this.meta = new PostgresMeta(pool);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async migrations(): Promise<number[]> {
    return (
      await this.pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
    ).rows.map((r) => r.version);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

async function readHead(q: Queryable, lock: boolean): Promise<AuditHead> {
  const res = await q.query<{ size: number; frontier: Buffer }>(
    `SELECT size, frontier FROM audit_head WHERE id = 1${lock ? ' FOR UPDATE' : ''}`,
  );
  const row = res.rows[0];
  if (!row) throw new Error('audit head row is missing');
  return { size: row.size, frontier: unpackFrontier(row.frontier) };
}

class PostgresAudit implements AuditStore {
  constructor(private readonly pool: pg.Pool) {}

  append(build: (head: AuditHead) => AuditBatch): Promise<AuditHead> {
    return inTransaction(this.pool, async (c) => {
      const batch = build(await readHead(c, true));
      if (batch.records.length > 0) {
        await c.query(
          'INSERT INTO audit_records (seq, entry) SELECT * FROM unnest($1::bigint[], $2::text[])',
          [batch.records.map((r) => r.seq), batch.records.map((r) => r.entry)],
        );
      }
      if (batch.nodes.length > 0) {
        await c.query(
          'INSERT INTO audit_nodes (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])',
          [batch.nodes.map((n) => n.level), batch.nodes.map((n) => n.index), batch.nodes.map((n) => n.hash)],
        );
      }
      await c.query('UPDATE audit_head SET size = $1, frontier = $2 WHERE id = 1', [
        batch.head.size,
        packFrontier(batch.head.frontier),
      ]);
      return batch.head;
    });
  }

  head(): Promise<AuditHead> {
    return readHead(this.pool, false);
  }

  async records(from: number, limit: number): Promise<AuditRecordRow[]> {
    return (
      await this.pool.query<AuditRecordRow>(
        'SELECT seq, entry FROM audit_records WHERE seq >= $1 ORDER BY seq LIMIT $2',
        [from, limit],
      )
    ).rows;
  }

  async nodes(keys: readonly { level: number; index: number }[]): Promise<(Buffer | undefined)[]> {
    if (keys.length === 0) return [];
    const res = await this.pool.query<{ level: number; idx: number; hash: Buffer }>(
      'SELECT n.level, n.idx, n.hash FROM audit_nodes n JOIN unnest($1::smallint[], $2::bigint[]) AS k(level, idx) ON n.level = k.level AND n.idx = k.idx',
      [keys.map((k) => k.level), keys.map((k) => k.index)],
    );
    const found = new Map(res.rows.map((r) => [`${r.level}/${r.idx}`, r.hash]));
    return keys.map((k) => found.get(`${k.level}/${k.index}`));
  }

  async leaves(from: number, limit: number): Promise<{ index: number; hash: Buffer }[]> {
    const res = await this.pool.query<{ idx: number; hash: Buffer }>(
      'SELECT idx, hash FROM audit_nodes WHERE level = 0 AND idx >= $1 ORDER BY idx LIMIT $2',
      [from, limit],
    );
    return res.rows.map((r) => ({ index: r.idx, hash: r.hash }));
  }

  addCheckpoint(
    build: (latest: CheckpointRow | undefined, head: AuditHead) => { size: number; note: string } | undefined,
  ): Promise<CheckpointRow | undefined> {
    return inTransaction(this.pool, async (c) => {
      // The head row lock also orders checkpoint writers, so sizes never go backwards.
      const head = await readHead(c, true);
      const latest = (
        await c.query<CheckpointRow>('SELECT id, size, note FROM audit_checkpoints ORDER BY id DESC LIMIT 1')
      ).rows[0];
      const next = build(latest, head);
      if (!next) return undefined;
      const res = await c.query<{ id: number }>(
        'INSERT INTO audit_checkpoints (size, note) VALUES ($1, $2) RETURNING id',
        [next.size, next.note],
      );
      return { id: res.rows[0]!.id, size: next.size, note: next.note };
    });
  }

  async checkpoints(): Promise<CheckpointRow[]> {
    return (await this.pool.query<CheckpointRow>('SELECT id, size, note FROM audit_checkpoints ORDER BY id'))
      .rows;
  }

  async latestCheckpoint(): Promise<CheckpointRow | undefined> {
    return (
      await this.pool.query<CheckpointRow>(
        'SELECT id, size, note FROM audit_checkpoints ORDER BY id DESC LIMIT 1',
      )
    ).rows[0];
  }
}

class PostgresMeta implements MetaStore {
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
}

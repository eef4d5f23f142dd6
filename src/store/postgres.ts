// PostgreSQL through pg: shared state for several control-plane replicas. Audit appends serialize
// on the head row (SELECT ... FOR UPDATE) so sequence numbers and the Merkle frontier stay a
// single line of history whichever replica writes; commits wait for the WAL flush (the default
// synchronous_commit), so an acknowledged record is durable.

import pg from 'pg';
import { readFileSync } from 'node:fs';
import { RampartError, messageOf } from '../core/errors.js';
import { readSecretText } from '../core/secretfile.js';
import type { PostgresConfig } from '../config/load.js';
import { MIGRATIONS, packFrontier, unpackFrontier } from './migrations.js';
import type {
  AuditHead,
  AuditRecordRow,
  AuditStore,
  CheckpointRow,
  EntityRecord,
  EntityStore,
  IdentityStore,
  RevocationRecord,
  RunStore,
  HoneytokenStore,
  LeaseStore,
  SecretStore,
  SignerRecord,
  StoredRun,
  SigningKeyRecord,
  MetaStore,
  Notifications,
  PreparedEntry,
  Store,
} from './types.js';
import { buildBatch } from './batch.js';
import { PostgresLeases } from './postgres-leases.js';
import { PostgresMeta } from './postgres-meta.js';
import { PostgresHoneytokens, PostgresSecrets } from './postgres-secrets.js';
import {
  entityOf,
  keyOf,
  revocationOf,
  runOf,
  type EntityRow,
  type KeyRow,
  type RevocationRow,
  type RunRow,
} from './rows.js';

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
      `cannot use PostgreSQL at ${cfg.host}:${cfg.port}/${cfg.database}: ${messageOf(e)}`,
      { cause: e },
    );
  }
  return new PostgresStore(pool, new PgNotifications(clientConfig(cfg, password), cfg.schema));
}

function clientConfig(cfg: PostgresConfig, password: string | undefined): pg.ClientConfig {
  return {
    host: cfg.host,
    port: cfg.port,
    database: cfg.database,
    user: cfg.user,
    ...(password === undefined ? {} : { password }),
    connectionTimeoutMillis: cfg.connectTimeoutMs,
    application_name: 'rampart-listen',
    ssl:
      cfg.ssl === undefined
        ? false
        : {
            rejectUnauthorized: cfg.ssl.rejectUnauthorized,
            ...(cfg.ssl.caFile === undefined ? {} : { ca: readFileSync(cfg.ssl.caFile, 'utf8') }),
          },
  };
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
            `migration ${m.version} (${m.name}) failed: ${messageOf(e)}`,
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

export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
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
  readonly entities: EntityStore;
  readonly identity: IdentityStore;
  readonly runs: RunStore;
  readonly secrets: SecretStore;
  readonly leases: LeaseStore;
  readonly honeytokens: HoneytokenStore;

  constructor(
    private readonly pool: pg.Pool,
    readonly notifications: PgNotifications,
  ) {
    this.audit = new PostgresAudit(pool);
    this.meta = new PostgresMeta(pool);
    this.entities = new PostgresEntities(pool);
    this.identity = new PostgresIdentity(pool);
    this.runs = new PostgresRuns(pool);
    this.secrets = new PostgresSecrets(pool);
    this.honeytokens = new PostgresHoneytokens(pool);
    this.leases = new PostgresLeases(pool);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async clock(): Promise<number> {
    // clock_timestamp(), not now(): now() is the transaction's start.
    const r = await this.pool.query<{ ms: string }>(
      'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms',
    );
    return Number(r.rows[0]!.ms);
  }

  async migrations(): Promise<number[]> {
    return (
      await this.pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
    ).rows.map((r) => r.version);
  }

  async close(): Promise<void> {
    await this.notifications.close();
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

  append(entries: readonly PreparedEntry[]): Promise<{ first: number; head: AuditHead }> {
    return inTransaction(this.pool, async (c) => {
      const head = await readHead(c, true);
      const batch = buildBatch(head, entries);
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
      return { first: head.size, head: batch.head };
    });
  }

  head(): Promise<AuditHead> {
    return readHead(this.pool, false);
  }

  async search(
    from: number,
    end: number,
    needles: readonly string[],
    limit: number,
  ): Promise<AuditRecordRow[]> {
    if (needles.length === 0) return [];
    return (
      await this.pool.query<AuditRecordRow>(
        'SELECT seq, entry FROM audit_records WHERE seq >= $1 AND seq < $2 AND EXISTS (SELECT 1 FROM unnest($3::text[]) n WHERE strpos(entry, n) > 0) ORDER BY seq LIMIT $4',
        [from, end, needles, limit],
      )
    ).rows;
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

  async nodesHex(keys: readonly { level: number; index: number }[]): Promise<(string | undefined)[]> {
    if (keys.length === 0) return [];
    // Each key's position comes back with its row (WITH ORDINALITY), so no map is built here.
    const res = await this.pool.query<[string, string]>({
      text: "SELECT k.i, encode(n.hash, 'hex') FROM unnest($1::smallint[], $2::bigint[]) WITH ORDINALITY AS k(level, idx, i) JOIN audit_nodes n ON n.level = k.level AND n.idx = k.idx",
      values: [keys.map((k) => k.level), keys.map((k) => k.index)],
      rowMode: 'array',
    });
    const out: (string | undefined)[] = new Array<string | undefined>(keys.length).fill(undefined);
    for (const [i, hex] of res.rows) out[Number(i) - 1] = hex;
    return out;
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

  async putSigner(s: SignerRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO audit_signers (name, vkey, cert) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET vkey = excluded.vkey, cert = excluded.cert`,
      [s.name, s.vkey, s.cert],
    );
  }

  async signers(): Promise<SignerRecord[]> {
    return (await this.pool.query<SignerRecord>('SELECT name, vkey, cert FROM audit_signers ORDER BY name'))
      .rows;
  }
}

class PostgresEntities implements EntityStore {
  constructor(private readonly pool: pg.Pool) {}

  async put(e: {
    type: string;
    id: string;
    attributes: Readonly<Record<string, unknown>>;
    parents: readonly string[];
  }): Promise<EntityRecord> {
    const res = await this.pool.query<EntityRow>(
      `INSERT INTO entities (type, id, attributes, parents, version, deleted) VALUES ($1, $2, $3, $4, nextval('entities_version_seq'), FALSE)
       ON CONFLICT (type, id) DO UPDATE SET attributes = excluded.attributes, parents = excluded.parents, version = excluded.version, deleted = FALSE
       RETURNING *`,
      [e.type, e.id, JSON.stringify(e.attributes), JSON.stringify(e.parents)],
    );
    return entityOf(res.rows[0]!);
  }

  async delete(type: string, id: string): Promise<EntityRecord | undefined> {
    const res = await this.pool.query<EntityRow>(
      `UPDATE entities SET attributes = '{}', parents = '[]', deleted = TRUE, version = nextval('entities_version_seq')
       WHERE type = $1 AND id = $2 AND NOT deleted RETURNING *`,
      [type, id],
    );
    return res.rows[0] ? entityOf(res.rows[0]) : undefined;
  }

  async get(type: string, id: string): Promise<EntityRecord | undefined> {
    const res = await this.pool.query<EntityRow>('SELECT * FROM entities WHERE type = $1 AND id = $2', [
      type,
      id,
    ]);
    return res.rows[0] ? entityOf(res.rows[0]) : undefined;
  }

  async changes(since: number, limit: number): Promise<EntityRecord[]> {
    const res = await this.pool.query<EntityRow>(
      'SELECT * FROM entities WHERE version > $1 ORDER BY version LIMIT $2',
      [since, limit],
    );
    return res.rows.map(entityOf);
  }
}

class PostgresIdentity implements IdentityStore {
  constructor(private readonly pool: pg.Pool) {}

  async putKey(k: SigningKeyRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO identity_keys (kid, alg, jwk, created_at, sign_until, verify_until, cert) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, jwk = excluded.jwk, created_at = excluded.created_at,
       sign_until = excluded.sign_until, verify_until = excluded.verify_until, cert = excluded.cert`,
      [k.kid, k.alg, k.jwk, k.createdAt, k.signUntil, k.verifyUntil, k.cert],
    );
  }

  async keys(): Promise<SigningKeyRecord[]> {
    return (await this.pool.query<KeyRow>('SELECT * FROM identity_keys ORDER BY created_at, kid')).rows.map(
      keyOf,
    );
  }

  async purgeKeys(now: number): Promise<number> {
    return (await this.pool.query('DELETE FROM identity_keys WHERE verify_until <= $1', [now])).rowCount ?? 0;
  }

  async revoke(r: Omit<RevocationRecord, 'id'>): Promise<RevocationRecord> {
    const res = await this.pool.query<RevocationRow>(
      `INSERT INTO identity_revocations (kind, value, revoked_at, expires_at, reason) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
      [r.kind, r.value, r.revokedAt, r.expiresAt, r.reason],
    );
    return revocationOf(res.rows[0]!);
  }

  async revocations(now: number): Promise<RevocationRecord[]> {
    const res = await this.pool.query<RevocationRow>(
      'SELECT * FROM identity_revocations WHERE expires_at > $1 ORDER BY id',
      [now],
    );
    return res.rows.map(revocationOf);
  }

  async purgeRevocations(now: number): Promise<number> {
    return (
      (await this.pool.query('DELETE FROM identity_revocations WHERE expires_at <= $1', [now])).rowCount ?? 0
    );
  }
}

/**
 * LISTEN/NOTIFY on a dedicated connection. Channels are namespaced by schema, so installations
 * (and tests) sharing a database do not hear each other. When the connection drops it reconnects
 * with backoff and then tells every subscriber to resynchronize (an empty payload), since
 * notifications sent while it was away are lost.
 */
export class PgNotifications implements Notifications {
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private retryMs = 100;
  /** Queries on the listening connection, one at a time: pg clients take one query at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly schema: string,
  ) {}

  private channel(name: string): string {
    return `rampart_${this.schema}_${name}`.slice(0, 63);
  }

  async publish(channel: string, payload: string): Promise<void> {
    // Reuse the listening connection when it is up; a short-lived one otherwise.
    if (this.client) {
      await this.serial(this.client, 'SELECT pg_notify($1, $2)', [this.channel(channel), payload]);
      return;
    }
    const c = new pg.Client(this.config);
    await c.connect();
    try {
      await c.query('SELECT pg_notify($1, $2)', [this.channel(channel), payload]);
    } finally {
      await c.end();
    }
  }

  subscribe(channel: string, fn: (payload: string) => void): () => void {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      if (this.client)
        this.serial(this.client, `LISTEN "${this.channel(channel)}"`).catch(() => this.reconnect());
    }
    set.add(fn);
    void this.ensure();
    return () => set.delete(fn);
  }

  private serial(c: pg.Client, sql: string, params?: unknown[]): Promise<unknown> {
    const next = this.queue.then(() => c.query(sql, params));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Resolves once the listener is connected and listening (for tests and start-up ordering). */
  ready(): Promise<void> {
    return this.ensure();
  }

  private ensure(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    return (this.connecting ??= this.connect().finally(() => (this.connecting = undefined)));
  }

  private async connect(): Promise<void> {
    const c = new pg.Client(this.config);
    c.on('error', () => this.reconnect());
    c.on('end', () => this.reconnect());
    c.on('notification', (n) => {
      for (const [name, set] of this.handlers) {
        if (this.channel(name) === n.channel) for (const fn of set) fn(n.payload ?? '');
      }
    });
    try {
      await c.connect();
      for (const name of this.handlers.keys()) await c.query(`LISTEN "${this.channel(name)}"`);
    } catch {
      await c.end().catch(() => undefined);
      this.scheduleRetry();
      return;
    }
    const wasDown = this.retryMs > 100;
    this.client = c;
    this.retryMs = 100;
    if (wasDown) for (const set of this.handlers.values()) for (const fn of set) fn('');
  }

  private reconnect(): void {
    if (this.closed) return;
    const old = this.client;
    this.client = undefined;
    old?.removeAllListeners();
    void old?.end().catch(() => undefined);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    this.retryMs = Math.min(this.retryMs * 2, 5000);
    setTimeout(() => void this.ensure(), this.retryMs).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.client;
    this.client = undefined;
    c?.removeAllListeners();
    await c?.end().catch(() => undefined);
  }
}

class PostgresRuns implements RunStore {
  constructor(private readonly pool: pg.Pool) {}

  async put(r: StoredRun): Promise<void> {
    await this.pool.query(
      `INSERT INTO runs (id, host, agent, status, started_at, record) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET host = excluded.host, agent = excluded.agent, status = excluded.status,
       started_at = excluded.started_at, record = excluded.record`,
      [r.id, r.host, r.agent, r.status, r.startedAt, r.record],
    );
  }

  async get(id: string): Promise<StoredRun | undefined> {
    return runOf((await this.pool.query<RunRow>('SELECT * FROM runs WHERE id = $1', [id])).rows[0]);
  }

  async list(q: { host?: string; status?: string; limit: number }): Promise<StoredRun[]> {
    const res = await this.pool.query<RunRow>(
      `SELECT * FROM runs WHERE ($1::text IS NULL OR host = $1) AND ($2::text IS NULL OR status = $2)
       ORDER BY started_at, id LIMIT $3`,
      [q.host ?? null, q.status ?? null, q.limit],
    );
    return res.rows.map((r) => runOf(r)!);
  }
}

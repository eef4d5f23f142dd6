// SQLite through better-sqlite3: the embedded default. WAL with synchronous=FULL, so a commit has
// reached the disk before it returns (an acknowledged audit record survives power loss, not only
// kill -9). Writes take the write lock up front (BEGIN IMMEDIATE), so a CLI process and the
// server can share the file safely.

import Database from 'better-sqlite3';
import { EventEmitter } from 'node:events';
import { chmodSync, closeSync, constants, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { buildBatch } from './batch.js';
import { SqliteLeases } from './sqlite-leases.js';
import { SqliteHoneytokens, SqliteSecrets } from './sqlite-secrets.js';
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
import { RampartError, messageOf } from '../core/errors.js';
import { MIGRATIONS, packFrontier, unpackFrontier } from './migrations.js';
import { SqliteMeta } from './sqlite-meta.js';
import { SqliteWriter } from './sqlite-writer-client.js';
import type {
  AuditHead,
  AuditRecordRow,
  AuditStore,
  CheckpointRow,
  EntityRecord,
  RunStore,
  HoneytokenStore,
  LeaseStore,
  SecretStore,
  SignerRecord,
  StoredRun,
  EntityStore,
  IdentityStore,
  MetaStore,
  Notifications,
  PreparedEntry,
  RevocationRecord,
  SigningKeyRecord,
  Store,
} from './types.js';

type DB = Database.Database;

export interface SqliteOptions {
  readonly file: string;
  /** Open without creating or migrating (offline tools such as `audit verify`). */
  readonly readonly?: boolean;
}

export function openSqliteStore(opts: SqliteOptions): Store {
  let db: DB;
  try {
    if (!opts.readonly) {
      mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 });
      // Born 0600: the database holds the audit log and must not be readable by other users.
      closeSync(openSync(opts.file, constants.O_CREAT | constants.O_RDWR, 0o600));
      chmodSync(opts.file, 0o600);
    }
    db = new Database(opts.file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    db.pragma('busy_timeout = 10000');
    // 64 MiB of page cache instead of 2: timelines, exports and verification read the log in
    // long ranges, a third faster when its pages stay cached (bench/incidents/timeline.ts).
    db.pragma('cache_size = -65536');
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    }
  } catch (e) {
    if (e instanceof RampartError) throw e;
    throw new RampartError(
      'RAMPART_E_STORE_UNAVAILABLE',
      `cannot open SQLite database ${opts.file}: ${messageOf(e)}`,
      {
        cause: e,
      },
    );
  }
  if (!opts.readonly) migrate(db);
  return new SqliteStore(db, opts.readonly ? undefined : opts.file);
}

/** The leases' own connection (sqlite-leases.ts says why it is NORMAL, without checkpoints). */
function leasesConnection(file: string): DB {
  const db = new Database(file, { fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 0');
  return db;
}

function migrate(db: DB): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  for (const m of MIGRATIONS) {
    const apply = db.transaction(() => {
      const done = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version);
      if (done) return;
      db.exec(m.sqlite);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
    });
    try {
      apply.immediate();
    } catch (e) {
      throw new RampartError(
        'RAMPART_E_STORE_MIGRATION',
        `migration ${m.version} (${m.name}) failed: ${messageOf(e)}`,
        {
          cause: e,
        },
      );
    }
  }
}

class SqliteStore implements Store {
  readonly driver = 'sqlite' as const;
  readonly audit: AuditStore;
  readonly meta: MetaStore;
  readonly entities: EntityStore;
  readonly identity: IdentityStore;
  readonly runs: RunStore;
  readonly secrets: SecretStore;
  readonly leases: LeaseStore;
  readonly honeytokens: HoneytokenStore;
  readonly notifications: Notifications;
  /** Durable writes off the main thread (sqlite-writer.ts); none for a store without a file. */
  private readonly writer: SqliteWriter | undefined;

  constructor(
    private readonly db: DB,
    private readonly file: string | undefined,
  ) {
    this.writer = file === undefined ? undefined : new SqliteWriter(file);
    this.audit = new SqliteAudit(db, this.writer);
    this.meta = new SqliteMeta(db, this.writer);
    this.entities = new SqliteEntities(db);
    this.identity = new SqliteIdentity(db);
    this.runs = new SqliteRuns(db);
    this.secrets = new SqliteSecrets(db);
    this.honeytokens = new SqliteHoneytokens(db);
    this.leases = file === undefined ? new SqliteLeases(db) : new SqliteLeases(leasesConnection(file));
    this.notifications = new LocalNotifications();
  }

  ping(): Promise<void> {
    return wrap(() => {
      this.db.prepare('SELECT 1').get();
    });
  }

  migrations(): Promise<number[]> {
    return wrap(() =>
      (
        this.db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as {
          version: number;
        }[]
      ).map((r) => r.version),
    );
  }

  async close(): Promise<void> {
    await this.writer?.close();
    if (this.leases instanceof SqliteLeases && this.file !== undefined) this.leases.close();
    if (this.db.open) this.db.close();
  }
}

/** A tree node's level and index packed in one number for batch lookups (indices stay below 2^40). */
const NODE_SPAN = 2 ** 40;

/** better-sqlite3 is synchronous; the interface is not. Errors become rejections, never throws. */
export function wrap<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

class SqliteAudit implements AuditStore {
  private readonly stmts;
  /** search() statements by their number of needles. */
  private readonly searches = new Map<number, Database.Statement>();
  constructor(
    private readonly db: DB,
    private readonly writer: SqliteWriter | undefined,
  ) {
    this.stmts = {
      head: db.prepare('SELECT size, frontier FROM audit_head WHERE id = 1'),
      setHead: db.prepare('UPDATE audit_head SET size = ?, frontier = ? WHERE id = 1'),
      insRecord: db.prepare('INSERT INTO audit_records (seq, entry) VALUES (?, ?)'),
      insNode: db.prepare('INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)'),
      records: db.prepare('SELECT seq, entry FROM audit_records WHERE seq >= ? ORDER BY seq LIMIT ?'),
      node: db.prepare('SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?'),
      nodesManyHex: db.prepare(
        `SELECT j.key, lower(hex(n.hash)) FROM json_each(?) j JOIN audit_nodes n ON n.level = (j.value / ${NODE_SPAN}) AND n.idx = (j.value % ${NODE_SPAN})`,
      ),
      nodesMany: db.prepare(
        `SELECT j.key, n.hash FROM json_each(?) j JOIN audit_nodes n ON n.level = (j.value / ${NODE_SPAN}) AND n.idx = (j.value % ${NODE_SPAN})`,
      ),
      leaves: db.prepare(
        'SELECT idx, hash FROM audit_nodes WHERE level = 0 AND idx >= ? ORDER BY idx LIMIT ?',
      ),
      latestCp: db.prepare('SELECT id, size, note FROM audit_checkpoints ORDER BY id DESC LIMIT 1'),
      putSigner: db.prepare(
        'INSERT INTO audit_signers (name, vkey, cert) VALUES (?, ?, ?) ' +
          'ON CONFLICT (name) DO UPDATE SET vkey = excluded.vkey, cert = excluded.cert',
      ),
      signers: db.prepare('SELECT name, vkey, cert FROM audit_signers ORDER BY name'),
      allCp: db.prepare('SELECT id, size, note FROM audit_checkpoints ORDER BY id'),
      insCp: db.prepare('INSERT INTO audit_checkpoints (size, note) VALUES (?, ?)'),
    };
  }

  private readHead(): AuditHead {
    const row = this.stmts.head.get() as { size: number; frontier: Buffer } | undefined;
    if (!row) throw new Error('audit head row is missing');
    return { size: row.size, frontier: unpackFrontier(row.frontier) };
  }

  async append(entries: readonly PreparedEntry[]): Promise<{ first: number; head: AuditHead }> {
    if (this.writer === undefined) return wrap(() => this.appendHere(entries));
    const r = await this.writer.append(entries);
    return { first: r.first, head: { size: r.size, frontier: r.frontier.map((f) => Buffer.from(f)) } };
  }

  /** The same append on this thread (read-only opens never get here; kept for no-file stores). */
  private appendHere(entries: readonly PreparedEntry[]): { first: number; head: AuditHead } {
    const tx = this.db.transaction(() => {
      const head = this.readHead();
      const batch = buildBatch(head, entries);
      for (const r of batch.records) this.stmts.insRecord.run(r.seq, r.entry);
      for (const n of batch.nodes) this.stmts.insNode.run(n.level, n.index, n.hash);
      this.stmts.setHead.run(batch.head.size, packFrontier(batch.head.frontier));
      return { first: head.size, head: batch.head };
    });
    return tx.immediate();
  }

  head(): Promise<AuditHead> {
    return wrap(() => this.readHead());
  }

  records(from: number, limit: number): Promise<AuditRecordRow[]> {
    return wrap(() => this.stmts.records.all(from, limit) as AuditRecordRow[]);
  }

  search(from: number, end: number, needles: readonly string[], limit: number): Promise<AuditRecordRow[]> {
    if (needles.length === 0) return Promise.resolve([]);
    return wrap(() => {
      // One instr() per needle, the statement kept per count: a json_each of the needles would be
      // parsed again for every record.
      let st = this.searches.get(needles.length);
      if (!st) {
        const any = needles.map(() => 'instr(entry, ?) > 0').join(' OR ');
        st = this.db.prepare(
          `SELECT seq, entry FROM audit_records WHERE seq >= ? AND seq < ? AND (${any}) ORDER BY seq LIMIT ?`,
        );
        this.searches.set(needles.length, st);
      }
      return st.all(from, end, ...needles, limit) as AuditRecordRow[];
    });
  }

  nodes(keys: readonly { level: number; index: number }[]): Promise<(Buffer | undefined)[]> {
    return wrap(() => {
      if (keys.length < 64)
        return keys.map((k) => (this.stmts.node.get(k.level, k.index) as { hash: Buffer } | undefined)?.hash);
      // Many at once (a timeline's proofs): one statement over the keys as a JSON array, each
      // key level and index in one number, is two to three times faster than a lookup each.
      const out: (Buffer | undefined)[] = new Array<Buffer | undefined>(keys.length);
      const packed = JSON.stringify(keys.map((k) => k.level * NODE_SPAN + k.index));
      for (const [i, hash] of this.stmts.nodesMany.raw(true).iterate(packed) as Iterable<[number, Buffer]>)
        out[i] = hash;
      return out;
    });
  }

  nodesHex(keys: readonly { level: number; index: number }[]): Promise<(string | undefined)[]> {
    return wrap(() => {
      const out: (string | undefined)[] = new Array<string | undefined>(keys.length).fill(undefined);
      const packed = JSON.stringify(keys.map((k) => k.level * NODE_SPAN + k.index));
      for (const [i, hex] of this.stmts.nodesManyHex.raw(true).iterate(packed) as Iterable<[number, string]>)
        out[i] = hex;
      return out;
    });
  }

  leaves(from: number, limit: number): Promise<{ index: number; hash: Buffer }[]> {
    return wrap(() =>
      (this.stmts.leaves.all(from, limit) as { idx: number; hash: Buffer }[]).map((r) => ({
        index: r.idx,
        hash: r.hash,
      })),
    );
  }

  async addCheckpoint(
    build: (latest: CheckpointRow | undefined, head: AuditHead) => { size: number; note: string } | undefined,
  ): Promise<CheckpointRow | undefined> {
    if (this.writer) {
      // Built here from what is committed, added by the writer thread only if no other checkpoint
      // came first (another process on the same file): then built again on the newer one.
      for (let attempt = 0; attempt < 5; attempt++) {
        const latest = this.stmts.latestCp.get() as CheckpointRow | undefined;
        const next = build(latest, this.readHead());
        if (!next) return undefined;
        const id = await this.writer.checkpoint(latest?.id ?? 0, next.size, next.note);
        if (id !== undefined) return { id, size: next.size, note: next.note };
      }
      throw new Error('could not add a checkpoint: others kept being added first');
    }
    const tx = this.db.transaction((): CheckpointRow | undefined => {
      const latest = this.stmts.latestCp.get() as CheckpointRow | undefined;
      const next = build(latest, this.readHead());
      if (!next) return undefined;
      const info = this.stmts.insCp.run(next.size, next.note);
      return { id: Number(info.lastInsertRowid), size: next.size, note: next.note };
    });
    return tx.immediate();
  }

  checkpoints(): Promise<CheckpointRow[]> {
    return wrap(() => this.stmts.allCp.all() as CheckpointRow[]);
  }

  latestCheckpoint(): Promise<CheckpointRow | undefined> {
    return wrap(() => this.stmts.latestCp.get() as CheckpointRow | undefined);
  }

  putSigner(s: SignerRecord): Promise<void> {
    return wrap(() => {
      this.stmts.putSigner.run(s.name, s.vkey, s.cert);
    });
  }

  signers(): Promise<SignerRecord[]> {
    return wrap(() => this.stmts.signers.all() as SignerRecord[]);
  }
}

class SqliteEntities implements EntityStore {
  private readonly stmts;

  constructor(private readonly db: DB) {
    this.stmts = {
      bump: db.prepare(
        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'entities_version' RETURNING value",
      ),
      upsert: db.prepare(
        'INSERT INTO entities (type, id, attributes, parents, version, deleted) VALUES (?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (type, id) DO UPDATE SET attributes = excluded.attributes, parents = excluded.parents, version = excluded.version, deleted = excluded.deleted',
      ),
      get: db.prepare('SELECT * FROM entities WHERE type = ? AND id = ?'),
      changes: db.prepare('SELECT * FROM entities WHERE version > ? ORDER BY version LIMIT ?'),
    };
  }

  private write(
    type: string,
    id: string,
    attributes: string,
    parents: string,
    deleted: boolean,
  ): EntityRecord {
    const version = Number((this.stmts.bump.get() as { value: string | number }).value);
    this.stmts.upsert.run(type, id, attributes, parents, version, deleted ? 1 : 0);
    return entityOf({ type, id, attributes, parents, version, deleted: deleted ? 1 : 0 });
  }

  put(e: {
    type: string;
    id: string;
    attributes: Readonly<Record<string, unknown>>;
    parents: readonly string[];
  }): Promise<EntityRecord> {
    const tx = this.db.transaction(() =>
      this.write(e.type, e.id, JSON.stringify(e.attributes), JSON.stringify(e.parents), false),
    );
    return wrap(() => tx.immediate());
  }

  delete(type: string, id: string): Promise<EntityRecord | undefined> {
    const tx = this.db.transaction((): EntityRecord | undefined => {
      const cur = this.stmts.get.get(type, id) as EntityRow | undefined;
      if (!cur || cur.deleted) return undefined;
      return this.write(type, id, '{}', '[]', true);
    });
    return wrap(() => tx.immediate());
  }

  get(type: string, id: string): Promise<EntityRecord | undefined> {
    return wrap(() => {
      const r = this.stmts.get.get(type, id) as EntityRow | undefined;
      return r ? entityOf(r) : undefined;
    });
  }

  changes(since: number, limit: number): Promise<EntityRecord[]> {
    return wrap(() => (this.stmts.changes.all(since, limit) as EntityRow[]).map(entityOf));
  }
}

/** One process owns an SQLite store's control plane: notifications stay in process. */
class SqliteIdentity implements IdentityStore {
  private readonly stmts;

  constructor(db: DB) {
    this.stmts = {
      putKey: db.prepare(
        'INSERT INTO identity_keys (kid, alg, jwk, created_at, sign_until, verify_until, cert) VALUES (?, ?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, jwk = excluded.jwk, created_at = excluded.created_at, ' +
          'sign_until = excluded.sign_until, verify_until = excluded.verify_until, cert = excluded.cert',
      ),
      keys: db.prepare('SELECT * FROM identity_keys ORDER BY created_at, kid'),
      purgeKeys: db.prepare('DELETE FROM identity_keys WHERE verify_until <= ?'),
      revoke: db.prepare(
        'INSERT INTO identity_revocations (kind, value, revoked_at, expires_at, reason) VALUES (?, ?, ?, ?, ?) RETURNING *',
      ),
      revocations: db.prepare('SELECT * FROM identity_revocations WHERE expires_at > ? ORDER BY id'),
      purgeRevocations: db.prepare('DELETE FROM identity_revocations WHERE expires_at <= ?'),
    };
  }

  putKey(k: SigningKeyRecord): Promise<void> {
    return wrap(() => {
      this.stmts.putKey.run(k.kid, k.alg, k.jwk, k.createdAt, k.signUntil, k.verifyUntil, k.cert);
    });
  }

  keys(): Promise<SigningKeyRecord[]> {
    return wrap(() => (this.stmts.keys.all() as KeyRow[]).map(keyOf));
  }

  purgeKeys(now: number): Promise<number> {
    return wrap(() => this.stmts.purgeKeys.run(now).changes);
  }

  revoke(r: Omit<RevocationRecord, 'id'>): Promise<RevocationRecord> {
    return wrap(() =>
      revocationOf(
        this.stmts.revoke.get(r.kind, r.value, r.revokedAt, r.expiresAt, r.reason) as RevocationRow,
      ),
    );
  }

  revocations(now: number): Promise<RevocationRecord[]> {
    return wrap(() => (this.stmts.revocations.all(now) as RevocationRow[]).map(revocationOf));
  }

  purgeRevocations(now: number): Promise<number> {
    return wrap(() => this.stmts.purgeRevocations.run(now).changes);
  }
}

export class LocalNotifications implements Notifications {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(channel: string, payload: string): Promise<void> {
    queueMicrotask(() => this.emitter.emit(channel, payload));
    return Promise.resolve();
  }

  subscribe(channel: string, fn: (payload: string) => void): () => void {
    this.emitter.on(channel, fn);
    return () => this.emitter.off(channel, fn);
  }
}

class SqliteRuns implements RunStore {
  private readonly stmts;

  constructor(db: DB) {
    this.stmts = {
      put: db.prepare(
        'INSERT INTO runs (id, host, agent, status, started_at, record) VALUES (?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (id) DO UPDATE SET host = excluded.host, agent = excluded.agent, status = excluded.status, ' +
          'started_at = excluded.started_at, record = excluded.record',
      ),
      get: db.prepare('SELECT * FROM runs WHERE id = ?'),
      list: db.prepare(
        'SELECT * FROM runs WHERE (@host IS NULL OR host = @host) AND (@status IS NULL OR status = @status) ' +
          'ORDER BY started_at, id LIMIT @limit',
      ),
    };
  }

  put(r: StoredRun): Promise<void> {
    return wrap(() => {
      this.stmts.put.run(r.id, r.host, r.agent, r.status, r.startedAt, r.record);
    });
  }

  get(id: string): Promise<StoredRun | undefined> {
    return wrap(() => runOf(this.stmts.get.get(id) as RunRow | undefined));
  }

  list(q: { host?: string; status?: string; limit: number }): Promise<StoredRun[]> {
    return wrap(() =>
      (
        this.stmts.list.all({ host: q.host ?? null, status: q.status ?? null, limit: q.limit }) as RunRow[]
      ).map((r) => runOf(r)!),
    );
  }
}

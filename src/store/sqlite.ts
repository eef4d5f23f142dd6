// SQLite through better-sqlite3: the embedded default. WAL with synchronous=FULL, so a commit has
// reached the disk before it returns (an acknowledged audit record survives power loss, not only
// kill -9). Writes take the write lock up front (BEGIN IMMEDIATE), so a CLI process and the
// server can share the file safely.

import Database from 'better-sqlite3';
import { chmodSync, closeSync, mkdirSync, openSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import { RampartError } from '../core/errors.js';
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
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    }
  } catch (e) {
    if (e instanceof RampartError) throw e;
    throw new RampartError(
      'RAMPART_E_STORE_UNAVAILABLE',
      `cannot open SQLite database ${opts.file}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  if (!opts.readonly) migrate(db);
  return new SqliteStore(db);
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
        `migration ${m.version} (${m.name}) failed: ${(e as Error).message}`,
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

  constructor(private readonly db: DB) {
    this.audit = new SqliteAudit(db);
    this.meta = new SqliteMeta(db);
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

  close(): Promise<void> {
    return wrap(() => {
      if (this.db.open) this.db.close();
    });
  }
}

/** better-sqlite3 is synchronous; the interface is not. Errors become rejections, never throws. */
function wrap<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

class SqliteAudit implements AuditStore {
  private readonly stmts;

  constructor(private readonly db: DB) {
    this.stmts = {
      head: db.prepare('SELECT size, frontier FROM audit_head WHERE id = 1'),
      setHead: db.prepare('UPDATE audit_head SET size = ?, frontier = ? WHERE id = 1'),
      insRecord: db.prepare('INSERT INTO audit_records (seq, entry) VALUES (?, ?)'),
      insNode: db.prepare('INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)'),
      records: db.prepare('SELECT seq, entry FROM audit_records WHERE seq >= ? ORDER BY seq LIMIT ?'),
      node: db.prepare('SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?'),
      leaves: db.prepare(
        'SELECT idx, hash FROM audit_nodes WHERE level = 0 AND idx >= ? ORDER BY idx LIMIT ?',
      ),
      latestCp: db.prepare('SELECT id, size, note FROM audit_checkpoints ORDER BY id DESC LIMIT 1'),
      allCp: db.prepare('SELECT id, size, note FROM audit_checkpoints ORDER BY id'),
      insCp: db.prepare('INSERT INTO audit_checkpoints (size, note) VALUES (?, ?)'),
    };
  }

  private readHead(): AuditHead {
    const row = this.stmts.head.get() as { size: number; frontier: Buffer } | undefined;
    if (!row) throw new Error('audit head row is missing');
    return { size: row.size, frontier: unpackFrontier(row.frontier) };
  }

  append(build: (head: AuditHead) => AuditBatch): Promise<AuditHead> {
    const tx = this.db.transaction((): AuditHead => {
      const batch = build(this.readHead());
      for (const r of batch.records) this.stmts.insRecord.run(r.seq, r.entry);
      for (const n of batch.nodes) this.stmts.insNode.run(n.level, n.index, n.hash);
      this.stmts.setHead.run(batch.head.size, packFrontier(batch.head.frontier));
      return batch.head;
    });
    return wrap(() => tx.immediate());
  }

  head(): Promise<AuditHead> {
    return wrap(() => this.readHead());
  }

  records(from: number, limit: number): Promise<AuditRecordRow[]> {
    return wrap(() => this.stmts.records.all(from, limit) as AuditRecordRow[]);
  }

  nodes(keys: readonly { level: number; index: number }[]): Promise<(Buffer | undefined)[]> {
    return wrap(() =>
      keys.map((k) => (this.stmts.node.get(k.level, k.index) as { hash: Buffer } | undefined)?.hash),
    );
  }

  leaves(from: number, limit: number): Promise<{ index: number; hash: Buffer }[]> {
    return wrap(() =>
      (this.stmts.leaves.all(from, limit) as { idx: number; hash: Buffer }[]).map((r) => ({
        index: r.idx,
        hash: r.hash,
      })),
    );
  }

  addCheckpoint(
    build: (latest: CheckpointRow | undefined, head: AuditHead) => { size: number; note: string } | undefined,
  ): Promise<CheckpointRow | undefined> {
    const tx = this.db.transaction((): CheckpointRow | undefined => {
      const latest = this.stmts.latestCp.get() as CheckpointRow | undefined;
      const next = build(latest, this.readHead());
      if (!next) return undefined;
      const info = this.stmts.insCp.run(next.size, next.note);
      return { id: Number(info.lastInsertRowid), size: next.size, note: next.note };
    });
    return wrap(() => tx.immediate());
  }

  checkpoints(): Promise<CheckpointRow[]> {
    return wrap(() => this.stmts.allCp.all() as CheckpointRow[]);
  }

  latestCheckpoint(): Promise<CheckpointRow | undefined> {
    return wrap(() => this.stmts.latestCp.get() as CheckpointRow | undefined);
  }
}

class SqliteMeta implements MetaStore {
  constructor(private readonly db: DB) {}

  get(key: string): Promise<string | undefined> {
    return wrap(
      () =>
        (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)
          ?.value,
    );
  }

  setIfAbsent(key: string, value: string): Promise<string> {
    return wrap(() => {
      this.db
        .prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING')
        .run(key, value);
      return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string }).value;
    });
  }

  set(key: string, value: string): Promise<void> {
    return wrap(() => {
      this.db
        .prepare(
          'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        )
        .run(key, value);
    });
  }
}

// The SQLite store's secrets (types.ts SecretStore): versions of sealed secrets, the next version
// taken and written in one IMMEDIATE transaction.

import type Database from 'better-sqlite3';
import { secretOf, type SecretRow } from './rows.js';
import { wrap } from './sqlite.js';
import type { HoneytokenStore, SealVersion, SecretStore, StoredHoneytoken, StoredSecret } from './types.js';

type DB = Database.Database;

export class SqliteSecrets implements SecretStore {
  private readonly stmts;
  private readonly addTx;

  constructor(db: DB) {
    this.stmts = {
      max: db.prepare('SELECT MAX(version) AS v FROM secrets WHERE vault = ? AND name = ?'),
      insert: db.prepare(
        'INSERT INTO secrets (vault, name, version, created_at, created_by, sealed, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      version: db.prepare('SELECT * FROM secrets WHERE vault = ? AND name = ? AND version = ?'),
      latest: db.prepare('SELECT * FROM secrets WHERE vault = ? AND name = ? ORDER BY version DESC LIMIT 1'),
      versions: db.prepare('SELECT * FROM secrets WHERE vault = ? AND name = ? ORDER BY version DESC'),
      list: db.prepare(
        'SELECT s.* FROM secrets s WHERE (@vault IS NULL OR s.vault = @vault) AND s.version = ' +
          '(SELECT MAX(version) FROM secrets t WHERE t.vault = s.vault AND t.name = s.name) ORDER BY s.vault, s.name',
      ),
      remove: db.prepare('DELETE FROM secrets WHERE vault = ? AND name = ?'),
      count: db.prepare('SELECT COUNT(*) AS n FROM secrets'),
      page: db.prepare(
        'SELECT * FROM secrets WHERE (vault, name, version) > (@vault, @name, @version) ORDER BY vault, name, version LIMIT @limit',
      ),
      reseal: db.prepare(
        'UPDATE secrets SET sealed = ? WHERE vault = ? AND name = ? AND version = ? AND sealed = ?',
      ),
    };
    this.addTx = db.transaction(
      (key: { vault: string; name: string }, make: SealVersion, at: number, by: string) => {
        const v = ((this.stmts.max.get(key.vault, key.name) as { v: number | null }).v ?? 0) + 1;
        const { sealed, fingerprint } = make(v);
        this.stmts.insert.run(key.vault, key.name, v, at, by, sealed, fingerprint);
        return v;
      },
    );
  }

  /** The version is taken and written in one IMMEDIATE transaction: no other writer between. */
  add(vault: string, name: string, make: SealVersion, createdAt: number, createdBy: string): Promise<number> {
    return wrap(() => this.addTx.immediate({ vault, name }, make, createdAt, createdBy));
  }

  get(vault: string, name: string, version?: number): Promise<StoredSecret | undefined> {
    return wrap(() =>
      secretOf(
        (version === undefined
          ? this.stmts.latest.get(vault, name)
          : this.stmts.version.get(vault, name, version)) as SecretRow | undefined,
      ),
    );
  }

  versions(vault: string, name: string): Promise<StoredSecret[]> {
    return wrap(() => (this.stmts.versions.all(vault, name) as SecretRow[]).map((r) => secretOf(r)!));
  }

  list(vault?: string): Promise<StoredSecret[]> {
    return wrap(() =>
      (this.stmts.list.all({ vault: vault ?? null }) as SecretRow[]).map((r) => secretOf(r)!),
    );
  }

  remove(vault: string, name: string): Promise<number> {
    return wrap(() => this.stmts.remove.run(vault, name).changes);
  }

  page(
    after: { vault: string; name: string; version: number } | undefined,
    limit: number,
  ): Promise<StoredSecret[]> {
    const from = after ?? { vault: '', name: '', version: 0 };
    return wrap(() => (this.stmts.page.all({ ...from, limit }) as SecretRow[]).map((r) => secretOf(r)!));
  }

  reseal(vault: string, name: string, version: number, from: string, to: string): Promise<boolean> {
    return wrap(() => this.stmts.reseal.run(to, vault, name, version, from).changes === 1);
  }

  count(): Promise<number> {
    return wrap(() => (this.stmts.count.get() as { n: number }).n);
  }
}

/** Planted decoys by fingerprint (types.ts HoneytokenStore). */
export class SqliteHoneytokens implements HoneytokenStore {
  private readonly insert;
  private readonly after;
  private readonly addMany;

  constructor(db: DB) {
    this.insert = db.prepare(
      'INSERT OR IGNORE INTO honeytokens (fingerprint, kind, run, agent, created_at) VALUES (?, ?, ?, ?, ?)',
    );
    this.after = db.prepare('SELECT * FROM honeytokens WHERE created_at >= ? ORDER BY created_at');
    this.addMany = db.transaction((tokens: readonly StoredHoneytoken[]) => {
      for (const t of tokens) this.insert.run(t.fingerprint, t.kind, t.run, t.agent, t.createdAt);
    });
  }

  add(tokens: readonly StoredHoneytoken[]): Promise<void> {
    return wrap(() => this.addMany(tokens));
  }

  since(since: number): Promise<StoredHoneytoken[]> {
    return wrap(() =>
      (
        this.after.all(since) as {
          fingerprint: string;
          kind: string;
          run: string;
          agent: string;
          created_at: number;
        }[]
      ).map((r) => ({
        fingerprint: r.fingerprint,
        kind: r.kind,
        run: r.run,
        agent: r.agent,
        createdAt: Number(r.created_at),
      })),
    );
  }
}

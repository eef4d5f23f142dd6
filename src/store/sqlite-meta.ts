// The store's meta keys on SQLite: small values (cursors, the installation's claim, containment
// state, incidents and break-glass requests), each key its own row. Plain writes (set, delete) go
// through the writer thread and share its group commit: they are frequent (every durable
// subscriber's cursor after each batch) and an fsync on the main thread would hold up every
// detection behind it. Reads, and the rare conditional writes, stay here.

import type Database from 'better-sqlite3';
import { wrap } from './sqlite.js';
import type { SqliteWriter } from './sqlite-writer-client.js';
import type { MetaStore } from './types.js';

export class SqliteMeta implements MetaStore {
  constructor(
    private readonly db: Database.Database,
    private readonly writer?: SqliteWriter,
  ) {}

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
    if (this.writer) return this.writer.setMeta(key, value);
    return wrap(() => {
      this.db
        .prepare(
          'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        )
        .run(key, value);
    });
  }

  compareAndSet(key: string, expected: string | undefined, value: string): Promise<boolean> {
    return wrap(
      () =>
        (expected === undefined
          ? this.db
              .prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING')
              .run(key, value)
          : this.db.prepare('UPDATE meta SET value = ? WHERE key = ? AND value = ?').run(value, key, expected)
        ).changes > 0,
    );
  }

  delete(key: string): Promise<boolean> {
    if (this.writer) return this.writer.deleteMeta(key);
    return wrap(() => this.db.prepare('DELETE FROM meta WHERE key = ?').run(key).changes > 0);
  }

  list(prefix: string): Promise<[string, string][]> {
    // substr, not LIKE: a prefix may hold "%" or "_". The meta table is small.
    return wrap(() =>
      (
        this.db
          .prepare('SELECT key, value FROM meta WHERE substr(key, 1, ?) = ? ORDER BY key')
          .all(prefix.length, prefix) as { key: string; value: string }[]
      ).map((r) => [r.key, r.value]),
    );
  }
}

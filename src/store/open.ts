import type { StoreConfig } from '../config/load.js';
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export interface OpenStoreOptions {
  /** Do not create or migrate (SQLite only; PostgreSQL always checks its migrations). */
  readonly readonly?: boolean;
}

/** Opens the configured store and brings its schema up to date. */
export async function openStore(cfg: StoreConfig, opts: OpenStoreOptions = {}): Promise<Store> {
  switch (cfg.driver) {
    case 'sqlite':
      return openSqliteStore({ file: cfg.file, readonly: opts.readonly ?? false });
    case 'postgres':
      return openPostgresStore(cfg);
  }
}

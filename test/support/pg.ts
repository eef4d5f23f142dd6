// PostgreSQL for tests: a fresh schema per test, dropped afterwards. scripts/test.mjs decides
// whether PostgreSQL is up (and fails the run under CI=true when it is not).

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { PostgresConfig } from '../../src/config/load.js';

export const PG_URL = new URL(process.env['RAMPART_TEST_PG'] ?? 'postgres://root@127.0.0.1:5432/test');

export function pgAvailable(): boolean {
  return process.env['RAMPART_TEST_PG_UP'] !== '0';
}

/** Reason to skip PostgreSQL tests, or false to run them. */
export const skipPg: string | false = pgAvailable() ? false : 'PostgreSQL not reachable (see test notice)';

export function pgConfig(schema: string): PostgresConfig {
  return {
    driver: 'postgres',
    host: PG_URL.hostname,
    port: Number(PG_URL.port || 5432),
    database: PG_URL.pathname.slice(1) || 'test',
    user: decodeURIComponent(PG_URL.username || 'root'),
    passwordFile: undefined,
    schema,
    poolSize: 8,
    connectTimeoutMs: 5000,
    ssl: undefined,
  };
}

export function newSchema(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({
    host: PG_URL.hostname,
    port: Number(PG_URL.port || 5432),
    database: PG_URL.pathname.slice(1) || 'test',
    user: decodeURIComponent(PG_URL.username || 'root'),
  });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await c.end();
  }
}

/** Runs SQL in a schema (tests use it to tamper with the audit tables directly). */
export async function pgExec(schema: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({
    host: PG_URL.hostname,
    port: Number(PG_URL.port || 5432),
    database: PG_URL.pathname.slice(1) || 'test',
    user: decodeURIComponent(PG_URL.username || 'root'),
    options: `-c search_path=${schema}`,
  });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

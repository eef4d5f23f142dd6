// Two control-plane processes sharing one PostgreSQL schema: how replica tests and benchmarks
// start them and tear them down.

import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type Server } from './cli.js';
import { adminToken, api, type Api } from './http.js';
import { dropSchema, newSchema, PG_URL } from './pg.js';
import { sandboxControlPlaneDir } from './sandbox.js';
import { tempDir, type TempDir } from './tmp.js';

export interface Replica {
  readonly dir: TempDir;
  readonly server: Server;
  /** Calls this replica with its admin token. */
  readonly admin: Api;
}

/** The store section that points a replica at `schema` on the test PostgreSQL. */
export function pgStoreYaml(schema: string): string {
  return [
    'store:',
    '  driver: postgres',
    '  postgres:',
    `    host: ${PG_URL.hostname}`,
    `    port: ${PG_URL.port || 5432}`,
    `    database: ${PG_URL.pathname.slice(1) || 'test'}`,
    `    user: ${decodeURIComponent(PG_URL.username || 'root')}`,
    `    schema: ${schema}`,
    '',
  ].join('\n');
}

/** Copies the installation key of the replica in `from` into `to`'s data directory, mode 0600. */
export function joinInstallation(from: string, to: string): void {
  mkdirSync(join(to, '.rampart', 'keys'), { recursive: true, mode: 0o700 });
  copyFileSync(
    join(from, '.rampart', 'keys', 'installation.key'),
    join(to, '.rampart', 'keys', 'installation.key'),
  );
  chmodSync(join(to, '.rampart', 'keys', 'installation.key'), 0o600);
}

/**
 * Runs `fn` with two replicas on a fresh schema (`extraYaml` appended to both configs), then stops
 * both and drops the schema whatever happened.
 */
export async function withReplicas<T>(
  fn: (a: Replica, b: Replica) => Promise<T>,
  extraYaml = '',
): Promise<T> {
  const schema = newSchema();
  const dirs = [tempDir(), tempDir()] as const;
  const servers: Server[] = [];
  try {
    for (const d of dirs) {
      writeFileSync(join(d.dir, 'rampart.yaml'), pgStoreYaml(schema) + extraYaml);
      // A second replica of the same installation gets a copy of the installation key.
      if (servers.length > 0) joinInstallation(dirs[0].dir, d.dir);
      servers.push(await startServer(['--listen', '127.0.0.1:0'], { cwd: d.dir }));
    }
    const [a, b] = dirs.map((dir, i) => ({
      dir,
      server: servers[i]!,
      admin: api(servers[i]!.url, adminToken(dir.dir)),
    })) as [Replica, Replica];
    return await fn(a, b);
  } finally {
    for (const s of servers) await s.stop();
    await dropSchema(schema);
    for (const d of dirs) d.cleanup();
  }
}

/**
 * Two replicas sharing a fresh PostgreSQL schema that both keep runs on this host (one cgroup
 * parent, one workspaces directory and uid pool): runs registered with B are B's. `yamlA` and
 * `yamlB` are appended to each one's configuration. Stopped, dropped and removed by `cleanup`.
 */
export async function sandboxReplicas(
  yamlA: string,
  yamlB: string,
): Promise<{ a: Replica; b: Replica; cgroupParent: string; workspaces: string; cleanup(): Promise<void> }> {
  const schema = newSchema();
  const base = sandboxControlPlaneDir();
  const sandbox = readFileSync(join(base.dir.dir, 'rampart.yaml'), 'utf8');
  const dirs = [tempDir(), tempDir()] as const;
  const servers: Server[] = [];
  const cleanup = async (): Promise<void> => {
    for (const s of servers) await s.stop();
    await dropSchema(schema);
    for (const d of dirs) d.cleanup();
    base.cleanup();
  };
  try {
    for (const [i, d] of dirs.entries()) {
      writeFileSync(
        join(d.dir, 'rampart.yaml'),
        pgStoreYaml(schema) + sandbox + 'egress:\n  listen: 127.0.0.1:0\n' + (i === 0 ? yamlA : yamlB),
      );
      if (i > 0) joinInstallation(dirs[0].dir, d.dir);
      servers.push(await startServer(['--listen', '127.0.0.1:0'], { cwd: d.dir }));
    }
  } catch (e) {
    await cleanup();
    throw e;
  }
  const [a, b] = dirs.map((dir, i) => ({
    dir,
    server: servers[i]!,
    admin: api(servers[i]!.url, adminToken(dir.dir)),
  })) as [Replica, Replica];
  return { a, b, cgroupParent: base.cgroupParent, workspaces: join(base.dir.dir, 'ws'), cleanup };
}

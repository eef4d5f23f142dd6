// A PostgreSQL cluster of a test's own: initdb with scram-sha-256 for every login (the machine's
// shared server trusts every local login, which would pass a password test whatever the password),
// on a free port, run as the postgres user (initdb refuses root). Stopped and removed by the test.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PgCluster {
  readonly port: number;
  /** The superuser's connection URL (password auth over TCP). */
  readonly adminUrl: string;
  stop(): void;
  start(): void;
  remove(): void;
}

function pgBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const v = readdirSync(root).sort().pop();
  return v && existsSync(join(root, v, 'bin', 'initdb')) ? join(root, v, 'bin') : undefined;
}

/** Why a cluster of our own cannot be made here, or false. Never skipped under CI (.ci/run installs it). */
export function pgClusterSkip(): string | false {
  if (process.env['CI'] === 'true') return false;
  if (!pgBin()) return 'no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb)';
  if (spawnSync('id', ['postgres']).status !== 0) return 'no postgres user to run initdb as';
  return false;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startPgCluster(): Promise<PgCluster> {
  const bin = pgBin()!;
  const dir = mkdtempSync(join(tmpdir(), 'rampart-pgc-'));
  const data = join(dir, 'data');
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(dir, uid, gid);
  const password = `pw${Math.random().toString(36).slice(2)}${Date.now()}`;
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, password + '\n', { mode: 0o600 });
  chownSync(pwfile, uid, gid);
  const as = (args: string[]): void => {
    execFileSync('runuser', ['-u', 'postgres', '--', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  as([
    join(bin, 'initdb'),
    '-D',
    data,
    '-U',
    'admin',
    '--pwfile',
    pwfile,
    '--auth-local=scram-sha-256',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  rmSync(pwfile);
  const port = await freePort();
  const start = (): void =>
    as([
      join(bin, 'pg_ctl'),
      '-D',
      data,
      '-w',
      '-l',
      join(dir, 'log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ]);
  start();
  return {
    port,
    adminUrl: `postgresql://admin:${password}@127.0.0.1:${port}/postgres`,
    start,
    stop: () => as([join(bin, 'pg_ctl'), '-D', data, '-w', '-m', 'fast', 'stop']),
    remove: () => {
      try {
        as([join(bin, 'pg_ctl'), '-D', data, '-w', '-m', 'immediate', 'stop']);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

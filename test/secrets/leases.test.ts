// Leases through a real control plane and a PostgreSQL cluster of the test's own (scram-sha-256
// for every login: the machine's shared server trusts local logins, which would pass any
// password). A run gets a role of its own that works; a wrong, an expired and a revoked
// credential are refused; at the run's end the role is gone and its open session cut. A database
// that refuses a revocation leaves the lease "revoking", in health, retried until it is done.
// Rotation reaches a running run's file; a failed rotator rolls back; revoking a run's leases
// removes its files while it runs.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { BIN, rampart, rampartAsync, startServer, type CliResult, type Server } from '../support/cli.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { pgClusterSkip, startPgCluster, type PgCluster } from '../support/pgcluster.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import { eventually } from '../support/wait.js';

/** A `rampart run` in the background: its id and workspace once it has started, and its end. */
function startRun(
  args: string[],
  cwd: string,
): Promise<{ id: string; workspace: string; done: Promise<CliResult> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'run', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let told = false;
    const done = new Promise<CliResult>((res) => child.on('close', (code) => res({ code, stdout, stderr })));
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const m = /rampart: run (\S+) \(agent \S+\) in (\S+)/.exec(stderr);
      if (m && !told) {
        told = true;
        resolve({ id: m[1]!, workspace: m[2]!, done });
      }
    });
    void done.then((r) =>
      told ? undefined : reject(new Error(`the run ended before it started: ${r.stderr}`)),
    );
  });
}

async function connects(url: string): Promise<true | string> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).message;
  } finally {
    await c.end().catch(() => undefined);
  }
}

const skip = sandboxSkip() || pgClusterSkip();

describe('leases, dynamic PostgreSQL credentials and rotation', { skip }, () => {
  let cluster: PgCluster;
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let dir: string;
  let server: Server;
  let admin: Api;
  let dba: pg.Client;
  const rotated = (): string => join(dir, 'rotated.value');

  before(async () => {
    cluster = await startPgCluster();
    dba = new pg.Client({ connectionString: cluster.adminUrl });
    await dba.connect();
    await dba.query(
      "CREATE TABLE t (x int); INSERT INTO t VALUES (42); CREATE ROLE app LOGIN PASSWORD 'first-value'",
    );
    cp = sandboxControlPlaneDir(
      [
        'secrets:',
        '  lease_ttl: 4s',
        '  sweep_interval: 100ms',
        '  revoke_timeout: 2s',
        '  postgres:',
        '    - vault: db',
        '      connection_file: pg-admin.url',
        '      roles:',
        '        - name: reader',
        '          creation: |',
        `            CREATE ROLE "{{name}}" LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
        '            GRANT SELECT ON t TO "{{name}}";',
        '          ttl: 2s',
        '        - name: brief',
        '          creation: |',
        `            CREATE ROLE "{{name}}" LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
        '          ttl: 1s',
        '          max_ttl: 1s',
        '  rotation:',
        '    - secret: ci/api',
        '      rotator:',
        `        command: [sh, -c, 'cat > "$0"', ROTATED]`,
        '    - secret: ci/sched',
        '      every: 2s',
        '      rotator:',
        "        command: [sh, -c, 'cat > /dev/null']",
        '    - secret: ci/app',
        '      rotator: { postgres_role: app, connection_file: pg-admin.url }',
        '    - secret: ci/broken',
        '      rotator:',
        `        command: [sh, -c, 'echo upstream said no >&2; exit 3']`,
        '',
      ].join('\n'),
    );
    dir = cp.dir.dir;
    const yaml = join(dir, 'rampart.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('ROTATED', join(dir, 'rotated.value')));
    writeFileSync(join(dir, 'pg-admin.url'), cluster.adminUrl, { mode: 0o600 });
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir });
    admin = api(server.url, adminToken(dir));
    for (const [agent, caps] of [
      ['dbagent', ['vault:db:read']],
      ['apiagent', ['vault:ci:read']],
    ] as const)
      assert.equal(
        (
          await admin('PUT', `/v1/entities/agent/${agent}`, {
            attributes: { capabilities: caps },
            parents: [],
          })
        ).status,
        200,
      );
    writeFileSync(join(dir, 'v1'), 'first-value', { mode: 0o600 });
    for (const s of ['ci/api', 'ci/app', 'ci/broken', 'ci/plain', 'ci/sched'])
      assert.equal(rampart(['secret', 'put', s, 'v1'], { cwd: dir }).code, 0);
  });
  after(async () => {
    await dba?.end().catch(() => undefined);
    await server?.stop();
    cluster?.remove();
    cp?.cleanup();
  });

  const roles = async (): Promise<string[]> =>
    (
      await dba.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE 'rampart_%'")
    ).rows.map((r) => r.rolname);

  it('gives a run a role that works and dies with the run: session cut, role dropped', async () => {
    const run = await startRun(
      [
        '--no-network',
        '--agent',
        'dbagent',
        '--secret',
        'DB=vault:db/reader',
        '--',
        'sh',
        '-c',
        'while [ ! -e /workspace/go ]; do sleep 0.05; done',
      ],
      dir,
    );
    // The file the run reads, seen from the host (its tmpfs directory).
    await eventually(
      async () => (existsSync(`/dev/shm/rampart-${run.id}/secrets/DB`) ? true : undefined),
      'the run',
    );
    const url = readFileSync(`/dev/shm/rampart-${run.id}/secrets/DB`, 'utf8');
    const u = new URL(url);
    assert.match(u.username, /^rampart_reader_[a-z0-9]{10}$/);
    assert.deepEqual(await roles(), [u.username]);
    // It works, and only with its own password.
    const session = new pg.Client({ connectionString: url });
    await session.connect();
    assert.deepEqual((await session.query('SELECT x FROM t')).rows, [{ x: 42 }]);
    let cut: Error | undefined;
    session.on('error', (e) => (cut = e));
    const wrong = new URL(url);
    wrong.password = 'not-the-password';
    assert.equal(await connects(wrong.toString()), '28P01');
    // The database's own backstop: VALID UNTIL is the lease's expiry.
    const lease = await eventually(async () => {
      const ls = (await admin('GET', `/v1/leases?run=${run.id}`)).json as { leases: Json[] };
      return ls.leases[0];
    }, "the run's lease");
    assert.equal(lease.engine, 'postgres');
    assert.equal(lease.agent, 'dbagent');
    const valid = (
      await dba.query<{ v: Date }>('SELECT rolvaliduntil AS v FROM pg_roles WHERE rolname = $1', [u.username])
    ).rows[0]!.v;
    assert.ok(
      Math.abs(valid.getTime() - Date.parse(lease.expires_at)) < 1000,
      `${valid.toISOString()} vs ${lease.expires_at}`,
    );
    // The runner renews it while the run lives (TTL 2 s): VALID UNTIL moves along.
    await eventually(
      async () => {
        const now = (
          await dba.query<{ v: Date }>('SELECT rolvaliduntil AS v FROM pg_roles WHERE rolname = $1', [
            u.username,
          ])
        ).rows[0]!.v;
        return now.getTime() > valid.getTime() + 500 ? true : undefined;
      },
      'a renewal',
      5000,
    );
    assert.equal(await connects(url), true);

    writeFileSync(join(run.workspace, 'go'), '');
    const end = await run.done;
    assert.equal(end.code, 0, end.stderr);
    await eventually(async () => ((await roles()).length === 0 ? true : undefined), 'the role dropped', 5000);
    await eventually(async () => (cut ? true : undefined), 'the session cut', 5000);
    assert.match(String(cut?.message), /terminat/);
    assert.notEqual(await connects(url), true, 'a revoked credential is refused');
    assert.equal(existsSync(`/dev/shm/rampart-${run.id}`), false, 'the files went with the run');
    const records = ((await admin('GET', '/v1/audit/records?limit=2000')).json as { records: Json[] })
      .records;
    const revoked = records.find(
      (r) => r.action === 'event.secrets.leases_revoked' && r.details.data.runs.includes(run.id),
    );
    assert.ok(revoked, 'the revocation is on record');
    assert.match(revoked.details.data.reason, /run ended/);
    assert.ok(!JSON.stringify(records).includes(u.password), 'no password on record');
  });

  it('refuses an expired credential, and lets nobody read a dynamic vault without the grant', async () => {
    const r = await admin('POST', '/v1/secrets/db/brief/read', { agent: 'dbagent' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const url = Buffer.from(r.json.value_base64, 'base64').toString();
    assert.equal(await connects(url), true);
    await eventually(
      async () => ((await connects(url)) === true ? undefined : true),
      'the credential to expire',
      5000,
    );
    await eventually(
      async () => ((await roles()).length === 0 ? true : undefined),
      'the expired role swept',
      5000,
    );
    const denied = await admin('POST', '/v1/secrets/db/reader/read', { agent: 'apiagent' });
    assert.equal(denied.status, 403);
    assert.equal((await roles()).length, 0, 'nothing is made for a denied agent');
    const noAgent = await admin('POST', '/v1/secrets/db/reader/read', {});
    assert.equal(noAgent.status, 400);
  });

  it('keeps a lease the database will not revoke "revoking", in health, and retries it', async () => {
    const r = await admin('POST', '/v1/secrets/db/reader/read', { agent: 'dbagent' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const id = r.json.lease.id as string;
    await dba.end();
    cluster.stop();
    try {
      const out = rampart(['lease', 'revoke', id, '--reason', 'drill'], { cwd: dir, timeoutMs: 20_000 });
      assert.equal(out.code, 1, out.stderr);
      assert.deepEqual(JSON.parse(out.stdout), { revoked: 0, failed: 1 });
      const ls = JSON.parse(rampart(['lease', 'ls', '--state', 'revoking'], { cwd: dir }).stdout);
      assert.equal(ls.leases[0].id, id);
      assert.ok(ls.leases[0].attempts >= 1);
      assert.match(ls.leases[0].last_error, /ECONNREFUSED|connect/);
      const health = (await admin('GET', '/v1/health')).json;
      assert.equal(health.components.secrets.status, 'degraded');
      assert.match(health.components.secrets.detail, /could not be revoked/);
    } finally {
      cluster.start();
    }
    dba = new pg.Client({ connectionString: cluster.adminUrl });
    await dba.connect();
    // Retried with backoff (1 s, then 2 s, ...) until the database takes it.
    await eventually(
      async () => ((await admin('GET', `/v1/leases/${id}`)).status === 404 ? true : undefined),
      'the retry',
      15_000,
    );
    assert.deepEqual(await roles(), []);
    // Health is ok again once the engine's periodic check has seen the database back too (it
    // may have been down for the check that ran while the cluster was stopped).
    await eventually(
      async () =>
        (await admin('GET', '/v1/health')).json.components.secrets.status === 'ok' ? true : undefined,
      'the secrets component healthy again',
      15_000,
    );
    const records = ((await admin('GET', '/v1/audit/records?limit=3000')).json as { records: Json[] })
      .records;
    assert.ok(
      records.some((x) => x.action === 'event.secrets.lease_revoke_failed' && x.details.data.lease === id),
    );
  });

  it("delivers a rotation into a running run, removes a revoked lease's file, and rolls back a failed rotator", async () => {
    const run = await startRun(
      [
        '--no-network',
        '--agent',
        'apiagent',
        '--secret',
        'API=vault:ci/api',
        '--secret',
        'PLAIN=vault:ci/plain',
        '--',
        'sh',
        '-c',
        // Waits for the rotated value, then for PLAIN's file to go.
        'while [ "$(cat /run/secrets/API)" = first-value ]; do sleep 0.05; done; cat /run/secrets/API; echo; ' +
          'while [ -e /run/secrets/PLAIN ]; do sleep 0.05; done; echo PLAIN-GONE',
      ],
      dir,
    );
    await eventually(
      async () => (existsSync(`/dev/shm/rampart-${run.id}/secrets/API`) ? true : undefined),
      'the run',
    );
    const rot = rampart(['secret', 'rotate', 'ci/api'], { cwd: dir });
    assert.equal(rot.code, 0, rot.stderr);
    assert.equal(JSON.parse(rot.stdout).version, 2);
    const upstream = readFileSync(rotated(), 'utf8');
    assert.match(upstream, /^[A-Za-z0-9]{32}$/);
    const plain = (
      (await admin('GET', `/v1/leases?run=${run.id}&vault=ci`)).json as { leases: Json[] }
    ).leases.find((l) => l.name === 'plain');
    // The rotated value is in the run before PLAIN is revoked: the run prints it first.
    await eventually(
      async () =>
        readFileSync(`/dev/shm/rampart-${run.id}/secrets/API`, 'utf8') === upstream ? true : undefined,
      'the new version in the run',
    );
    assert.equal(rampart(['lease', 'revoke', plain.id], { cwd: dir }).code, 0);
    const end = await run.done;
    assert.equal(end.code, 0, end.stderr);
    assert.equal(end.stdout, `${upstream}\nPLAIN-GONE\n`);
    assert.match(end.stderr, /secret PLAIN: its lease ended/);
    assert.ok(!end.stderr.includes(upstream));

    // A rotator that fails: the previous value is current again, and it says so.
    const broken = rampart(['secret', 'rotate', 'ci/broken'], { cwd: dir });
    assert.equal(broken.code, 1);
    assert.match(
      broken.stderr,
      /RAMPART_E_SECRETS_ENGINE: the rotator of ci\/broken failed .*upstream said no/,
    );
    assert.equal(rampart(['secret', 'get', 'ci/broken', '-o', 'broken.out'], { cwd: dir }).code, 0);
    assert.equal(readFileSync(join(dir, 'broken.out'), 'utf8'), 'first-value');

    // "A leak is suspected": every rotator, every dynamic lease, and what is left to do by hand.
    const live = await admin('POST', '/v1/secrets/db/reader/read', { agent: 'dbagent' });
    assert.equal(live.status, 200);
    const all = rampart(['secret', 'rotate', '--all'], { cwd: dir });
    assert.equal(all.code, 1, all.stderr);
    const report = JSON.parse(all.stdout);
    assert.deepEqual(
      report.rotated.map((r: Json) => `${r.vault}/${r.name}`),
      ['ci/api', 'ci/sched', 'ci/app'],
    );
    assert.equal(report.rotated[0].version, 3);
    assert.deepEqual(
      report.failed.map((f: Json) => f.secret),
      ['ci/broken'],
    );
    assert.deepEqual(report.revoked, { db: 1 });
    assert.deepEqual(report.manual, ['ci/plain']);
    assert.match(all.stderr, /ci\/plain has no rotator/);
    assert.deepEqual(await roles(), []);
  });

  it("rotates a PostgreSQL role's password: the new one logs in, the old one no longer does", async () => {
    const url = (password: string): string => {
      const u = new URL(cluster.adminUrl);
      u.username = 'app';
      u.password = password;
      return u.toString();
    };
    const current = (): string => {
      assert.equal(rampart(['secret', 'get', 'ci/app', '-o', 'app.out', '--force'], { cwd: dir }).code, 0);
      return readFileSync(join(dir, 'app.out'), 'utf8');
    };
    const old = current();
    assert.equal(await connects(url(old)), true);
    const r = rampart(['secret', 'rotate', 'ci/app'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const fresh = current();
    assert.match(fresh, /^[A-Za-z0-9]{32}$/);
    assert.equal(await connects(url(fresh)), true);
    assert.equal(await connects(url(old)), '28P01');
  });

  it('rotates a secret on its schedule', async () => {
    const scheduled = await eventually(
      async () =>
        ((await admin('GET', '/v1/audit/records?limit=3000')).json as { records: Json[] }).records.find(
          (r) =>
            r.action === 'event.secrets.rotated' &&
            r.details.data.name === 'sched' &&
            r.details.data.why === 'scheduled',
        ),
      'a scheduled rotation',
      8000,
    );
    assert.equal(scheduled.details.data.by, 'rampart');
  });

  it("revokes an agent's leases with its tokens, and refuses a malformed template at load with its position", async () => {
    const r = await admin('POST', '/v1/secrets/ci/plain/read', { agent: 'apiagent' });
    assert.equal(r.status, 200);
    const id = r.json.lease.id as string;
    assert.equal(
      (await admin('POST', '/v1/tokens/revocations', { kind: 'agent', value: 'apiagent', reason: 'blocked' }))
        .status,
      200,
    );
    await eventually(
      async () => ((await admin('GET', `/v1/leases/${id}`)).status === 404 ? true : undefined),
      "the agent's leases revoked",
    );

    const bad = await rampartAsync(['up', '--listen', '127.0.0.1:0', '--config', 'bad.yaml'], {
      cwd: (() => {
        writeFileSync(
          join(dir, 'bad.yaml'),
          [
            'secrets:',
            '  postgres:',
            '    - vault: db',
            '      connection_file: pg-admin.url',
            '      roles:',
            '        - name: x',
            '          creation: |',
            '            CREATE ROLE "{{name}}" PASSWORD \'{{password}}\';',
            '            ALTER ROLE "{{name}}" VALID UNTIL \'{{expires}}\';',
            '',
          ].join('\n'),
        );
        return dir;
      })(),
      timeoutMs: 20_000,
    });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /bad\.yaml:\d+:\d+.*creation:2:\d+: unknown placeholder "\{\{expires\}\}"/);
    assert.ok(!bad.stderr.includes('    at '), 'no stack trace');
  });
});

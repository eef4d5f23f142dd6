// The control plane as a user runs it: `rampart up` in a child process, real HTTP requests.

import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rampart, startServer, type Server } from '../support/cli.js';
import { selfSignedCert } from '../support/tls.js';
import { tempDir } from '../support/tmp.js';

async function get(
  url: string,
  token?: string,
): Promise<{ status: number; body: string; json: () => unknown }> {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const body = await res.text();
  return { status: res.status, body, json: () => JSON.parse(body) as unknown };
}

describe('rampart up', () => {
  const t = tempDir();
  let server: Server;
  let token: string;
  const clientToken = 'metrics-reader-token-0123456789abcdef0123456789';

  before(async () => {
    writeFileSync(join(t.dir, 'metrics.token'), clientToken + '\n', { mode: 0o600 });
    writeFileSync(
      join(t.dir, 'rampart.yaml'),
      'auth:\n  clients:\n    - name: prom\n      token_file: metrics.token\n      scopes: [metrics:read]\n',
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: t.dir });
    token = readFileSync(join(t.dir, '.rampart', 'admin.token'), 'utf8').trim();
  });
  after(async () => {
    if (server.child.exitCode === null) await server.stop('SIGKILL');
    t.cleanup();
  });

  it('creates the admin token 0600 and prints its path, never the token', () => {
    const st = statSync(join(t.dir, '.rampart', 'admin.token'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.match(token, /^rampart_admin_[A-Za-z0-9_-]{43}$/);
    assert.ok(server.stderr().includes('admin token in .rampart/admin.token'));
    assert.ok(!server.stderr().includes(token));
    for (const f of ['rampart.db', 'keys/audit-ed25519.key', 'keys/audit-hmac.key']) {
      assert.equal(
        statSync(join(t.dir, '.rampart', f)).mode & 0o077,
        0,
        `${f} must not be group/other accessible`,
      );
    }
  });

  it('serves liveness without credentials and component health only with them', async () => {
    assert.deepEqual((await get(`${server.url}/healthz`)).json(), { status: 'ok' });
    const anon = await get(`${server.url}/v1/health`);
    assert.equal(anon.status, 401);
    assert.equal((anon.json() as { error: { code: string } }).error.code, 'RAMPART_E_UNAUTHENTICATED');
    const h = (await get(`${server.url}/v1/health`, token)).json() as {
      status: string;
      components: Record<string, { status: string }>;
    };
    assert.equal(h.status, 'ok');
    assert.equal(h.components['store']?.status, 'ok');
    assert.equal(h.components['audit']?.status, 'ok');
  });

  it('serves Prometheus metrics to a credential with metrics:read', async () => {
    assert.equal((await get(`${server.url}/metrics`)).status, 401);
    const m = await get(`${server.url}/metrics`, clientToken);
    assert.equal(m.status, 200);
    assert.match(m.body, /^rampart_audit_records_total \d+$/m);
    assert.match(m.body, /rampart_http_request_duration_seconds_bucket/);
    assert.match(m.body, /rampart_process_resident_memory_bytes/);
  });

  it('refuses a credential without the scope (403) and audits both 401 and 403', async () => {
    const denied = await get(`${server.url}/v1/audit/records`, clientToken);
    assert.equal(denied.status, 403);
    assert.equal((denied.json() as { error: { code: string } }).error.code, 'RAMPART_E_FORBIDDEN');
    assert.equal((await get(`${server.url}/v1/audit/records`, 'wrong-token')).status, 401);
    const { records } = (await get(`${server.url}/v1/audit/records?limit=100`, token)).json() as {
      records: { action: string; outcome: string; details: { data: { reason: string; actor?: string } } }[];
    };
    const rejections = records.filter((r) => r.action === 'event.auth.rejected');
    assert.ok(rejections.every((r) => r.outcome === 'denied'));
    assert.ok(rejections.some((r) => r.details.data.reason === 'unknown token'));
    assert.ok(rejections.some((r) => r.details.data.reason === 'no credentials'));
    assert.ok(
      rejections.some(
        (r) =>
          r.details.data.actor === 'client:prom' && /missing scope audit:read/.test(r.details.data.reason),
      ),
    );
    // The wrong token itself is never written anywhere.
    assert.ok(!JSON.stringify(records).includes('wrong-token'));
  });

  it('answers unknown routes and bad queries with coded errors', async () => {
    const nf = await get(`${server.url}/v1/nope`, token);
    assert.equal(nf.status, 404);
    assert.equal((nf.json() as { error: { code: string } }).error.code, 'RAMPART_E_NOT_FOUND');
    const bad = await get(`${server.url}/v1/audit/proofs/inclusion?seq=abc`, token);
    assert.equal(bad.status, 400);
    assert.equal((bad.json() as { error: { code: string } }).error.code, 'RAMPART_E_BAD_REQUEST');
  });

  it('refuses a second control plane on the same address with a one-line error', () => {
    const port = new URL(server.url).port;
    const r = rampart(['up', '--listen', `127.0.0.1:${port}`, '--data', 'other'], { cwd: t.dir });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /RAMPART_E_LISTEN: server\.listen: 127\.0\.0\.1:\d+ is already in use/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  });

  it('names egress.listen when the egress port is taken', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    try {
      const port = (busy.address() as AddressInfo).port;
      const r = rampart(
        ['up', '--listen', '127.0.0.1:0', '--egress-listen', `127.0.0.1:${port}`, '--data', 'third'],
        {
          cwd: t.dir,
        },
      );
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        new RegExp(`RAMPART_E_LISTEN: egress\\.listen: 127\\.0\\.0\\.1:${port} is already in use`),
      );
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    } finally {
      busy.close();
    }
  });

  it('on SIGTERM flushes the audit log, signs a final checkpoint and exits 0', async () => {
    const { code, stderr } = await server.stop('SIGTERM');
    assert.equal(code, 0, stderr);
    assert.match(stderr, /stopped cleanly/);
    const v = rampart(['audit', 'verify', '--json'], { cwd: t.dir });
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const report = JSON.parse(v.stdout) as { ok: boolean; records: number; unsignedTail: number };
    assert.equal(report.ok, true);
    assert.equal(report.unsignedTail, 0, 'the shutdown checkpoint covers every record');
    const tail = rampart(['audit', 'tail', '-n', '1'], { cwd: t.dir });
    assert.match(tail.stdout, /"action":"event.controlplane.lifecycle".*"phase":"stop"/);
  });
});

describe('rampart up: start-up problems are one line and a non-zero exit', () => {
  it('bad config: exit 2 with file:line:col of every problem', () => {
    const t = tempDir();
    writeFileSync(
      join(t.dir, 'rampart.yaml'),
      'server:\n  listen: 127.0.0.1:7070\n  tls_cert: x\nlogging:\n  level: loud\n',
    );
    const r = rampart(['up'], { cwd: t.dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /rampart\.yaml:3:3: RAMPART_E_CONFIG_UNKNOWN_KEY: unknown key "server\.tls_cert"/);
    assert.match(r.stderr, /rampart\.yaml:5:10: RAMPART_E_CONFIG_INVALID: logging\.level: must be one of/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    t.cleanup();
  });

  it('data directory not writable: exit 1, RAMPART_E_DATA_DIR', () => {
    const t = tempDir();
    writeFileSync(join(t.dir, 'blocker'), '');
    const r = rampart(['up', '--data', 'blocker/data', '--listen', '127.0.0.1:0'], { cwd: t.dir });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^rampart: RAMPART_E_DATA_DIR: data directory .*blocker\/data is not usable: a file is in the way\n$/,
    );
    t.cleanup();
  });

  it('an admin token readable by others stops start-up with the fix', () => {
    const t = tempDir();
    const r1 = rampart(['up', '--listen', '127.0.0.1:99999'], { cwd: t.dir });
    assert.equal(r1.code, 2); // port out of range: usage error, before anything is created
    writeFileSync(join(t.dir, 'tok'), 'x');
    const data = join(t.dir, '.rampart');
    execFileSync('mkdir', ['-p', data]);
    writeFileSync(join(data, 'admin.token'), 'rampart_admin_abc\n');
    chmodSync(join(data, 'admin.token'), 0o644);
    const r = rampart(['up', '--listen', '127.0.0.1:0'], { cwd: t.dir });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /RAMPART_E_SECRET_FILE_PERMISSIONS: secret file .*admin\.token \(admin token\) has mode 0644/,
    );
    assert.match(r.stderr, /chmod 600 /);
    assert.ok(!r.stderr.includes('rampart_admin_abc'));
    t.cleanup();
  });

  it('an unknown command or option: exit 2 with usage', () => {
    const t = tempDir();
    const r = rampart(['frobnicate'], { cwd: t.dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /RAMPART_E_USAGE: unknown command "frobnicate"/);
    const o = rampart(['up', '--bogus'], { cwd: t.dir });
    assert.equal(o.code, 2);
    assert.match(o.stderr, /RAMPART_E_USAGE: Unknown option '--bogus'/);
    t.cleanup();
  });
});

describe('rampart up with TLS', () => {
  it('serves HTTPS from key and certificate files', async (ctx) => {
    const t = tempDir();
    try {
      selfSignedCert(t.dir, 'localhost');
    } catch {
      ctx.skip('openssl is not installed');
      t.cleanup();
      return;
    }
    writeFileSync(
      join(t.dir, 'rampart.yaml'),
      'server:\n  tls:\n    cert_file: tls.crt\n    key_file: tls.key\n',
    );
    const s = await startServer(['--listen', '127.0.0.1:0'], { cwd: t.dir });
    try {
      assert.match(s.url, /^https:/);
      const out = execFileSync('curl', ['-sk', `${s.url}/healthz`], { encoding: 'utf8' });
      assert.equal(out, '{"status":"ok"}');
    } finally {
      await s.stop();
      t.cleanup();
    }
  });
});

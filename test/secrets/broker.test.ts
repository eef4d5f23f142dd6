// Secrets through a real control plane: `rampart secret` puts, lists and gets sealed versions
// (values from files, to 0600 files, never argv or stdout); nothing of a value reaches the audit
// log or the database file; policy decides every read for an agent, in the API and in
// `rampart run --secret NAME=vault:VAULT/SECRET`; and a control plane whose KEK is gone refuses to
// start rather than serve secrets it cannot open.

import assert from 'node:assert/strict';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rampart, rampartAsync, startServer, type Server } from '../support/cli.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import { eventually } from '../support/wait.js';

const VALUE = 'ghp_' + 'S3cr3tV4lu3'.repeat(3);

describe('the secrets broker', { skip: sandboxSkip() }, () => {
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let dir: string;
  let server: Server;
  let admin: Api;

  before(async () => {
    cp = sandboxControlPlaneDir();
    dir = cp.dir.dir;
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir });
    admin = api(server.url, adminToken(dir));
    writeFileSync(join(dir, 'gh.value'), VALUE, { mode: 0o600 });
  });
  after(async () => {
    await server?.stop();
    cp?.cleanup();
  });

  it('puts sealed versions from a file or stdin, lists them without values, gets one to a 0600 file', async () => {
    const first = rampart(['secret', 'put', 'ci/gh', 'gh.value'], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const v1 = JSON.parse(first.stdout) as { version: number; fingerprint: string };
    assert.equal(v1.version, 1);
    assert.match(v1.fingerprint, /^[0-9a-f]{16,}$|^hmac/);
    const second = rampart(['secret', 'put', 'ci/gh'], { cwd: dir, input: 'second-value' });
    assert.equal(second.code, 0, second.stderr);
    assert.equal((JSON.parse(second.stdout) as { version: number }).version, 2);
    const ls = rampart(['secret', 'ls'], { cwd: dir });
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(
      (JSON.parse(ls.stdout) as Json[]).map((s) => `${s.vault}/${s.name}@${s.version}`),
      ['ci/gh@2'],
    );
    assert.ok(!ls.stdout.includes(VALUE) && !ls.stdout.includes('second-value'));
    const got = rampart(['secret', 'get', 'ci/gh', '--version', '1', '-o', 'out.value'], { cwd: dir });
    assert.equal(got.code, 0, got.stderr);
    assert.equal(readFileSync(join(dir, 'out.value'), 'utf8'), VALUE);
    assert.equal(statSync(join(dir, 'out.value')).mode & 0o777, 0o600);
    assert.ok(!got.stdout.includes(VALUE) && !got.stderr.includes(VALUE));
    // Never to stdout; never a value on the command line.
    const toStdout = rampart(['secret', 'get', 'ci/gh', '-o', '-'], { cwd: dir });
    assert.equal(toStdout.code, 2);
    assert.match(toStdout.stderr, /never stdout/);
    const versions = rampart(['secret', 'versions', 'ci/gh'], { cwd: dir });
    assert.deepEqual(
      (JSON.parse(versions.stdout) as Json[]).map((v) => v.version),
      [2, 1],
    );
  });

  it('keeps values out of the audit log and the database file', async () => {
    const records = ((await admin('GET', '/v1/audit/records?limit=1000')).json as { records: Json[] })
      .records;
    const text = JSON.stringify(records);
    assert.ok(
      records.some((r) => r.action === 'secret.put'),
      'puts are on record',
    );
    assert.ok(
      records.some((r) => r.action === 'secret.read'),
      'reads are on record',
    );
    assert.ok(!text.includes(VALUE) && !text.includes(Buffer.from(VALUE).toString('base64')));
    const db = readFileSync(join(dir, '.rampart', 'rampart.db'));
    assert.equal(db.indexOf(VALUE), -1, 'the value is in the database file');
    assert.equal(db.indexOf('second-value'), -1);
  });

  it('reads for an agent only when policy says so, with its reason', async () => {
    const denied = rampart(['secret', 'get', 'ci/gh', '--for', 'builder', '-o', 'denied.value'], {
      cwd: dir,
    });
    assert.equal(denied.code, 1, denied.stderr);
    assert.match(denied.stderr, /RAMPART_E_FORBIDDEN: agent builder may not read secret ci\/gh/);
    await admin('PUT', '/v1/entities/agent/builder', {
      attributes: { capabilities: ['vault:ci:read'] },
      parents: [],
    });
    await eventually(async () => {
      const r = rampart(['secret', 'get', 'ci/gh', '--for', 'builder', '-o', 'granted.value', '--force'], {
        cwd: dir,
      });
      return r.code === 0 ? true : undefined;
    }, 'the grant to take effect');
    assert.equal(readFileSync(join(dir, 'granted.value'), 'utf8'), 'second-value');
    const records = ((await admin('GET', '/v1/audit/records?limit=1000')).json as { records: Json[] })
      .records;
    assert.ok(
      records.some(
        (r) => r.action === 'secret.read' && r.outcome === 'denied' && r.details.agent === 'builder',
      ),
    );
  });

  it('lets an agent read with its own workload token, for itself only, as policy decides', async () => {
    const issue = async (agent: string): Promise<Api> => {
      const r = await admin('POST', '/v1/tokens', { agent, namespace: 'ci', capabilities: [] });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return api(server.url, (r.json as { token: string }).token);
    };
    const builder = await issue('builder');
    const mine = await builder('POST', '/v1/agent/secrets/ci/gh', {});
    assert.equal(mine.status, 200, JSON.stringify(mine.json));
    assert.equal(
      Buffer.from((mine.json as { value_base64: string }).value_base64, 'base64').toString(),
      'second-value',
    );
    // For itself only: another agent named in the body is not who it reads for.
    await builder('POST', '/v1/agent/secrets/ci/gh', { agent: 'other' });
    const recs = ((await admin('GET', '/v1/audit/records?limit=1000')).json as { records: Json[] }).records;
    const reads = recs.filter((r) => r.action === 'secret.read' && r.actor === 'agent:builder');
    assert.ok(reads.length >= 2 && reads.every((r) => r.details.agent === 'builder'), JSON.stringify(reads));
    // And not through the operators' route.
    assert.equal((await builder('POST', '/v1/secrets/ci/gh/read', {})).status, 403);
    const stranger = await issue('stranger');
    const refused = await stranger('POST', '/v1/agent/secrets/ci/gh', {});
    assert.equal(refused.status, 403);
    assert.match(JSON.stringify(refused.json), /agent stranger may not read secret ci\/gh/);
  });

  it('delivers a secret by reference into a run, as its agent may, and refuses an agent that may not', async () => {
    const ok = await rampartAsync(
      [
        'run',
        '--no-network',
        '--agent',
        'builder',
        '--secret',
        'gh=vault:ci/gh',
        '--',
        'sh',
        '-c',
        'cat /run/secrets/gh',
      ],
      { cwd: dir },
    );
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'second-value');
    const started = await eventually(async () => {
      const recs = ((await admin('GET', '/v1/audit/records?limit=1000')).json as { records: Json[] }).records;
      return recs.find((x) => x.action === 'event.sandbox.run_started' && x.details.data.agent === 'builder');
    }, 'the run_started record');
    assert.equal(started.details.data.secrets[0].source, 'vault:ci/gh@2');
    assert.match(started.details.data.secrets[0].fingerprint, /./);
    const no = await rampartAsync(
      [
        'run',
        '--no-network',
        '--agent',
        'stranger',
        '--secret',
        'gh=vault:ci/gh',
        '--',
        'sh',
        '-c',
        'echo RAN',
      ],
      { cwd: dir },
    );
    assert.equal(no.code, 1, no.stderr);
    assert.match(no.stderr, /RAMPART_E_FORBIDDEN: agent stranger may not read secret ci\/gh/);
    assert.ok(!no.stdout.includes('RAN'));
  });

  it('moves every version onto a new key-encryption key while serving, and then needs only it', async () => {
    const kek = join(dir, '.rampart', 'keys', 'secrets.kek');
    const r = rampart(['secret', 'rewrap', '--new-kek'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { kek: string; rewrapped: number; current: number };
    assert.equal(out.kek, 'k2');
    assert.ok(out.rewrapped >= 2, r.stdout);
    assert.equal(out.current, 0);
    const lines = readFileSync(kek, 'utf8').trim().split('\n');
    assert.deepEqual(
      lines.map((l) => l.split(' ')[0]),
      ['k2', 'k1'],
    );
    assert.equal(statSync(kek).mode & 0o777, 0o600);
    // A second run has nothing left to move.
    const again = JSON.parse(rampart(['secret', 'rewrap'], { cwd: dir }).stdout) as { rewrapped: number };
    assert.equal(again.rewrapped, 0);
    // The old key removed, a restart opens everything with the new one alone.
    writeFileSync(kek, lines[0] + '\n', { mode: 0o600 });
    await server.stop();
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir });
    admin = api(server.url, adminToken(dir));
    const got = rampart(['secret', 'get', 'ci/gh', '--version', '1', '-o', 'after-rewrap.value'], {
      cwd: dir,
    });
    assert.equal(got.code, 0, got.stderr);
    assert.equal(readFileSync(join(dir, 'after-rewrap.value'), 'utf8'), VALUE);
    const recs = ((await admin('GET', '/v1/audit/records?limit=1000')).json as { records: Json[] }).records;
    assert.ok(recs.some((x) => x.action === 'secret.rewrap' && x.details.kek === 'k2'));
    assert.ok(!JSON.stringify(recs).includes(lines[0]!.split(' ')[1]!), 'no key on record');
  });

  it('refuses to start without the KEK that sealed what the store holds', async () => {
    await server.stop();
    const kek = join(dir, '.rampart', 'keys', 'secrets.kek');
    renameSync(kek, `${kek}.away`);
    try {
      const r = rampart(['up', '--listen', '127.0.0.1:0', '--egress-listen', '127.0.0.1:0'], {
        cwd: dir,
        timeoutMs: 30_000,
      });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /RAMPART_E_SECRETS_KEK: .*secrets\.kek is missing/);
    } finally {
      renameSync(`${kek}.away`, kek);
    }
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir });
  });
});

// Every action from the CLI, against a real `rampart up`: entities, the egress controls, policy
// reload with every problem named, and token requests that report every problem at once.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rampart, startServer, type Server } from '../support/cli.js';
import { adminToken, api } from '../support/http.js';
import { tempDir, type TempDir } from '../support/tmp.js';

describe('the operator CLI', () => {
  let dir: TempDir;
  let server: Server;
  const cli = (...args: string[]) => rampart(args, { cwd: dir.dir });
  before(async () => {
    dir = tempDir();
    // A policy directory of its own, so the test can break it.
    mkdirSync(join(dir.dir, 'policies'));
    writeFileSync(
      join(dir.dir, 'policies', 'base.yaml'),
      'apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: base\nrules:\n  - name: tasks\n    effect: allow\n    actions: [task.run]\n    when: principal.namespace == resource.namespace\n    reason: same namespace\n',
    );
    writeFileSync(join(dir.dir, 'rampart.yaml'), 'policy:\n  dir: policies\n  watch: false\n');
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
  });
  after(async () => {
    await server?.stop();
    dir?.cleanup();
  });

  it('entity put, get, ls and rm: an agent registered from the CLI gets tokens', () => {
    const put = cli(
      'entity',
      'put',
      'agent',
      'a1',
      '--attr',
      'namespace=ci',
      '--attr',
      'tier=2',
      '--parent',
      'team:core',
    );
    assert.equal(put.code, 0, put.stderr);
    assert.deepEqual(JSON.parse(put.stdout).attributes, { namespace: 'ci', tier: 2 });
    const got = JSON.parse(cli('entity', 'get', 'agent', 'a1').stdout) as { parents: string[] };
    assert.deepEqual(got.parents, ['team:core']);
    assert.match(
      cli('entity', 'ls', 'agent').stdout,
      /^agent:a1\tteam:core\t\{"namespace":"ci","tier":2\}$/m,
    );
    // The documented token issue now works for the registered agent (its namespace comes from it).
    const issued = cli('token', 'issue', '--agent', 'a1', '-o', 'a1.token');
    assert.equal(issued.code, 0, issued.stderr);
    assert.equal(cli('entity', 'rm', 'agent', 'a1').code, 0);
    const gone = cli('entity', 'get', 'agent', 'a1');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /RAMPART_E_NOT_FOUND: no entity agent:a1/);
    const bad = cli('entity', 'put', 'agent', 'a2', '--attr', 'novalue');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--attr "novalue" is not KEY=VALUE/);
  });

  it('token issue reports every problem of a request at once, and never overwrites a file unasked', () => {
    const r = cli('token', 'issue', '--agent', 'stranger', '--ttl', '30m', '--stdout');
    assert.equal(r.code, 2, 'a bad request (RAMPART_E_TOKEN_REQUEST_INVALID)');
    assert.match(r.stderr, /agent stranger is not a registered entity with a namespace/);
    assert.match(r.stderr, /the lifetime 1800s is not between 1s and identity\.token_ttl \(600s\)/);
    writeFileSync(join(dir.dir, 'kept.token'), 'precious\n', { mode: 0o600 });
    const again = cli('token', 'issue', '--agent', 'x', '--namespace', 'ci', '-o', 'kept.token');
    assert.equal(again.code, 2);
    assert.match(again.stderr, /kept\.token exists already; give --force to replace it/);
    assert.equal(readFileSync(join(dir.dir, 'kept.token'), 'utf8'), 'precious\n');
    const forced = cli('token', 'issue', '--agent', 'x', '--namespace', 'ci', '-o', 'kept.token', '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(readFileSync(join(dir.dir, 'kept.token'), 'utf8'), 'precious\n');
  });

  it('egress status, ban, unban and kill-switch', () => {
    assert.match(cli('egress', 'status').stdout, /^kill switch {2}off$/m);
    assert.match(
      cli('egress', 'ban', '10.8.0.0/16').stdout,
      /^banned 10\.8\.0\.0\/16; 0 open connection\(s\) cut$/m,
    );
    assert.match(cli('egress', 'status').stdout, /^bans {9}10\.8\.0\.0\/16$/m);
    assert.equal(cli('egress', 'unban', '10.8.0.0/16').code, 0);
    assert.match(cli('egress', 'kill-switch', 'on').stdout, /^kill switch ON/m);
    assert.equal(JSON.parse(cli('egress', 'status', '--json').stdout).kill_switch, true);
    assert.equal(cli('egress', 'kill-switch', 'off').code, 0);
    const bad = cli('egress', 'kill-switch', 'maybe');
    assert.equal(bad.code, 2);
  });

  it('policy reload activates a changed set, and names every problem of a broken one', async () => {
    writeFileSync(
      join(dir.dir, 'policies', 'extra.yaml'),
      'apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: extra\nrules:\n  - name: all\n    effect: allow\n    actions: [task.read]\n    when: "true"\n    reason: reads\n',
    );
    assert.match(cli('policy', 'reload').stdout, /^activated: policy version \S+$/m);
    assert.match(cli('policy', 'reload').stdout, /^unchanged: /);
    writeFileSync(
      join(dir.dir, 'policies', 'broken.yaml'),
      'apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: broken\nrules:\n  - name: one\n    effect: allow\n    actions: [task.run]\n    when: principal.nope\n    reason: x\n  - name: two\n    effect: permit\n    actions: [task.run]\n    when: "true"\n    reason: y\n',
    );
    const r = cli('policy', 'reload');
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.ok(lines.length >= 2, r.stderr);
    for (const l of lines) assert.match(l, /^rampart: \S*broken\.yaml:\d+:\d+: RAMPART_E_POLICY_\w+: /);
    // The API says the same: every problem with its position, not "2 problems found".
    const res = await api(server.url, adminToken(dir.dir))('POST', '/v1/policies/reload');
    assert.equal(res.status >= 400, true);
    const problems = res.json.error.problems as { location: string; message: string }[];
    assert.equal(problems.length, lines.length);
    assert.ok(problems.every((p) => /broken\.yaml:\d+:\d+$/.test(p.location)));
  });
});

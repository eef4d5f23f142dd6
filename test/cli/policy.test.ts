// rampart policy check | test | eval | diff, as a pull-request check would run them.

import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, rampart } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

describe('rampart policy', () => {
  const t = tempDir();
  const dir = join(t.dir, 'policies');
  before(() => cpSync(join(ROOT, 'policies', 'default'), dir, { recursive: true }));
  after(() => t.cleanup());

  it('check: exit 0 on the shipped set', () => {
    const r = rampart(['policy', 'check'], { cwd: t.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^ok: \d+ rules in \d+ files, version p-[0-9a-f]{16} \(\d+ compiled to closures, \d+ interpreted\)$/m,
    );
  });

  it('test: every shipped test passes (the default set is least-privilege as documented)', () => {
    const r = rampart(['policy', 'test', 'policies'], { cwd: t.dir });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^PASS: (\d+)\/\1 \(policy version/m);
  });

  it('test: exit 1 naming the failing test, its file and line, and what differed', () => {
    writeFileSync(
      join(dir, 'tests', 'wrong.test.yaml'),
      'apiVersion: rampart.dev/v1\nkind: PolicyTest\nmetadata:\n  name: wrong\ninclude: [entities.yaml]\ntests:\n  - name: expects too much\n    input: { principal: { type: agent, id: analyst }, action: task.run, resource: { type: task, id: t, namespace: ci }, context: {} }\n    expect: allow\n',
    );
    const r = rampart(['policy', 'test', 'policies'], { cwd: t.dir });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAIL: tests\/wrong\.test\.yaml: expects too much$/m);
    assert.match(r.stdout, /tests\/wrong\.test\.yaml:7:5: expected allow, got deny \(no rule allows\)/);
    assert.match(r.stderr, /RAMPART_E_POLICY_TEST_FAILED: 1 of \d+ policy test\(s\) failed/);
    const json = JSON.parse(
      rampart(['policy', 'test', 'policies', '--format', 'json'], { cwd: t.dir }).stdout,
    ) as { failed: number };
    assert.equal(json.failed, 1);
  });

  it('check: exit 1 listing every problem compiler-style', () => {
    const bad = join(t.dir, 'bad');
    cpSync(dir, bad, { recursive: true });
    writeFileSync(
      join(bad, 'tasks.yaml'),
      'apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: t\nrules:\n  - name: r\n    effect: allow\n    when: resource.nope\n    reason: r\n',
    );
    const r = rampart(['policy', 'check', 'bad'], { cwd: t.dir });
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /^tasks\.yaml:8:\d+: error RAMPART_E_POLICY_INVALID: rules\[0\]\.when: No such key: nope$/m,
    );
    assert.equal(rampart(['policy', 'check', 'a', 'b'], { cwd: t.dir }).code, 2);
  });

  it('eval: one decision as JSON, with entity fixtures', () => {
    writeFileSync(
      join(t.dir, 'input.yaml'),
      'principal: {type: agent, id: ci-bot}\naction: secret.read\nresource: {type: secret, id: npm-token}\n',
    );
    const r = rampart(
      [
        'policy',
        'eval',
        '--input',
        'input.yaml',
        '--dir',
        'policies',
        '--entities',
        'policies/tests/entities.yaml',
      ],
      { cwd: t.dir },
    );
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout) as { allow: boolean; rule: string };
    assert.equal(d.allow, true);
    assert.equal(d.rule, 'secret-vault-granted');
    const bad = rampart(['policy', 'eval', '--input', 'rampart.yaml'], { cwd: ROOT });
    assert.equal(bad.code, 2);
    // A deny is not an error (exit 0) unless --fail-on-deny says so (exit 1).
    writeFileSync(
      join(t.dir, 'denied.yaml'),
      'principal: {type: agent, id: nobody}\naction: secret.read\nresource: {type: secret, id: npm-token}\n',
    );
    const eval2 = (...more: string[]) =>
      rampart(['policy', 'eval', '--input', 'denied.yaml', '--dir', 'policies', ...more], { cwd: t.dir });
    assert.equal(eval2().code, 0);
    assert.equal(JSON.parse(eval2().stdout).allow, false);
    assert.equal(eval2('--fail-on-deny').code, 1);
    assert.equal(
      rampart(
        [
          'policy',
          'eval',
          '--input',
          'input.yaml',
          '--dir',
          'policies',
          '--entities',
          'policies/tests/entities.yaml',
          '--fail-on-deny',
        ],
        { cwd: t.dir },
      ).code,
      0,
    );
  });

  it('diff: the decisions a change would flip', () => {
    const next = join(t.dir, 'next');
    cpSync(dir, next, { recursive: true });
    writeFileSync(
      join(next, 'open.yaml'),
      'apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: open\nrules:\n  - name: open-tasks\n    effect: allow\n    actions: [task.run]\n    when: "true"\n    reason: open\n',
    );
    const inputs = [
      {
        principal: { type: 'agent', id: 'analyst' },
        action: 'task.run',
        resource: { type: 'task', id: 't', namespace: 'ci' },
        context: {},
      },
      {
        principal: { type: 'agent', id: 'ci-bot' },
        action: 'secret.read',
        resource: { type: 'secret', id: 'npm-token' },
        context: {},
      },
    ];
    writeFileSync(join(t.dir, 'inputs.jsonl'), inputs.map((i) => JSON.stringify(i)).join('\n') + '\n');
    const r = rampart(
      [
        'policy',
        'diff',
        'policies',
        'next',
        '--inputs',
        'inputs.jsonl',
        '--entities',
        'policies/tests/entities.yaml',
        '--fail-on-change',
      ],
      { cwd: t.dir },
    );
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /input 1: agent:analyst task\.run task:t\n {2}old p-[0-9a-f]+: deny: no rule allows\n {2}new p-[0-9a-f]+: allow \(open-tasks\): open/,
    );
    assert.match(r.stdout, /^1 of 2 decisions change/m);
  });
});

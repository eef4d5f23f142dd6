import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RampartError, RampartErrorList } from '../../src/core/errors.js';
import { nestedQuantifier } from '../../src/cel/analyze.js';
import { cidrContains, glob, hostMatches } from '../../src/cel/functions.js';
import { loadPolicySet, policySetVersion } from '../../src/policy/load.js';
import { tempDir } from '../support/tmp.js';

function dirWith(files: Record<string, string>): { dir: string; cleanup: () => void } {
  const t = tempDir();
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(t.dir, name, '..'), { recursive: true });
    writeFileSync(join(t.dir, name), text);
  }
  return t;
}

const header = 'apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: t\nrules:\n';

function problems(files: Record<string, string>): RampartError[] {
  const t = dirWith(files);
  try {
    loadPolicySet(t.dir);
  } catch (e) {
    if (e instanceof RampartErrorList) return [...e.errors];
    if (e instanceof RampartError) return [e];
    throw e;
  } finally {
    t.cleanup();
  }
  assert.fail('expected the policy set to be rejected');
}

describe('policy loading', () => {
  it('loads a valid set, versioned by a hash of its content', () => {
    const t = dirWith({
      'a.yaml': header + '  - name: r1\n    effect: allow\n    when: action == "x.y"\n    reason: ok\n',
    });
    const set = loadPolicySet(t.dir);
    assert.equal(set.rules.length, 1);
    assert.match(set.version, /^p-[0-9a-f]{16}$/);
    assert.equal(policySetVersion(t.dir), set.version);
    writeFileSync(
      join(t.dir, 'a.yaml'),
      header + '  - name: r1\n    effect: deny\n    when: action == "x.y"\n    reason: ok\n',
    );
    assert.notEqual(loadPolicySet(t.dir).version, set.version);
    t.cleanup();
  });

  it('points at the token of a type error inside a block scalar', () => {
    const [e] = problems({
      'p.yaml':
        header +
        '  - name: r1\n    effect: allow\n    when: >-\n      principal.namespace == "ci" &&\n      principal.nmspace == "x"\n    reason: r\n',
    });
    assert.equal(e!.code, 'RAMPART_E_POLICY_INVALID');
    assert.match(e!.message, /No such key: nmspace/);
    assert.deepEqual(e!.location, { file: 'p.yaml', line: 10, column: 17 });
  });

  it('points at a syntax error inside a quoted expression', () => {
    const [e] = problems({
      'p.yaml':
        header + '  - name: r1\n    effect: allow\n    when: \'action == "x" &&& true\'\n    reason: r\n',
    });
    assert.equal(e!.location?.line, 8);
    assert.ok((e!.location?.column ?? 0) > 11, JSON.stringify(e!.location));
  });

  it('reports every problem in the set at once, each located', () => {
    const errs = problems({
      'a.yaml':
        header +
        '  - name: dup\n    effect: allow\n    when: "true"\n    reason: r\n  - name: Bad Name\n    effect: maybe\n    when: "1 + 1"\n    reason: ""\n    extra: 1\n',
      'b.yaml': header + '  - name: dup\n    effect: deny\n    when: "true"\n    reason: r\n',
      'c.yaml': 'kind: Nope\n',
    });
    const text = errs.map((e) => e.describe()).join('\n');
    assert.match(text, /a\.yaml:10:\d+: RAMPART_E_POLICY_INVALID: rules\[1\]\.name must be lower-case/);
    assert.match(text, /a\.yaml:11:\d+: .*effect must be "allow" or "deny"/);
    assert.match(text, /rules\[1\]: unknown key "extra"/);
    assert.match(text, /reason is required/);
    assert.match(text, /b\.yaml:6:\d+: .*rule name "dup" is already used at a\.yaml:6/);
    assert.match(text, /c\.yaml:1:1: .*apiVersion must be/);
    assert.match(text, /c\.yaml:\d+:\d+: .*kind must be "Policy"/);
  });

  it('rejects non-boolean expressions, runaway costs and unsafe regexes', () => {
    const text = problems({
      'a.yaml':
        header +
        '  - name: n\n    effect: allow\n    when: principal.id\n    reason: r\n' +
        '  - name: c\n    effect: allow\n    when: principal.teams.all(a, principal.teams.all(b, principal.capabilities.all(c, a + b == c)))\n    reason: r\n' +
        '  - name: m\n    effect: allow\n    when: resource.id.matches("(a+)+b")\n    reason: r\n' +
        '  - name: d\n    effect: allow\n    when: resource.id.matches(principal.id)\n    reason: r\n',
    })
      .map((e) => e.describe())
      .join('\n');
    assert.match(text, /must be a boolean expression, not string/);
    assert.match(text, /may cost \d+ steps/);
    assert.match(text, /nests quantifiers/);
    assert.match(text, /needs a literal pattern/);
  });

  it('refuses an empty or missing directory', () => {
    const t = tempDir();
    assert.throws(() => loadPolicySet(t.dir), /has no policy files/);
    assert.throws(() => loadPolicySet(join(t.dir, 'nope')), /cannot be read/);
    t.cleanup();
  });

  it('leaves tests/ and *.test.yaml out of the policy set', () => {
    const t = dirWith({
      'a.yaml': header + '  - name: r\n    effect: allow\n    when: "true"\n    reason: r\n',
      'tests/fixtures.yaml': '- 1\n',
      'x.test.yaml': 'kind: PolicyTest\n',
    });
    assert.deepEqual(loadPolicySet(t.dir).files, ['a.yaml']);
    t.cleanup();
  });
});

describe('policy functions', () => {
  it('matches hosts exactly or by subdomain wildcard, never by suffix alone', () => {
    assert.ok(hostMatches('api.github.com', '*.github.com'));
    assert.ok(hostMatches('a.b.github.com', '*.github.com'));
    assert.ok(!hostMatches('github.com', '*.github.com'));
    assert.ok(!hostMatches('evilgithub.com', '*.github.com'));
    assert.ok(hostMatches('GitHub.com.', 'github.com'));
  });

  it('globs linearly', () => {
    assert.ok(glob('build-42', 'build-*'));
    assert.ok(glob('a.b.c', 'a?b?c'));
    assert.ok(!glob('build', 'build-*'));
    const t = performance.now();
    assert.ok(!glob('a'.repeat(4000), '*a*a*a*a*a*a*a*a*a*b'));
    assert.ok(performance.now() - t < 1000);
  });

  it('tests CIDR membership for IPv4 and IPv6', () => {
    assert.ok(cidrContains('10.0.0.0/8', '10.1.2.3'));
    assert.ok(!cidrContains('10.0.0.0/8', '11.0.0.1'));
    assert.ok(cidrContains('fd00::/8', 'fd12::1'));
    assert.ok(cidrContains('::ffff:0:0/96', '::ffff:10.0.0.1'));
    assert.ok(!cidrContains('10.0.0.0/8', 'fd12::1'));
    assert.ok(!cidrContains('garbage', '10.0.0.1'));
  });

  it('spots nested quantifiers and leaves flat patterns alone', () => {
    for (const p of ['(a+)+', '(a*b)*', '(x{2,})+', '((ab)+c)*']) assert.ok(nestedQuantifier(p), p);
    for (const p of ['a+b*', '(ab)+', '(?:ab)+', '[(+)]+', '\\(a+\\)+', '^build-[0-9]+$'])
      assert.ok(!nestedQuantifier(p), p);
  });
});

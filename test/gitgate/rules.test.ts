// The push rules as data, rule by rule, each with a push it passes and one it refuses (good/bad
// pairs); the globs they are written in; and the reserved name's route in the egress proxy.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { GitgateRules } from '../../src/core/settings.js';
import { AddressGuard } from '../../src/egress/address.js';
import { HostMatcher } from '../../src/egress/hosts.js';
import { EgressProxy, type ConnectionRecord } from '../../src/egress/proxy.js';
import { globRegExp } from '../../src/gitgate/globs.js';
import {
  PushRules,
  ZERO,
  type ChangedFile,
  type PushChange,
  type RefUpdate,
} from '../../src/gitgate/rules.js';
import { curlViaProxy } from '../support/curl.js';
import { tempDir } from '../support/tmp.js';

const SETTINGS: GitgateRules = {
  branch: 'agent/issue-{task}-*',
  protected: ['main', 'master', 'release/*'],
  ciPaths: ['.github/workflows/**', '.gitlab-ci.yml'],
  ownerPaths: ['**/CODEOWNERS'],
  dependencyPaths: ['**/package.json', '**/package-lock.json'],
  maxFileSize: 1000,
  maxFiles: 3,
  scanSecrets: true,
  messageTask: true,
};
const rules = new PushRules(SETTINGS);
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

const update = (ref: string, u: Partial<RefUpdate> = {}): RefUpdate => ({
  ref,
  old: A,
  new: B,
  fastForward: true,
  ...u,
});
const file = (path: string, f: Partial<ChangedFile> = {}): ChangedFile => ({
  path,
  commit: C,
  status: 'M',
  blob: B,
  size: 10,
  ...f,
});
const change = (c: Partial<PushChange>): PushChange => ({
  updates: [update('refs/heads/agent/issue-7-fix')],
  commits: [{ id: C, parents: [A], message: 'Fix it (#7)' }],
  files: [file('src/a.ts')],
  secrets: [],
  defaultBranch: 'refs/heads/trunk',
  ...c,
});
const rulesOf = (c: Partial<PushChange>, paths?: string[]): string[] =>
  rules.check(change(c), { repo: 'acme/app', task: '7', ...(paths ? { paths } : {}) }).map((v) => v.rule);

describe('push rules', () => {
  const pairs: [string, Partial<PushChange>, Partial<PushChange>, string][] = [
    ['ref.pattern', {}, { updates: [update('refs/heads/feature/x')] }, 'another branch'],
    ['ref.pattern', {}, { updates: [update('refs/heads/agent/issue-8-fix')] }, "another task's branch"],
    ['ref.protected', {}, { updates: [update('refs/heads/main')] }, 'main'],
    ['ref.protected', {}, { updates: [update('refs/heads/release/1.2')] }, 'a release branch'],
    ['ref.protected', {}, { updates: [update('refs/heads/trunk')] }, "the upstream's default branch"],
    ['ref.tag', {}, { updates: [update('refs/tags/v1')] }, 'a tag'],
    [
      'ref.delete',
      {},
      { updates: [update('refs/heads/agent/issue-7-fix', { new: ZERO, fastForward: undefined })] },
      'a deletion',
    ],
    [
      'ref.non_fast_forward',
      {},
      { updates: [update('refs/heads/agent/issue-7-fix', { fastForward: false })] },
      'a force push',
    ],
    ['path.ci', {}, { files: [file('.github/workflows/ci.yml')] }, 'a workflow'],
    ['path.owners', {}, { files: [file('docs/CODEOWNERS')] }, 'CODEOWNERS anywhere'],
    ['path.dependencies', {}, { files: [file('package.json')] }, "the root's manifest"],
    ['path.dependencies', {}, { files: [file('web/package-lock.json')] }, 'a nested lockfile'],
    ['size.file', {}, { files: [file('big.bin', { size: 1001 })] }, 'a file over the limit'],
    ['size.files', {}, { files: ['a', 'b', 'c', 'd'].map((p) => file(p)) }, 'too many files'],
    [
      'content.secret',
      {},
      { secrets: [{ path: 'a.ini', commit: C, line: 2, rule: 'aws-access-key' }] },
      'a credential',
    ],
    [
      'message.task',
      {},
      { commits: [{ id: C, parents: [A], message: 'Fix #70 and 17' }] },
      'a message naming another task',
    ],
  ];
  for (const [rule, good, bad, what] of pairs)
    it(`${rule}: refuses ${what}, passes the task's own push`, () => {
      assert.equal(rulesOf(good).includes(rule), false);
      assert.equal(rulesOf(bad).includes(rule), true, JSON.stringify(rulesOf(bad)));
    });

  it("holds a push to the task's paths when the run names them", () => {
    assert.deepEqual(rulesOf({ files: [file('src/a.ts')] }, ['src/**']), []);
    assert.deepEqual(rulesOf({ files: [file('README.md')] }, ['src/**']), ['path.scope']);
  });

  it('names the task in any of the usual ways', () => {
    for (const m of ['Fix (#7)', 'issue-7: fix', 'Refs 7', 'task 7.'])
      assert.deepEqual(rulesOf({ commits: [{ id: C, parents: [A], message: m }] }), [], m);
  });

  it('lists every problem at once, and summarizes a rule past twenty', () => {
    const files = Array.from({ length: 30 }, (_, i) => file(`.github/workflows/w${i}.yml`));
    const vs = rules.check(change({ updates: [update('refs/heads/main')], files }), {
      repo: 'acme/app',
      task: '7',
    });
    assert.equal(vs.filter((v) => v.rule === 'path.ci').length, 21);
    assert.ok(vs.some((v) => v.rule === 'path.ci' && v.target === '10 more'));
    assert.ok(vs.some((v) => v.rule === 'ref.protected'));
    assert.ok(vs.some((v) => v.rule === 'size.files'));
    for (const v of vs) assert.ok(v.message.length > 0);
  });
});

describe('globs', () => {
  const cases: [string, string, boolean][] = [
    ['**/package.json', 'package.json', true],
    ['**/package.json', 'a/b/package.json', true],
    ['**/package.json', 'a/package.json.bak', false],
    ['.github/workflows/**', '.github/workflows/a/b.yml', true],
    ['.github/workflows/**', '.github/workflowsX', false],
    ['src/*', 'src/a.ts', true],
    ['src/*', 'src/a/b.ts', false],
    ['agent/issue-7-*', 'agent/issue-7-x', true],
    ['agent/issue-7-*', 'agent/issue-7-x/y', false],
    ['a.b', 'aXb', false],
  ];
  for (const [glob, path, want] of cases)
    it(`${glob} ${want ? 'matches' : 'does not match'} ${path}`, () =>
      assert.equal(globRegExp(glob).test(path), want));
});

describe("the egress proxy's reserved names", () => {
  it('routes a routed name to its listener whatever the rules, and refuses any other', async () => {
    const origin = createServer((req, res) => res.end(`gate saw ${req.headers.host} ${req.url}`));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const port = (origin.address() as AddressInfo).port;
    const records: ConnectionRecord[] = [];
    const proxy = new EgressProxy({
      guard: new AddressGuard([]),
      deps: {
        authenticate: (t) => (t === 'tok' ? { agent: 'a', run: 'r', via: 'token' } : 'unknown'),
        profileFor: () => ({
          mode: 'enforce',
          allow: new HostMatcher([{ pattern: '*', source: 'test' }]),
          deny: new HostMatcher([]),
          maxConnections: 10,
        }),
        route: (host) =>
          host === 'git.rampart.internal' ? { address: '127.0.0.1', port, name: 'git gate' } : undefined,
        record: (r) => records.push(r),
      },
    });
    const { port: proxyPort } = await proxy.listen(0, '127.0.0.1');
    const dir = tempDir();
    try {
      const via = `http://127.0.0.1:${proxyPort}`;
      const ok = await curlViaProxy(
        via,
        'http://git.rampart.internal/acme/app.git/info/refs',
        'tok',
        dir.dir,
      );
      assert.equal(ok.code, '200');
      assert.match(ok.body, /gate saw git\.rampart\.internal \/acme\/app\.git\/info\/refs/);
      // An allow-everything rule does not make another reserved name reachable, nor loopback.
      const other = await curlViaProxy(via, 'http://metadata.rampart.internal/', 'tok', dir.dir);
      assert.equal(other.code, '403');
      assert.match(other.body, /reserved for Rampart's own services/);
      // The kill switch stops the gate too.
      proxy.setKillSwitch(true);
      assert.equal((await curlViaProxy(via, 'http://git.rampart.internal/x', 'tok', dir.dir)).code, '503');
      assert.ok(records.some((r) => r.host === 'git.rampart.internal' && r.decision === 'allow'));
    } finally {
      await proxy.close();
      origin.close();
      dir.cleanup();
    }
  });
});

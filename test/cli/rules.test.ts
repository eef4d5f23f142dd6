// rampart rules check | test | eval, as a pull-request check and an analyst would run them.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { rampart } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

describe('rampart rules', () => {
  const t = tempDir();
  after(() => t.cleanup());
  const dir = (name: string, files: Record<string, string>): string => {
    const d = join(t.dir, name);
    mkdirSync(d, { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
    return d;
  };

  it('check: exit 0 on the shipped set, naming what it loaded', () => {
    const r = rampart(['rules', 'check'], { cwd: t.dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^ok: (\d+) rules enabled \(0 disabled\), \d+ lists, \d+ macros in \d+ files, version r-[0-9a-f]{16} \(\d+ compiled to closures, \d+ interpreted\)$/m,
    );
  });

  it('test --require-coverage: every shipped rule passes both ways', () => {
    const r = rampart(['rules', 'test', '--require-coverage'], { cwd: t.dir });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^PASS: (\d+)\/\1 \(rules version/m);
    assert.doesNotMatch(r.stdout, /UNCOVERED/);
  });

  it('test: exit 1 naming the failing case, its line, and what fired; coverage gaps are failures', () => {
    dir('site', {
      'site.yaml':
        "- rule: curl-run\n  desc: d\n  condition: evt.type == 'process.exec' && proc.name == 'curl'\n  output: '%proc.cmdline'\n  priority: low\n",
      'site.test.yaml':
        'tests:\n  - name: wget is not curl\n    rule: curl-run\n    detect: true\n    events:\n      - {type: process.exec, data: {pid: 1, ppid: 0, comm: wget, exe: /usr/bin/wget, argv: [wget], cwd: /, uid: 0, stdin: pipe}}\n',
    });
    const r = rampart(['rules', 'test', 'site', '--require-coverage'], { cwd: t.dir });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAIL: curl-run: wget is not curl$/m);
    assert.match(r.stdout, /site\.test\.yaml:2:5: expected curl-run to fire; fired: nothing/);
    assert.match(r.stdout, /^UNCOVERED: curl-run: no passing case with detect: false$/m);
    assert.match(r.stderr, /RAMPART_E_RULES_TEST_FAILED: 1 of 1 rule test\(s\) failed/);
  });

  it('check: exit 1 listing each problem compiler-style; 2 on a usage error', () => {
    dir('bad', {
      'bad.yaml':
        "- rule: x\n  desc: d\n  condition: evt.type == 'process.exec' && proc.nope\n  output: o\n  priority: low\n",
    });
    const r = rampart(['rules', 'check', 'bad'], { cwd: t.dir });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /bad\.yaml:3:\d+: error RAMPART_E_RULES_INVALID: rule x: No such key: nope$/m);
    assert.equal(rampart(['rules', 'check', '--no-shipped'], { cwd: t.dir }).code, 2);
    assert.equal(rampart(['rules', 'eval'], { cwd: t.dir }).code, 2);
  });

  it('eval: recorded events in, detections out as JSON lines', () => {
    const events = [
      {
        type: 'process.exec',
        run: 'r9',
        agent: 'a9',
        data: {
          pid: 5,
          ppid: 1,
          comm: 'nc',
          exe: '/usr/bin/nc',
          argv: ['nc', '-l'],
          cwd: '/',
          uid: 1,
          stdin: 'pipe',
        },
      },
      {
        type: 'file.open',
        run: 'r9',
        agent: 'a9',
        data: { pid: 5, ppid: 1, comm: 'cat', path: '/etc/shadow', flags: ['O_RDONLY'] },
      },
    ];
    writeFileSync(join(t.dir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const r = rampart(['rules', 'eval', '--events', 'events.jsonl'], { cwd: t.dir });
    assert.equal(r.code, 0, r.stderr);
    const found = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { rule: string; run: string; events: number[] });
    assert.deepEqual(
      found.map((d) => [d.rule, d.run, d.events]),
      [
        ['network-tool-executed', 'r9', [1]],
        ['shadow-file-read', 'r9', [2]],
      ],
    );
    assert.match(r.stderr, /^2 events, 2 detections/m);
    writeFileSync(join(t.dir, 'bad.jsonl'), '{"type": "nope.nope"}\n');
    const bad = rampart(['rules', 'eval', '--events', 'bad.jsonl'], { cwd: t.dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /bad\.jsonl:1: type "nope\.nope" is not an event type/);
  });
});

// Runbooks load from Markdown with front matter, and every problem is named at file:line: the
// shipped set against the shipped rules, and good/bad fixture pairs.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadRuleSet } from '../../src/detect/load.js';
import { loadRunbooks } from '../../src/incidents/runbooks.js';
import { ROOT } from '../support/cli.js';

const FIX = join(ROOT, 'test', 'incidents', 'fixtures');

describe('runbooks', () => {
  it('the shipped runbooks load against the shipped rules, and attach by rule and by tag', () => {
    const rules = loadRuleSet([join(ROOT, 'rules', 'default')]);
    const names = new Set([...rules.rules.map((r) => r.name), 'blocklist-destination']);
    const set = loadRunbooks([join(ROOT, 'runbooks', 'default')], names);
    assert.ok(set.runbooks.length >= 6);
    assert.deepEqual(
      set.forDetection('honeytoken-used', ['T1552', 'credential_access', 'honeytoken']).map((r) => r.name),
      ['credential-access', 'honeytoken'],
    );
    // By tag alone: a rule no runbook names.
    assert.deepEqual(
      set.forDetection('site-rule', ['exfiltration']).map((r) => r.name),
      ['exfiltration'],
    );
  });

  it('reads the title and the unchecked tasks', () => {
    const set = loadRunbooks([join(FIX, 'good')], new Set(['reverse-shell']));
    assert.deepEqual(set.runbooks[0], {
      name: 'shell',
      file: join(FIX, 'good', 'shell.md'),
      title: 'Reverse shell',
      rules: ['reverse-shell'],
      tags: ['execution'],
      tasks: ['Freeze the run', 'Ban the destination'],
    });
  });

  it('names every problem at file:line, and loads nothing', () => {
    assert.throws(
      () => loadRunbooks([join(FIX, 'bad')], new Set(['reverse-shell'])),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'RAMPART_E_RUNBOOKS_INVALID');
        const m = e.message;
        assert.match(m, /no-front-matter\.md:1: a runbook starts with front matter/);
        assert.match(m, /unknown-key\.md:3: unknown key "owners" \(rules, tags\)/);
        assert.match(m, /unknown-rule\.md:2: rule "no-such-rule" is not in the detection rule set/);
        assert.match(m, /no-tasks\.md:4: a runbook has at least one task/);
        assert.match(m, /not-yaml\.md:\d+: /);
        return true;
      },
    );
  });

  it('an unreadable directory is a coded error', () => {
    assert.throws(
      () => loadRunbooks([join(FIX, 'missing')]),
      /RAMPART_E_RUNBOOKS_INVALID|cannot be read: ENOENT/,
    );
  });
});

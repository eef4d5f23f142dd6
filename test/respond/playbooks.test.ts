// The playbook language: the shipped set loads against the shipped rules and covers every rule
// that contains, each problem is reported where it is (and the set does not load), a site's
// playbook replaces a shipped one by name, and matches select on rule, priority, tags and fields.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { RampartErrorList } from '../../src/core/errors.js';
import { BASELINE_RULES } from '../../src/detect/baselines.js';
import { BLOCKLIST_RULE } from '../../src/detect/blocklist.js';
import { DETECTION_FIELDS } from '../../src/detect/engine.js';
import { loadRuleSet } from '../../src/detect/load.js';
import { ACTIONS } from '../../src/respond/actions.js';
import { loadPlaybooks } from '../../src/respond/playbooks.js';
import { ROOT } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const SHIPPED = join(ROOT, 'playbooks', 'default');
const RULES = new Set([
  ...loadRuleSet([join(ROOT, 'rules', 'default')]).rules.map((r) => r.name),
  BLOCKLIST_RULE,
  ...BASELINE_RULES,
]);
const OPTS = { rules: RULES, fields: DETECTION_FIELDS };

describe('response playbooks', () => {
  const dirs: ReturnType<typeof tempDir>[] = [];
  after(() => dirs.forEach((d) => d.cleanup()));
  const site = (text: string): string => {
    const d = tempDir();
    dirs.push(d);
    writeFileSync(join(d.dir, 'site.yaml'), text);
    return d.dir;
  };
  const problems = (dir: string): string[] => {
    try {
      loadPlaybooks([SHIPPED, dir], OPTS);
    } catch (e) {
      assert.ok(e instanceof RampartErrorList, String(e));
      return e.errors.map((x) => x.describe());
    }
    assert.fail('expected the set not to load');
  };
  const view = (rule: string, priority: 'low' | 'high' | 'critical' = 'high', fields = {}) => ({
    rule,
    priority,
    tags: ['T1', 'credential_access'],
    fields,
  });

  it('ships playbooks that load against the shipped rules; every critical rule is contained', () => {
    const set = loadPlaybooks([SHIPPED], OPTS);
    assert.ok(set.playbooks.length >= 10);
    const rules = loadRuleSet([join(ROOT, 'rules', 'default')]).rules;
    for (const r of rules) {
      const by = set.playbooks.filter((p) =>
        p.matches({ rule: r.name, priority: r.priority, tags: r.tags, fields: {} }),
      );
      assert.ok(by.length > 0, `no shipped playbook answers ${r.name}`);
      if (r.priority !== 'critical') continue;
      const contains = by.some((p) =>
        p.actions.some((s) => ['freeze', 'kill', 'quarantine'].includes(s.action)),
      );
      assert.ok(contains, `critical rule ${r.name} is not contained by a shipped playbook`);
    }
    // Defaults: a step with something stricter to fall back on fails closed.
    const honey = set.playbooks.find((p) => p.name === 'honeytoken-used')!;
    assert.equal(honey.actions[0]!.action, 'freeze');
    assert.equal(honey.actions[0]!.onFailure, 'fail_closed');
    assert.equal(ACTIONS.freeze.closed, 'kill');
  });

  it('reports each problem at its file:line:col, and the set does not load', () => {
    const dir = site(
      [
        '- playbook: unknown-action', // 1
        '  match: {rules: [shadow-file-read]}',
        '  actions: [freeze, explode]',
        '- playbook: unknown-rule', // 4
        '  match:',
        '    rules: [shadow-file-read, no-such-rule]',
        '  actions: [notify]',
        '- playbook: unknown-field', // 8
        '  match:',
        '    output_fields: {proc.nmae: curl}',
        '  actions: [notify]',
        '- playbook: bad-parameters', // 12
        '  match: {priority: urgent}',
        '  actions:',
        '    - action: ban_destination',
        '      parameters: {for: soon, why: x}',
        '    - action: notify',
        '      on_failure: fail_closed',
        '    - thaw',
        '- playbook: bad-escalation', // 20
        '  match: {tags: [x]}',
        '  escalation:',
        '    window: 10m',
        '    levels:',
        '      - after: 3',
        '        actions: [freeze]',
        '      - after: 2',
        '        actions: [kill]',
        '- playbook: Bad Name', // 29
        '  match: {tags: [x]}',
        '  actions: [notify]',
        '- playbook: no-match', // 32
        '  actions: [notify]',
        '  colour: red',
      ].join('\n'),
    );
    const got = problems(dir);
    const at = (line: number, col: number) => `${join(dir, 'site.yaml')}:${line}:${col}`;
    const want: [string, RegExp][] = [
      [at(3, 21), /unknown action "explode" \(expected notify, freeze, quarantine/],
      [at(6, 31), /no detection rule "no-such-rule"/],
      [at(10, 21), /detections carry no field "proc.nmae"/],
      [at(13, 21), /match.priority is info, low, medium, high or critical/],
      [at(16, 25), /ban_destination: for: is a duration like 30m/],
      [at(16, 36), /ban_destination: unknown parameter "why" \(expected for\)/],
      [at(18, 19), /notify: has nothing stricter to fail closed to/],
      [at(19, 7), /unknown action "thaw"/],
      [at(27, 16), /escalation.levels\[1\].after is a whole number of detections above 3/],
      [at(29, 13), /a playbook name is lower-case/],
      [at(34, 3), /unknown key "colour"/],
    ];
    for (const [where, message] of want)
      assert.ok(
        got.some((g) => g.includes(where) && message.test(g)),
        `expected ${message} at ${where}; got:\n${got.join('\n')}`,
      );
    assert.equal(got.length, want.length, got.join('\n'));
  });

  it('refuses what is not a list of playbooks, and YAML that does not parse', () => {
    assert.match(problems(site('playbook: x'))[0]!, /a playbooks file is a list of playbooks/);
    assert.match(problems(site('- playbook: [x'))[0]!, /site\.yaml:1:/);
  });

  it("a site's playbook replaces a shipped one of the same name; the short and long forms are one", () => {
    const dir = site(
      [
        '- playbook: honeytoken-used',
        '  description: quieter here',
        '  match: {rules: honeytoken-used}',
        '  dry_run: true',
        '  actions:',
        '    - notify',
        '    - action: freeze',
        '      on_failure: escalate',
      ].join('\n'),
    );
    const set = loadPlaybooks([SHIPPED, dir], OPTS);
    const p = set.playbooks.filter((x) => x.name === 'honeytoken-used');
    assert.equal(p.length, 1);
    assert.equal(p[0]!.description, 'quieter here');
    assert.equal(p[0]!.dryRun, true);
    assert.deepEqual(
      p[0]!.actions.map((s) => [s.action, s.onFailure]),
      [
        ['notify', 'next'],
        ['freeze', 'escalate'],
      ],
    );
  });

  it('matches on rules, priority at or above, any tag and every output field', () => {
    const dir = site(
      [
        '- playbook: by-priority',
        '  match: {priority: high, tags: [credential_access, x]}',
        '  actions: [notify]',
        '- playbook: by-field',
        '  match:',
        '    rules: [network-tool-executed]',
        '    output_fields: {proc.name: [nc, ncat], evt.type: process.exec}',
        '  actions: [notify]',
      ].join('\n'),
    );
    const set = loadPlaybooks([dir], OPTS);
    const [byPriority, byField] = set.playbooks;
    assert.equal(byPriority!.matches(view('anything', 'high')), true);
    assert.equal(byPriority!.matches(view('anything', 'critical')), true);
    assert.equal(byPriority!.matches(view('anything', 'low')), false);
    assert.equal(byPriority!.matches({ ...view('anything'), tags: ['other'] }), false);
    const f = (fields: Record<string, string>) =>
      byField!.matches(view('network-tool-executed', 'high', fields));
    assert.equal(f({ 'proc.name': 'ncat', 'evt.type': 'process.exec' }), true);
    assert.equal(f({ 'proc.name': 'curl', 'evt.type': 'process.exec' }), false);
    assert.equal(f({ 'proc.name': 'nc' }), false);
  });
});

// The rule language and the engine: the shipped set loads and every rule is tested both ways,
// problems are reported where they are, overrides and exceptions narrow without copying, repeats
// are counted on one detection, and a rule never errors on an event it was not written for.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { StreamEvent } from '../../src/core/events.js';
import { RampartErrorList } from '../../src/core/errors.js';
import { EVENT_CATALOGUE } from '../../src/core/events.js';
import { DetectionEngine } from '../../src/detect/engine.js';
import { loadRuleSet } from '../../src/detect/load.js';
import { coverage, runRuleTests } from '../../src/detect/testing.js';
import { ROOT } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const SHIPPED = join(ROOT, 'rules', 'default');

function problems(dir: string): string[] {
  try {
    loadRuleSet([SHIPPED, dir]);
  } catch (e) {
    assert.ok(e instanceof RampartErrorList, String(e));
    return e.errors.map((x) => x.describe());
  }
  assert.fail('expected the set not to load');
}

const exec = (seq: number, run: string, comm: string, at = 0): StreamEvent => ({
  seq,
  time: new Date(Date.parse('2026-01-01T00:00:00Z') + at).toISOString(),
  event: {
    type: 'process.exec',
    severity: 'info',
    source: 'telemetry',
    subject: { run, agent: 'a1' },
    data: {
      run,
      agent: 'a1',
      pid: 100 + seq,
      ppid: 1,
      comm,
      exe: `/usr/bin/${comm}`,
      argv: [comm],
      cwd: '/',
      uid: 1000,
      stdin: 'pipe',
    },
  },
});

describe('detection rules', () => {
  const t = tempDir();
  after(() => t.cleanup());
  let n = 0;
  const site = (text: string): string => {
    const d = join(t.dir, `site${n++}`);
    mkdirSync(d);
    writeFileSync(join(d, 'site.yaml'), text);
    return d;
  };

  it('ships at least 30 rules, each with a passing positive and negative test', () => {
    const set = loadRuleSet([SHIPPED]);
    const enabled = set.rules.filter((r) => r.enabled);
    assert.ok(enabled.length >= 30, `${enabled.length} rules`);
    const results = runRuleTests(set, [SHIPPED]);
    const failed = results.filter((r) => !r.passed);
    assert.deepEqual(
      failed.map((r) => `${r.name}: ${r.failures.join('; ')}`),
      [],
    );
    assert.deepEqual(coverage(set, results), { missingPositive: [], missingNegative: [] });
    // Every rule is indexed by the event types it can match, so an event runs only its own rules.
    assert.deepEqual(
      enabled.filter((r) => !r.types).map((r) => r.name),
      [],
    );
    for (const r of enabled) for (const ty of r.types!) assert.ok(ty in EVENT_CATALOGUE, `${r.name}: ${ty}`);
  });

  it('reports each problem at its file:line:col, and the set does not load', () => {
    const dir = site(
      [
        '- rule: bad-field',
        '  desc: d',
        "  condition: evt.type == 'process.exec' && proc.nmae == 'x'",
        '  output: o',
        '  priority: high',
        '- rule: bad-output',
        '  desc: d',
        "  condition: evt.type == 'process.exec'",
        '  output: "%proc.nope ran"',
        '  priority: high',
        '- rule: bad-priority',
        '  desc: d',
        "  condition: evt.type == 'process.exec'",
        '  output: o',
        '  priority: urgent',
        '- rule: ssh-private-key-read',
        '  desc: a copy',
        "  condition: evt.type == 'file.open'",
        '  output: o',
        '  priority: high',
        '- rule: no-such-rule',
        '  override: {priority: replace}',
        '  priority: low',
        '- rule: bad-exception',
        '  desc: d',
        "  condition: evt.type == 'process.exec'",
        '  output: o',
        '  priority: low',
        '  exceptions:',
        '    - {name: e, fields: [proc.pid], values: [[abc]]}',
        '- rule: ssh-private-key-read',
        '  override: {condition: replace}',
        "  condition: 'true'",
      ].join('\n'),
    );
    const p = problems(dir);
    const f = join(dir, 'site.yaml');
    assert.ok(
      p.some((x) => x.startsWith(`${f}:3:49: RAMPART_E_RULES_INVALID: rule bad-field:`) && /nmae/.test(x)),
      p.join('\n'),
    );
    assert.ok(
      p.includes(
        `${f}:9:11: RAMPART_E_RULES_INVALID: rule bad-output: unknown field "%proc.nope" in the output`,
      ),
      p.join('\n'),
    );
    assert.ok(
      p.some(
        (x) => x.startsWith(`${f}:15:13: `) && /priority is one of info, low, medium, high, critical/.test(x),
      ),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => x.startsWith(`${f}:16:9: `) && /already defined at .*credentials\.yaml/.test(x)),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => x.startsWith(`${f}:21:9: `) && /override of a rule that is not defined before/.test(x)),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => x.startsWith(`${f}:30:`) && /proc\.pid is an integer/.test(x)),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => x.startsWith(`${f}:32:14: `) && /condition cannot be overridden/.test(x)),
      p.join('\n'),
    );
  });

  it('overrides a shipped rule: its priority replaced and an exception appended, nothing copied', () => {
    const dir = site(
      [
        '- rule: network-tool-executed',
        '  override: {priority: replace, exceptions: append}',
        '  priority: low',
        '  exceptions:',
        '    - name: ci_socat',
        '      fields: [evt.agent, proc.name]',
        '      comps: [=, =]',
        '      values: [[a1, socat]]',
      ].join('\n'),
    );
    const set = loadRuleSet([SHIPPED, dir]);
    const engine = new DetectionEngine(set, { dedupMs: 0 });
    assert.deepEqual(engine.process(exec(1, 'r1', 'socat')), []);
    assert.equal(engine.stats.excepted, 1);
    const [d] = engine.process(exec(2, 'r1', 'nc'));
    assert.equal(d?.rule, 'network-tool-executed');
    assert.equal(d?.priority, 'low');
  });

  it('counts repeats of a rule on a run within the window on one detection, then summarizes them', () => {
    const engine = new DetectionEngine(loadRuleSet([SHIPPED]), { dedupMs: 60_000 });
    const first = engine.process(exec(1, 'r1', 'nc'));
    assert.equal(first.length, 1);
    for (let i = 2; i <= 50; i++) assert.deepEqual(engine.process(exec(i, 'r1', 'nc', i * 100)), []);
    // Another run is another detection.
    assert.equal(engine.process(exec(51, 'r2', 'nc', 5200)).length, 1);
    // The window closes with the next event after it: one summary with the count and the records.
    const later = engine.process(exec(52, 'r3', 'true', 61_000));
    assert.equal(later.length, 1);
    assert.equal(later[0]!.repeat, true);
    assert.equal(later[0]!.count, 50);
    assert.deepEqual(later[0]!.events.slice(0, 3), [1, 2, 3]);
    assert.equal(engine.stats.deduplicated, 49);
    assert.equal(engine.stats.matches, 51);
  });

  it('never errors on an event a rule was not written for; data of the wrong type is an error, counted', () => {
    const engine = new DetectionEngine(loadRuleSet([SHIPPED]), { dedupMs: 0 });
    let seq = 0;
    const feed = (data: object): number => {
      const before = engine.stats.errors;
      for (const type of Object.keys(EVENT_CATALOGUE))
        engine.process({
          seq: ++seq,
          time: '2026-01-01T00:00:00.000Z',
          event: { type: type as 'auth.rejected', severity: 'info', source: 't', data: data as never },
        });
      return engine.stats.errors - before;
    };
    // Every field missing: every rule is total over every type.
    assert.equal(feed({}), 0);
    assert.equal(feed({ pid: 'x', path: 7, argv: 'nope', flags: {} }), 0);
    // A field of the wrong type in `data` (no component publishes it: the catalogue types it) is an
    // error verdict: no detection, counted, the other rules still run.
    assert.equal(feed({ count: 'many', leftover: null }), 2);
  });
});

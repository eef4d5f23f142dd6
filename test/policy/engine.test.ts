import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RampartError } from '../../src/core/errors.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { parseDecisionInput } from '../../src/policy/input.js';
import { loadPolicySet, type PolicySet } from '../../src/policy/load.js';
import type { DecisionInput } from '../../src/policy/model.js';
import { tempDir } from '../support/tmp.js';

function setOf(rules: string): PolicySet {
  const t = tempDir();
  writeFileSync(
    join(t.dir, 'p.yaml'),
    `apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: t\nrules:\n${rules}`,
  );
  const s = loadPolicySet(t.dir);
  t.cleanup();
  return s;
}

const input = (over: Partial<DecisionInput> = {}): DecisionInput =>
  parseDecisionInput({
    principal: { type: 'agent', id: 'a1' },
    action: 'task.run',
    resource: { type: 'task', id: 't1' },
    context: {},
    ...over,
  });

function engine(rules: string, cacheSize = 1000): PolicyEngine {
  const e = new PolicyEngine({ cacheSize });
  e.activate(setOf(rules));
  return e;
}

let v = 0;
function put(
  e: PolicyEngine,
  type: string,
  id: string,
  attributes: Record<string, unknown>,
  parents: string[] = [],
): void {
  e.entities.apply({ type, id, attributes, parents, version: ++v, deleted: false });
  e.entityChanged(type, id);
}

describe('policy engine', () => {
  it('denies with "no rule allows" when nothing allows', () => {
    const d = engine(
      '  - name: other\n    effect: allow\n    actions: [x.y]\n    when: "true"\n    reason: r\n',
    ).decide(input());
    assert.equal(d.allow, false);
    assert.equal(d.outcome, 'deny');
    assert.deepEqual(d.reasons, ['no rule allows']);
    assert.equal(d.rule, undefined);
  });

  it('lets deny override allow, whatever the order of the rules', () => {
    const e = engine(
      '  - name: yes\n    effect: allow\n    when: "true"\n    reason: allowed\n' +
        '  - name: no\n    effect: deny\n    when: principal.id == "a1"\n    reason: "{{principal.id}} is blocked from {{action}}"\n',
    );
    const d = e.decide(input());
    assert.equal(d.outcome, 'deny');
    assert.equal(d.rule, 'no');
    assert.deepEqual(d.reasons, ['a1 is blocked from task.run']);
    const ok = e.decide(input({ principal: { type: 'agent', id: 'a2' } }));
    assert.equal(ok.allow, true);
    assert.equal(ok.rule, 'yes');
    assert.match(ok.policy_version, /^p-/);
  });

  it('fails closed when a deny rule cannot be evaluated, and skips an allow rule that cannot', () => {
    const e = engine(
      '  - name: strict\n    effect: deny\n    actions: [secret.read]\n    when: principal.attributes.level < 3\n    reason: too low\n' +
        '  - name: loose\n    effect: allow\n    when: principal.attributes.level > 3\n    reason: high\n' +
        '  - name: fallback\n    effect: allow\n    actions: [task.run]\n    when: "true"\n    reason: fallback\n',
    );
    const denied = e.decide(input({ action: 'secret.read' }));
    assert.equal(denied.allow, false);
    assert.equal(denied.outcome, 'error');
    assert.equal(denied.rule, 'strict');
    assert.match(denied.reasons[0]!, /deny rule strict could not be evaluated: No such key: level/);
    const allowed = e.decide(input());
    assert.equal(allowed.allow, true);
    assert.equal(allowed.rule, 'fallback');
    assert.equal(allowed.errors?.[0]?.rule, 'loose');
  });

  it('evaluates only rules indexed for the action and resource type', () => {
    // This rule throws if evaluated (unknown attribute); the index must keep it out of task.run.
    const e = engine(
      '  - name: boom\n    effect: deny\n    actions: [egress.connect]\n    when: principal.attributes.nope == 1\n    reason: r\n' +
        '  - name: only-hosts\n    effect: deny\n    resources: [host]\n    when: principal.attributes.nope == 1\n    reason: r\n' +
        '  - name: ok\n    effect: allow\n    actions: [task.run]\n    resources: [task]\n    when: "true"\n    reason: r\n',
    );
    assert.equal(e.decide(input()).outcome, 'allow');
    assert.equal(e.decide(input({ action: 'egress.connect' })).outcome, 'error');
  });

  it('builds principals from the entity store: teams transitively, capabilities inherited, the store over the caller', () => {
    const e = engine(
      "  - name: r\n    effect: allow\n    when: \"'org' in principal.teams && 'deploy' in principal.capabilities && principal.namespace == 'ci'\"\n    reason: \"{{principal.team}} / {{principal.teams}}\"\n",
    );
    put(e, 'team', 'org', { capabilities: ['deploy'] });
    put(e, 'team', 'sre', {}, ['team:org']);
    put(e, 'namespace', 'ci', {});
    put(e, 'agent', 'a1', {}, ['team:sre', 'namespace:ci']);
    const d = e.decide(input());
    assert.equal(d.allow, true, d.reasons.join());
    assert.deepEqual(d.reasons, ['sre / ["sre","org"]']);
    // A known agent's caller-supplied claims are ignored.
    put(e, 'agent', 'a2', {});
    assert.equal(
      e.decide(
        input({
          principal: { type: 'agent', id: 'a2', teams: ['org'], capabilities: ['deploy'], namespace: 'ci' },
        }),
      ).allow,
      false,
    );
    // An unknown one is taken as described.
    assert.equal(
      e.decide(
        input({
          principal: { type: 'agent', id: 'a3', teams: ['org'], capabilities: ['deploy'], namespace: 'ci' },
        }),
      ).allow,
      true,
    );
  });

  it('caches decisions and forgets exactly those an entity change affects', () => {
    const e = engine(
      '  - name: r\n    effect: allow\n    when: "\'ok\' in principal.attributes && principal.attributes.ok == true"\n    reason: ok\n',
    );
    put(e, 'agent', 'a1', { ok: true });
    put(e, 'agent', 'a2', { ok: true });
    assert.equal(e.decide(input()).source, 'engine');
    const hit = e.decide(input());
    assert.equal(hit.source, 'cache');
    assert.equal(hit.allow, true);
    e.decide(input({ principal: { type: 'agent', id: 'a2' } }));
    assert.equal(e.cacheSize, 2);
    put(e, 'agent', 'a1', { ok: false }); // a1 changed: only a1's decision goes
    assert.equal(e.cacheSize, 1);
    const after = e.decide(input());
    assert.equal(after.source, 'engine');
    assert.equal(after.allow, false);
    assert.equal(e.decide(input({ principal: { type: 'agent', id: 'a2' } })).source, 'cache');
    // A team the agent joins later is read through its parents: changing it invalidates too.
    put(e, 'agent', 'a1', { ok: true }, ['team:x']);
    e.decide(input());
    const before = e.cacheSize;
    put(e, 'team', 'x', { any: 1 });
    assert.equal(e.cacheSize, before - 1);
    // A new policy set forgets everything.
    e.activate(setOf('  - name: r2\n    effect: deny\n    when: "true"\n    reason: no\n'));
    assert.equal(e.cacheSize, 0);
    assert.equal(e.decide(input()).allow, false);
  });

  it('caches by everything a decision depends on: unknown callers by their claims, hosts and ports, context', () => {
    const e = engine(
      "  - name: r\n    effect: allow\n    when: \"'ops' in principal.teams && resource.port == 443 && 'go' in context\"\n    reason: ok\n",
    );
    const ask = (over: Partial<DecisionInput>) =>
      e.decide(
        input({
          principal: { type: 'agent', id: 'u', teams: ['ops'] },
          resource: { type: 'host', id: 'h', port: 443 },
          context: { go: true },
          ...over,
        }),
      );
    assert.equal(ask({}).allow, true);
    assert.equal(ask({}).source, 'cache');
    // Each differs in one thing the rule reads: none may be answered from the cache.
    for (const over of [
      { principal: { type: 'agent', id: 'u', teams: ['dev'] } },
      { resource: { type: 'host', id: 'h', port: 80 } },
      { context: {} },
      { context: { go: true, extra: [1, { a: 'b' }] } },
    ]) {
      const d = ask(over);
      assert.equal(d.source, 'engine', JSON.stringify(over));
    }
    // Key order does not make a different question.
    assert.equal(
      e.decide(
        parseDecisionInput({
          context: { go: true },
          resource: { port: 443, id: 'h', type: 'host' },
          action: 'task.run',
          principal: { teams: ['ops'], id: 'u', type: 'agent' },
        }),
      ).source,
      'cache',
    );
    // Once the agent is stored, its claims stop mattering, and the cached answer for the claims goes.
    put(e, 'agent', 'u', {});
    assert.equal(ask({}).allow, false);
  });

  it('a cached input is a private copy: changing the caller’s object later changes nothing', () => {
    const e = engine(
      '  - name: r\n    effect: allow\n    when: "\'ops\' in principal.teams"\n    reason: ok\n',
    );
    const mine = {
      principal: { type: 'agent', id: 'u', teams: ['ops'] },
      action: 'task.run',
      resource: { type: 'task', id: 't' },
      context: {},
    };
    assert.equal(e.decide(mine).allow, true);
    mine.principal.teams[0] = 'dev';
    const d = e.decide(mine);
    assert.equal(d.source, 'engine');
    assert.equal(d.allow, false);
  });

  it('indexes a rule by the action and resource type its expression requires, and pre-checks literal guards', () => {
    const set = setOf(
      "  - name: narrowed\n    effect: deny\n    actions: [task.run, message.send]\n    when: \"action == 'message.send' && resource.type == 'agent' && principal.attributes.nope == 1\"\n    reason: r\n" +
        '  - name: guarded\n    effect: deny\n    when: "principal.id == \'blocked\' && principal.attributes.nope == 1"\n    reason: r\n' +
        '  - name: ok\n    effect: allow\n    when: "true"\n    reason: r\n',
    );
    const rule = set.rules.find((r) => r.name === 'narrowed')!;
    assert.deepEqual([...rule.actions!], ['message.send']);
    assert.deepEqual([...rule.resources!], ['agent']);
    const e = new PolicyEngine({ cacheSize: 0 });
    e.activate(set);
    // Both deny rules would fail (closed) if evaluated; the index and the guard keep them out.
    assert.equal(e.decide(input()).outcome, 'allow');
    assert.equal(
      e.decide(input({ action: 'message.send', resource: { type: 'task', id: 'x' } })).outcome,
      'allow',
    );
    assert.equal(
      e.decide(input({ action: 'message.send', resource: { type: 'agent', id: 'x' } })).outcome,
      'error',
    );
    assert.equal(e.decide(input({ principal: { type: 'agent', id: 'blocked' } })).outcome, 'error');
  });

  it('gives every decision a unique id', () => {
    const e = engine('  - name: r\n    effect: allow\n    when: "true"\n    reason: ok\n');
    const ids = new Set(Array.from({ length: 1000 }, () => e.decide(input()).decision_id));
    assert.equal(ids.size, 1000);
  });

  it('answers "error" with no policy set active', () => {
    const d = new PolicyEngine({ cacheSize: 0 }).decide(input());
    assert.equal(d.outcome, 'error');
    assert.equal(d.allow, false);
  });
});

describe('decision input validation', () => {
  const bad = (v: unknown, re: RegExp): void =>
    assert.throws(
      () => parseDecisionInput(v),
      (e: unknown) => e instanceof RampartError && e.code === 'RAMPART_E_BAD_REQUEST' && re.test(e.message),
    );

  it('names the field that is wrong', () => {
    bad(null, /^input: must be an object/);
    bad(
      { principal: { type: 'agent', id: 'a' }, action: 'Run!', resource: { type: 'task', id: 't' } },
      /^input\.action: /,
    );
    bad(
      { principal: { type: 'Agent', id: 'a' }, action: 'task.run', resource: { type: 'task', id: 't' } },
      /^input\.principal\.type/,
    );
    bad(
      { principal: { type: 'agent', id: '' }, action: 'task.run', resource: { type: 'task', id: 't' } },
      /^input\.principal\.id/,
    );
    bad(
      {
        principal: { type: 'agent', id: 'a' },
        action: 'task.run',
        resource: { type: 'task', id: 't' },
        extra: 1,
      },
      /^input\.extra: unknown field/,
    );
  });

  it('bounds depth, list length and string length', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 20; i++) deep = { d: deep };
    bad(
      {
        principal: { type: 'agent', id: 'a' },
        action: 'task.run',
        resource: { type: 'task', id: 't' },
        context: { deep },
      },
      /nested deeper than 12/,
    );
    bad(
      {
        principal: { type: 'agent', id: 'a' },
        action: 'task.run',
        resource: { type: 'task', id: 't' },
        context: { l: Array(300).fill(1) },
      },
      /list longer than 256/,
    );
    bad(
      {
        principal: { type: 'agent', id: 'a', x: 'y'.repeat(5000) },
        action: 'task.run',
        resource: { type: 'task', id: 't' },
      },
      /longer than 4096/,
    );
  });
});

// The closure compiler must mean exactly what cel-js means: on generated expressions over the
// typed subset and generated principals and resources, both give the same answer, and cel-js never
// raises an error where the compiler claimed the expression total.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Principal, Resource, createPolicyEnvironment } from '../../src/policy/cel.js';
import { compileClosure, compileExpression } from '../../src/policy/compile.js';
import { extractGuards } from '../../src/policy/cel.js';

const WORDS = [
  '',
  'a',
  'ab',
  'A',
  'x.a',
  '*.a',
  'é',
  '😀',
  'ns-1',
  '10.0.0.1',
  '10.0.0.0/8',
  '::1',
  'a*',
  "it's",
];
const quote = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

const STRING_FIELDS = [
  'principal.id',
  'principal.type',
  'principal.namespace',
  'principal.team',
  'resource.id',
  'resource.type',
  'resource.namespace',
  'resource.owner',
  'resource.vault',
  'resource.host',
  'action',
];
const LIST_FIELDS = ['principal.teams', 'principal.capabilities', 'resource.teams', 'resource.capabilities'];

const { bool } = fc.letrec<{ str: string; int: string; list: string; bool: string }>((tie) => ({
  str: fc.oneof(fc.constantFrom(...STRING_FIELDS), fc.constantFrom(...WORDS).map(quote)),
  int: fc.oneof(
    fc.constant('resource.port'),
    fc.integer({ min: 0, max: 70000 }).map(String),
    tie('list').map((l) => `${l}.size()`),
  ),
  list: fc.oneof(
    fc.constantFrom(...LIST_FIELDS),
    fc.array(fc.constantFrom(...WORDS).map(quote), { maxLength: 3 }).map((xs) => `[${xs.join(', ')}]`),
  ),
  bool: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('true', 'false'),
    fc.tuple(tie('str'), fc.constantFrom('==', '!='), tie('str')).map(([a, op, b]) => `${a} ${op} ${b}`),
    fc
      .tuple(tie('int'), fc.constantFrom('==', '!=', '<', '<=', '>', '>='), tie('int'))
      .map(([a, op, b]) => `${a} ${op} ${b}`),
    fc.tuple(tie('str'), tie('list')).map(([a, l]) => `${a} in ${l}`),
    fc
      .tuple(tie('bool'), fc.constantFrom('&&', '||'), tie('bool'))
      .map(([a, op, b]) => `(${a}) ${op} (${b})`),
    tie('bool').map((a) => `!(${a})`),
    fc.tuple(tie('bool'), tie('bool'), tie('bool')).map(([c, a, b]) => `(${c}) ? (${a}) : (${b})`),
    fc
      .tuple(fc.constantFrom('startsWith', 'endsWith', 'contains'), tie('str'), tie('str'))
      .map(([f, a, b]) => `${a}.${f}(${b})`),
    fc
      .tuple(fc.constantFrom('hostMatches', 'glob', 'cidrContains'), tie('str'), tie('str'))
      .map(([f, a, b]) => `${f}(${a}, ${b})`),
    fc.tuple(tie('str'), tie('list')).map(([a, l]) => `hostMatchesAny(${a}, ${l})`),
  ),
}));

const word = fc.constantFrom(...WORDS);
const words = fc.array(word, { maxLength: 3 });
const principal = fc
  .record({ id: word, type: word, namespace: word, team: word, teams: words, capabilities: words })
  .map((r) => Object.assign(new Principal(), r));
const resource = fc
  .record({
    id: word,
    type: word,
    namespace: word,
    owner: word,
    vault: word,
    host: word,
    teams: words,
    capabilities: words,
    port: fc.integer({ min: 0, max: 65535 }).map(BigInt),
  })
  .map((r) => Object.assign(new Resource(), r));

describe('CEL closure compiler', () => {
  const env = createPolicyEnvironment();

  it('agrees with cel-js on every generated expression and input', () => {
    let compiled = 0;
    fc.assert(
      fc.property(bool, principal, resource, word, (expr, p, r, action) => {
        const parsed = env.parse(expr);
        if (!parsed.check().valid) return;
        const fn = compileExpression(parsed.ast);
        if (!fn) return;
        compiled++;
        const vars = { principal: p, action, resource: r, context: {} };
        assert.equal(fn(vars), parsed(vars), expr);
        assert.equal(compileClosure(parsed.ast)!(vars), parsed(vars), expr);
      }),
      { numRuns: 3000 },
    );
    assert.ok(compiled > 2000, `only ${compiled} expressions were in the subset`);
  });

  it('leaves what it cannot prove total to cel-js', () => {
    for (const expr of [
      'principal.attributes.level > 1',
      "'capabilities' in context",
      "principal.teams.exists(t, t == 'a')",
      "principal.id < 'b'",
      'principal.id.size() > 1',
      'resource.port > -1',
      '1.5 > 1.0',
    ]) {
      const parsed = env.parse(expr);
      assert.ok(parsed.check().valid, expr);
      assert.equal(compileExpression(parsed.ast), undefined, expr);
    }
  });

  it('guards read off a rule are implied by it: when a guard fails, the rule is false', () => {
    fc.assert(
      fc.property(bool, bool, principal, resource, word, (a, b, p, r, action) => {
        const expr = `resource.type == 'a' && 'ab' in principal.teams && principal.id == 'x.a' && (${a}) && (${b})`;
        const parsed = env.parse(expr);
        if (!parsed.check().valid) return;
        const g = extractGuards(parsed.ast);
        assert.equal(g.resourceType, 'a');
        const vars = { principal: p, action, resource: r, context: {} };
        if (g.check && !g.check(vars)) {
          let value: unknown;
          try {
            value = parsed(vars);
          } catch {
            value = false; // an error in a later conjunct is absorbed by a false guard in CEL
          }
          assert.equal(value, false, expr);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

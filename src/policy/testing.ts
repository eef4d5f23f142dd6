// Table-driven policy tests, as `opa test` runs Rego tests: each *.test.yaml lists inputs and the
// decision (and optionally the reason and deciding rule) each must get, with entity fixtures
// inline or from included files. `rampart policy test DIR` exits 1 on any failure, so it can be a
// required check on the pull request that changes a policy.

import { dirname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { findDeepNesting, nestingMessage } from '../core/nesting.js';
import { RampartError, type SourceLocation, messageOf } from '../core/errors.js';
import { readTextFile } from '../core/files.js';
import { parseLocated } from '../core/yaml.js';
import { PolicyEngine } from './engine.js';
import { entityKey, parseEntity } from './entities.js';
import { parseDecisionInput } from './input.js';
import { loadPolicySet, policyFiles, type PolicySet } from './load.js';
import type { Decision, DecisionOutcome } from './model.js';

export interface PolicyTestResult {
  readonly file: string;
  readonly name: string;
  readonly location: SourceLocation;
  readonly passed: boolean;
  /** What went wrong, for a failing test. */
  readonly failures: readonly string[];
  readonly decision: Decision | undefined;
}

export interface FixtureEntity {
  readonly type: string;
  readonly id: string;
  readonly attributes: Record<string, unknown>;
  readonly parents: string[];
}

/** Reads entity fixtures: a YAML or JSON list of {type, id, attributes, parents}. */
export function readEntities(file: string): FixtureEntity[] {
  const text = readTextFile(file, 'RAMPART_E_USAGE', 'entities file');
  const deep = findDeepNesting(text);
  if (deep)
    throw new RampartError(
      'RAMPART_E_ENTITY_INVALID',
      `${file}:${deep.line}:${deep.column}: ${nestingMessage(deep)}`,
    );
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0)
    throw new RampartError('RAMPART_E_ENTITY_INVALID', `${file}: ${doc.errors[0]!.message.split('\n')[0]}`);
  return entityList(doc.toJS({ maxAliasCount: 64 }), file);
}

function entityList(v: unknown, where: string): FixtureEntity[] {
  if (!Array.isArray(v))
    throw new RampartError('RAMPART_E_ENTITY_INVALID', `${where}: entities must be a list`);
  return v.map((e, i) => {
    const o = (e ?? {}) as Record<string, unknown>;
    if (typeof o['type'] !== 'string' || typeof o['id'] !== 'string') {
      throw new RampartError('RAMPART_E_ENTITY_INVALID', `${where}: entities[${i}] needs a type and an id`);
    }
    try {
      return parseEntity(o['type'], o['id'], {
        attributes: o['attributes'] ?? {},
        parents: o['parents'] ?? [],
      });
    } catch (err) {
      throw new RampartError('RAMPART_E_ENTITY_INVALID', `${where}: entities[${i}]: ${messageOf(err)}`);
    }
  });
}

/** A fresh engine on `set` with exactly these entities (no cache: tests see every evaluation). */
export function engineWith(set: PolicySet, entities: readonly FixtureEntity[]): PolicyEngine {
  const engine = new PolicyEngine({ cacheSize: 0 });
  engine.activate(set);
  entities.forEach((e, i) => engine.entities.apply({ ...e, version: i + 1, deleted: false }));
  return engine;
}

export interface RunOptions {
  /** Test files from this directory instead of the policy directory. */
  readonly testsDir?: string;
}

/** Loads the policy set in `dir` and runs every test file found under it. */
export function runPolicyTests(
  dir: string,
  opts: RunOptions = {},
): { set: PolicySet; results: PolicyTestResult[] } {
  const set = loadPolicySet(dir);
  const testsDir = opts.testsDir ?? dir;
  const results: PolicyTestResult[] = [];
  for (const rel of policyFiles(testsDir, true)) results.push(...runTestFile(set, join(testsDir, rel), rel));
  return { set, results };
}

function runTestFile(set: PolicySet, path: string, display: string): PolicyTestResult[] {
  const { doc, loc, errors } = parseLocated(readTextFile(path, 'RAMPART_E_USAGE', 'policy test'), display);
  const broken = (message: string, location: SourceLocation): PolicyTestResult[] => [
    { file: display, name: '(file)', location, passed: false, failures: [message], decision: undefined },
  ];
  if (errors.length > 0) return broken(errors[0]!.message, errors[0]!.location);
  const raw = doc.toJS({ maxAliasCount: 64 }) as Record<string, unknown> | null;
  if (!raw || raw['kind'] !== 'PolicyTest' || raw['apiVersion'] !== 'rampart.dev/v1') {
    return broken('a test file has apiVersion: rampart.dev/v1 and kind: PolicyTest', loc.at(0));
  }
  let entities: FixtureEntity[] = [];
  try {
    for (const inc of (raw['include'] as unknown[] | undefined) ?? []) {
      if (typeof inc !== 'string')
        throw new RampartError('RAMPART_E_ENTITY_INVALID', 'include lists file names');
      entities.push(...readEntities(resolve(dirname(path), inc)));
    }
    if (raw['entities'] !== undefined) entities.push(...entityList(raw['entities'], display));
  } catch (e) {
    return broken(messageOf(e), loc.path(['include']));
  }
  // Later definitions of the same entity replace earlier ones (a file may override a fixture).
  entities = [...new Map(entities.map((e) => [entityKey(e.type, e.id), e])).values()];
  const engine = engineWith(set, entities);
  const tests = raw['tests'];
  if (!Array.isArray(tests) || tests.length === 0)
    return broken('tests must be a non-empty list', loc.path(['tests']));
  return tests.map((t: unknown, i): PolicyTestResult => {
    const at = loc.path(['tests', i]);
    const tc = (t ?? {}) as Record<string, unknown>;
    const name = typeof tc['name'] === 'string' ? tc['name'] : `tests[${i}]`;
    const expect = tc['expect'];
    if (expect !== 'allow' && expect !== 'deny' && expect !== 'error') {
      return {
        file: display,
        name,
        location: loc.path(['tests', i, 'expect']),
        passed: false,
        failures: ['expect must be allow, deny or error'],
        decision: undefined,
      };
    }
    let decision: Decision;
    try {
      decision = engine.decide(parseDecisionInput(tc['input']));
    } catch (e) {
      return {
        file: display,
        name,
        location: loc.path(['tests', i, 'input']),
        passed: false,
        failures: [`input: ${messageOf(e)}`],
        decision: undefined,
      };
    }
    const failures = compare(decision, expect, tc);
    return { file: display, name, location: at, passed: failures.length === 0, failures, decision };
  });
}

function compare(d: Decision, expect: DecisionOutcome, tc: Record<string, unknown>): string[] {
  const f: string[] = [];
  if (d.outcome !== expect) f.push(`expected ${expect}, got ${d.outcome} (${d.reasons.join('; ')})`);
  if (typeof tc['rule'] === 'string' && d.rule !== tc['rule'])
    f.push(`expected rule ${tc['rule']} to decide, got ${d.rule ?? '(none)'}`);
  if (typeof tc['reason'] === 'string' && !d.reasons.includes(tc['reason']))
    f.push(`expected reason "${tc['reason']}", got "${d.reasons.join('; ')}"`);
  if (
    typeof tc['reason_contains'] === 'string' &&
    !d.reasons.some((r) => r.includes(tc['reason_contains'] as string))
  ) {
    f.push(`expected a reason containing "${tc['reason_contains']}", got "${d.reasons.join('; ')}"`);
  }
  return f;
}

// Loading a policy directory: every *.yaml file (tests, *.test.yaml, excepted) is parsed with
// positions, checked against the policy file schema, and each rule's `when` expression is parsed,
// type-checked against the input schema and cost-checked. Every problem is reported with
// file:line:col; one bad file rejects the whole set (the previous set keeps serving).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { yamlFiles } from '../core/files.js';
import { celMessage } from '../cel/analyze.js';
import type { Environment } from '@marcbachmann/cel-js';
import { RampartError, RampartErrorList, type SourceLocation, messageOf } from '../core/errors.js';
import { parseLocated } from '../core/yaml.js';
import {
  COST_BUDGET,
  analyze,
  createPolicyEnvironment,
  extractGuards,
  type Guards,
  type Principal,
  type Resource,
} from './cel.js';
import { compileExpression } from './compile.js';

export type Effect = 'allow' | 'deny';

export interface CompiledRule {
  /** Unique in the set. */
  readonly name: string;
  readonly effect: Effect;
  /** undefined: every action. */
  readonly actions: ReadonlySet<string> | undefined;
  /** undefined: every resource type. */
  readonly resources: ReadonlySet<string> | undefined;
  readonly when: string;
  readonly reason: string;
  readonly location: SourceLocation;
  readonly evaluate: (vars: RuleVars) => unknown;
  /** Preconditions read off `when` (see extractGuards): false means the rule does not match. */
  readonly guard: Guards['check'];
  /** Compiled to a JavaScript closure (true) or interpreted by cel-js (false). */
  readonly native: boolean;
}

export interface RuleVars {
  readonly principal: Principal;
  readonly action: string;
  readonly resource: Resource;
  readonly context: Readonly<Record<string, unknown>>;
}

export interface PolicySet {
  /** "p-" + 16 hex digits of the SHA-256 over every policy file's path and content. */
  readonly version: string;
  readonly dir: string;
  readonly files: readonly string[];
  readonly rules: readonly CompiledRule[];
}

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,99}$/;
const ACTION_RE = /^(?:\*|[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*){0,4})$/;
const TYPE_RE = /^[a-z][a-z0-9_-]{0,31}$/;

/**
 * Policy files under `dir`, sorted, as relative paths with forward slashes: every *.yaml outside
 * `tests/` directories that is not a *.test.yaml. With `test`, the *.test.yaml files instead.
 */
export const policyFiles = yamlFiles;

/** The version a directory's policies would load as, without compiling them (cheap: for polling). */
export function policySetVersion(dir: string): string {
  const hash = createHash('sha256');
  for (const rel of policyFiles(dir))
    hash
      .update(rel)
      .update('\0')
      .update(readFileSync(join(dir, rel), 'utf8'))
      .update('\0');
  return `p-${hash.digest('hex').slice(0, 16)}`;
}

export interface LoadPolicyOptions {
  /** A shared environment (built once: building one costs milliseconds). */
  readonly env?: Environment;
}

/** Loads and compiles the policy set in `dir`. Throws RampartErrorList with every problem. */
export function loadPolicySet(dir: string, opts: LoadPolicyOptions = {}): PolicySet {
  let files: string[];
  try {
    files = policyFiles(dir);
  } catch (e) {
    throw new RampartError(
      'RAMPART_E_POLICY_INVALID',
      `policy directory ${dir} cannot be read: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`,
    );
  }
  if (files.length === 0) {
    throw new RampartError(
      'RAMPART_E_POLICY_INVALID',
      `policy directory ${dir} has no policy files (*.yaml)`,
    );
  }
  const env = opts.env ?? createPolicyEnvironment();
  const problems: RampartError[] = [];
  const rules: CompiledRule[] = [];
  const names = new Map<string, SourceLocation>();
  const hash = createHash('sha256');
  for (const rel of files) {
    const text = readFileSync(join(dir, rel), 'utf8');
    hash.update(rel).update('\0').update(text).update('\0');
    for (const r of compileFile(text, rel, env, problems)) {
      const prev = names.get(r.name);
      if (prev) {
        problems.push(
          new RampartError(
            'RAMPART_E_POLICY_INVALID',
            `rule name "${r.name}" is already used at ${prev.file}:${prev.line}:${prev.column}`,
            {
              location: r.location,
            },
          ),
        );
      } else {
        names.set(r.name, r.location);
        rules.push(r);
      }
    }
  }
  if (problems.length > 0) throw new RampartErrorList(problems);
  return { version: `p-${hash.digest('hex').slice(0, 16)}`, dir, files, rules };
}

/** Compiles one policy file's text; problems go to `problems`. */
export function compileFile(
  text: string,
  file: string,
  env: Environment,
  problems: RampartError[],
): CompiledRule[] {
  const { doc, loc, errors } = parseLocated(text, file);
  const err = (message: string, location: SourceLocation): void => {
    problems.push(new RampartError('RAMPART_E_POLICY_INVALID', message, { location }));
  };
  if (errors.length > 0) {
    for (const e of errors) err(e.message, e.location);
    return [];
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 64 });
  } catch (e) {
    err(messageOf(e), loc.at(0));
    return [];
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    err('a policy file is a mapping with apiVersion, kind, metadata and rules', loc.at(0));
    return [];
  }
  const top = raw as Record<string, unknown>;
  for (const k of Object.keys(top)) {
    if (!['apiVersion', 'kind', 'metadata', 'rules'].includes(k))
      err(`unknown key "${k}" (expected apiVersion, kind, metadata, rules)`, loc.key([], k));
  }
  if (top['apiVersion'] !== 'rampart.dev/v1')
    err('apiVersion must be "rampart.dev/v1"', loc.path(['apiVersion']));
  if (top['kind'] !== 'Policy') err('kind must be "Policy"', loc.path(['kind']));
  const meta = top['metadata'];
  if (typeof meta !== 'object' || meta === null || typeof (meta as { name?: unknown }).name !== 'string') {
    err('metadata.name is required', loc.path(['metadata']));
  }
  const list = top['rules'];
  if (!Array.isArray(list) || list.length === 0) {
    err('rules must be a non-empty list', loc.path(['rules']));
    return [];
  }
  const out: CompiledRule[] = [];
  list.forEach((item, i) => {
    const at = (k?: string): SourceLocation =>
      k === undefined ? loc.path(['rules', i]) : loc.path(['rules', i, k]);
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      err(`rules[${i}] must be a mapping`, at());
      return;
    }
    const r = item as Record<string, unknown>;
    let ok = true;
    const fail = (m: string, l: SourceLocation): void => {
      ok = false;
      err(m, l);
    };
    for (const k of Object.keys(r)) {
      if (!['name', 'description', 'effect', 'actions', 'resources', 'when', 'reason'].includes(k)) {
        fail(
          `rules[${i}]: unknown key "${k}" (expected name, description, effect, actions, resources, when, reason)`,
          loc.key(['rules', i], k),
        );
      }
    }
    const name = r['name'];
    if (typeof name !== 'string' || !NAME_RE.test(name))
      fail(`rules[${i}].name must be lower-case letters, digits, ".", "_" or "-"`, at('name'));
    const effect = r['effect'];
    if (effect !== 'allow' && effect !== 'deny')
      fail(`rules[${i}].effect must be "allow" or "deny"`, at('effect'));
    const listOf = (k: 'actions' | 'resources', re: RegExp, what: string): Set<string> | undefined => {
      const v = r[k];
      if (v === undefined) return undefined;
      if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string' && re.test(x))) {
        fail(`rules[${i}].${k} must be a non-empty list of ${what}`, at(k));
        return undefined;
      }
      return v.includes('*') ? undefined : new Set(v as string[]);
    };
    const actions = listOf('actions', ACTION_RE, 'actions such as task.run (or "*")');
    const resources = listOf('resources', TYPE_RE, 'resource types such as task');
    const when = r['when'];
    const reason = r['reason'];
    if (typeof reason !== 'string' || reason.trim() === '')
      fail(`rules[${i}].reason is required: say why the rule decides as it does`, at('reason'));
    if (typeof when !== 'string' || when.trim() === '') {
      fail(`rules[${i}].when is required: a CEL expression`, at('when'));
      return;
    }
    let evaluate: CompiledRule['evaluate'] | undefined;
    let guards: Guards | undefined;
    let native: CompiledRule['evaluate'] | undefined;
    try {
      const parsed = env.parse(when);
      const checked = parsed.check();
      if (!checked.valid) {
        const e = checked.error!;
        fail(`rules[${i}].when: ${celMessage(e)}`, loc.inScalar(['rules', i, 'when'], e.range?.start ?? 0));
      } else if (checked.type !== 'bool') {
        fail(`rules[${i}].when must be a boolean expression, not ${checked.type ?? 'unknown'}`, at('when'));
      } else {
        const { cost, problems: sp } = analyze(parsed.ast);
        for (const p of sp)
          fail(`rules[${i}].when: ${p.message}`, loc.inScalar(['rules', i, 'when'], p.offset));
        if (cost > COST_BUDGET) {
          fail(
            `rules[${i}].when may cost ${cost} steps on the largest input allowed (budget ${COST_BUDGET}); nest fewer comprehensions`,
            at('when'),
          );
        }
        // The typed subset runs as a JavaScript closure; everything else on cel-js.
        native = compileExpression(parsed.ast);
        evaluate = native ?? parsed;
        guards = extractGuards(parsed.ast);
      }
    } catch (e) {
      const pe = e as { range?: { start: number } };
      fail(`rules[${i}].when: ${celMessage(e)}`, loc.inScalar(['rules', i, 'when'], pe.range?.start ?? 0));
    }
    if (ok && evaluate && guards) {
      out.push({
        name: name as string,
        effect: effect as Effect,
        // `action == 'x'` in the expression indexes the rule as if `actions: [x]` were declared.
        actions: narrow(actions, guards.action),
        resources: narrow(resources, guards.resourceType),
        guard: guards.check,
        native: native !== undefined,
        when,
        reason: reason as string,
        location: at(),
        evaluate,
      });
    }
  });
  return out;
}

/** The declared set intersected with the one value the expression requires, if any. */
function narrow(declared: Set<string> | undefined, required: string | undefined): Set<string> | undefined {
  if (required === undefined) return declared;
  return !declared || declared.has(required) ? new Set([required]) : new Set();
}

// The CEL environment policies are written against, and the static checks every expression
// passes at load: types (against the declared input schema), a cost bound, and safe regexes.
//
// The input schema is declared as CEL types, so `principal.nmspace` is a load error with a
// position, not a surprise at decision time. Numbers: CEL integers are BigInt; `resource.port`
// is an int, attribute values from JSON stay doubles (CEL compares the two).

import { Environment, type ASTNode } from '@marcbachmann/cel-js';
import { COST_BUDGET, analyze as analyzeExpression, type StaticProblem } from '../cel/analyze.js';
import { cidrContains, glob, hostMatches } from '../cel/functions.js';
import { LIMITS } from './input.js';

export { COST_BUDGET, type StaticProblem };

/** The static checks, with the policy input's list bound. */
export const analyze = (ast: ASTNode): ReturnType<typeof analyzeExpression> =>
  analyzeExpression(ast, LIMITS.listItems);

/** The principal as rules see it (built by the engine from the input and the entity store). */
export class Principal {
  type = '';
  id = '';
  namespace = '';
  team = '';
  teams: string[] = [];
  capabilities: string[] = [];
  attributes: Record<string, unknown> = {};
}

/** The resource as rules see it. */
export class Resource {
  type = '';
  id = '';
  namespace = '';
  team = '';
  teams: string[] = [];
  owner = '';
  vault = '';
  capabilities: string[] = [];
  host = '';
  port = 0n;
  attributes: Record<string, unknown> = {};
}

export const PRINCIPAL_FIELDS = {
  type: 'string',
  id: 'string',
  namespace: 'string',
  team: 'string',
  teams: 'list<string>',
  capabilities: 'list<string>',
  attributes: 'map<string, dyn>',
} as const;

export const RESOURCE_FIELDS = {
  type: 'string',
  id: 'string',
  namespace: 'string',
  team: 'string',
  teams: 'list<string>',
  owner: 'string',
  vault: 'string',
  capabilities: 'list<string>',
  host: 'string',
  port: 'int',
  attributes: 'map<string, dyn>',
} as const;

export function createPolicyEnvironment(): Environment {
  return new Environment({ limits: { maxAstNodes: 2000, maxDepth: 48 } })
    .registerType('Principal', { ctor: Principal, fields: { ...PRINCIPAL_FIELDS } })
    .registerType('Resource', { ctor: Resource, fields: { ...RESOURCE_FIELDS } })
    .registerVariable('principal', 'Principal')
    .registerVariable('action', 'string')
    .registerVariable('resource', 'Resource')
    .registerVariable('context', 'map<string, dyn>')
    .registerFunction('hostMatches(string, string): bool', hostMatches)
    .registerFunction('hostMatchesAny(string, list<string>): bool', (h: string, ps: string[]) =>
      ps.some((p) => hostMatches(h, p)),
    )
    .registerFunction('glob(string, string): bool', glob)
    .registerFunction('cidrContains(string, string): bool', cidrContains);
}

// ---------------------------------------------------------------------------------------------
// Guards: cheap preconditions read off an expression at load.

/**
 * What the top-level `&&` chain of an expression requires, in forms checked without running CEL:
 * `action == 'x'` and `resource.type == 'x'` narrow the rule index; `principal.f == 'x'`,
 * `resource.f == 'x'` (string fields) and `'x' in principal.teams` (typed list fields) become a
 * plain JavaScript predicate run before the expression. Exact: when a conjunct is false, CEL's
 * `&&` is false whatever the other conjuncts do (errors included), so skipping is the same answer.
 */
export interface Guards {
  readonly action: string | undefined;
  readonly resourceType: string | undefined;
  readonly check: ((vars: GuardVars) => boolean) | undefined;
}

interface GuardVars {
  readonly principal: Principal;
  readonly resource: Resource;
}

type StringField<T> = { [K in keyof T]: T[K] extends string ? K : never }[keyof T];
type ListField<T> = { [K in keyof T]: T[K] extends string[] ? K : never }[keyof T];

export function extractGuards(ast: ASTNode): Guards {
  const conjuncts: ASTNode[] = [];
  const walk = (n: ASTNode): void => {
    if (n.op === '&&') {
      walk(n.args[0]);
      walk(n.args[1]);
    } else conjuncts.push(n);
  };
  walk(ast);
  let action: string | undefined;
  let resourceType: string | undefined;
  const checks: ((v: GuardVars) => boolean)[] = [];
  for (const c of conjuncts) {
    if (c.op === '==') {
      const [a, b] = c.args;
      const lit = literal(b) ?? literal(a);
      const other = literal(b) !== undefined ? a : b;
      if (lit === undefined) continue;
      if (other.op === 'id' && other.args === 'action') {
        action ??= lit;
        continue;
      }
      const f = fieldOf(other);
      if (!f) continue;
      const table: Record<string, string> = f.on === 'principal' ? PRINCIPAL_FIELDS : RESOURCE_FIELDS;
      if (table[f.field] !== 'string') continue;
      if (f.on === 'resource' && f.field === 'type') resourceType ??= lit;
      const field = f.field as StringField<Principal> & StringField<Resource>;
      checks.push(
        f.on === 'principal' ? (v) => v.principal[field] === lit : (v) => v.resource[field] === lit,
      );
    } else if (c.op === 'in') {
      const [a, b] = c.args;
      const lit = literal(a);
      const f = fieldOf(b);
      if (lit === undefined || !f) continue;
      const field = f.field as ListField<Principal> & ListField<Resource>;
      const table: Record<string, string> = f.on === 'principal' ? PRINCIPAL_FIELDS : RESOURCE_FIELDS;
      if (table[field] !== 'list<string>') continue;
      checks.push(
        f.on === 'principal'
          ? (v) => v.principal[field].includes(lit)
          : (v) => v.resource[field].includes(lit),
      );
    }
  }
  const check =
    checks.length === 0
      ? undefined
      : checks.length === 1
        ? checks[0]
        : (v: GuardVars): boolean => checks.every((g) => g(v));
  return { action, resourceType, check };
}

function literal(n: ASTNode): string | undefined {
  return n.op === 'value' && typeof n.args === 'string' ? n.args : undefined;
}

function fieldOf(n: ASTNode): { on: 'principal' | 'resource'; field: string } | undefined {
  if (n.op !== '.') return undefined;
  const [target, field] = n.args;
  if (target.op !== 'id' || (target.args !== 'principal' && target.args !== 'resource')) return undefined;
  return typeof field === 'string' ? { on: target.args, field } : undefined;
}

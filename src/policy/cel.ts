// The CEL environment policies are written against, and the static checks every expression
// passes at load: types (against the declared input schema), a cost bound, and safe regexes.
//
// The input schema is declared as CEL types, so `principal.nmspace` is a load error with a
// position, not a surprise at decision time. Numbers: CEL integers are BigInt; `resource.port`
// is an int, attribute values from JSON stay doubles (CEL compares the two).

import { Environment, type ASTNode } from '@marcbachmann/cel-js';
import { LIMITS } from './input.js';

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

/** Host pattern: exact, or "*.example.com" for any subdomain (not the apex). */
export function hostMatches(host: string, pattern: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  const p = pattern.toLowerCase().replace(/\.$/, '');
  if (p.startsWith('*.')) return h.endsWith(p.slice(1)) && h.length > p.length - 1;
  return h === p;
}

/** Glob with * and ?, linear-time (no backtracking blow-up). */
export function glob(s: string, pattern: string): boolean {
  let si = 0;
  let pi = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    if (pi < pattern.length && (pattern[pi] === '?' || pattern[pi] === s[si])) {
      si++;
      pi++;
    } else if (pi < pattern.length && pattern[pi] === '*') {
      star = pi++;
      mark = si;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pattern[pi] === '*') pi++;
  return pi === pattern.length;
}

function parseIPv4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  return out.every((n) => n >= 0 && n <= 255) ? out : undefined;
}

function parseIPv6(s: string): number[] | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.split('::').length > 2) return undefined;
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const words = (x: string | undefined): number[] | undefined => {
    if (x === undefined || x === '') return [];
    const out: number[] = [];
    for (const part of x.split(':')) {
      if (part.includes('.')) {
        const v4 = parseIPv4(part);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const h = words(head);
  const t = words(tail);
  if (!h || !t) return undefined;
  if (tail === undefined) return h.length === 8 ? h : undefined;
  if (h.length + t.length > 7) return undefined;
  return [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** Whether `ip` is inside `cidr` (IPv4 or IPv6). Malformed input is simply not contained. */
export function cidrContains(cidr: string, ip: string): boolean {
  const [net, bitsText] = cidr.split('/');
  if (net === undefined) return false;
  const v4 = parseIPv4(net);
  const target4 = parseIPv4(ip);
  const toBits = (words: number[], width: number): string =>
    words.map((w) => w.toString(2).padStart(width, '0')).join('');
  let a: string;
  let b: string;
  if (v4 && target4) {
    a = toBits(v4, 8);
    b = toBits(target4, 8);
  } else {
    const n6 = parseIPv6(net);
    const t6 = parseIPv6(ip);
    if (!n6 || !t6) return false;
    a = toBits(n6, 16);
    b = toBits(t6, 16);
  }
  const bits = bitsText === undefined ? a.length : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > a.length) return false;
  return a.slice(0, bits) === b.slice(0, bits);
}

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
// Static checks.

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
/** Most evaluation steps a rule may cost in the worst case the input limits allow. */
export const COST_BUDGET = 1_000_000;

export interface StaticProblem {
  readonly message: string;
  /** Offset in the expression. */
  readonly offset: number;
}

/**
 * Worst-case cost of an expression: every node costs one step, and a comprehension runs its body
 * once per element of the longest list the input may carry (LIMITS.listItems). Also rejects
 * `matches` with a pattern that is not a literal or that nests quantifiers: CEL's regexes are JS
 * regexes here, and a nested quantifier over attacker-controlled input can backtrack for ever.
 */
export function analyze(ast: ASTNode): { cost: number; problems: StaticProblem[] } {
  const problems: StaticProblem[] = [];
  const cost = (n: ASTNode): number => {
    switch (n.op) {
      case 'value':
      case 'id':
        return 1;
      case '.':
      case '.?':
        return 1 + cost(n.args[0]);
      case 'call':
        return 1 + n.args[1].reduce((s, a) => s + cost(a), 0);
      case 'rcall': {
        const [name, target, args] = n.args;
        if (name === 'matches') {
          const pat = args[0];
          if (!pat || pat.op !== 'value' || typeof pat.args !== 'string') {
            problems.push({
              message: 'matches() needs a literal pattern (a pattern built from input could be anything)',
              offset: n.range.start,
            });
          } else if (nestedQuantifier(pat.args)) {
            problems.push({
              message: `matches("${pat.args}") nests quantifiers, which can backtrack exponentially; use glob(), startsWith() or a flatter pattern`,
              offset: pat.range.start,
            });
          }
        }
        const rest = args.reduce((s, a) => s + cost(a), 0);
        return 1 + cost(target) + (COMPREHENSIONS.has(name) ? LIMITS.listItems * rest : rest);
      }
      case 'list':
        return 1 + n.args.reduce((s, a) => s + cost(a), 0);
      case 'map':
        return 1 + n.args.reduce((s, [k, v]) => s + cost(k) + cost(v), 0);
      case '?:':
        return 1 + cost(n.args[0]) + cost(n.args[1]) + cost(n.args[2]);
      case '!_':
      case '-_':
        return 1 + cost(n.args);
      default:
        return 1 + cost(n.args[0]) + cost(n.args[1]);
    }
  };
  return { cost: cost(ast), problems };
}

/** True when a quantified group contains a quantifier: (a+)+, (a*b)*, (x{2,})+ ... */
export function nestedQuantifier(pattern: string): boolean {
  const stack: boolean[] = []; // per open group: does it contain a quantifier?
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') {
      stack.push(false);
      // (?:, (?=, (?!, (?<=, (?<!, (?<name>: the ? is syntax, not a quantifier.
      if (pattern[i + 1] === '?') {
        i += 2;
        if (pattern[i] === '<' && pattern[i + 1] !== '=' && pattern[i + 1] !== '!')
          while (i < pattern.length && pattern[i] !== '>') i++;
        else if (pattern[i] === '<') i++;
      }
    } else if (c === ')') {
      const had = stack.pop() ?? false;
      const next = pattern[i + 1];
      if (had && (next === '*' || next === '+' || next === '{' || next === '?')) return true;
      if (had && stack.length > 0) stack[stack.length - 1] = true;
    } else if ((c === '*' || c === '+' || c === '{' || c === '?') && stack.length > 0) {
      stack[stack.length - 1] = true;
    }
  }
  return false;
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

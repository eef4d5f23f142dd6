// The compiled parts of a rule that are not YAML structure: conditions and macros (CEL, checked
// against the detection environment), the event types a condition can match (its index key),
// structured exceptions and output templates. Each is compiled once, at load; evaluating one is
// calling a closure.

import { Environment, type ASTNode } from '@marcbachmann/cel-js';
import { COST_BUDGET, analyze, celMessage } from '../cel/analyze.js';
import { compileTyped, constant, type CompileSchema, type Typed } from '../cel/compile.js';
import { generateExpression } from '../cel/generate.js';
import { base64Blob, cidrContains, glob, globAny, hostMatches, randomLooking } from '../cel/functions.js';
import { CLASSES, FIELDS, fieldType, fieldValue, type DetectInput } from './fields.js';

/** Longest list an event carries (argv, flags): the cost bound's worst case. */
const LIST_ITEMS = 1024;

export function createDetectEnvironment(): Environment {
  let env = new Environment({ limits: { maxAstNodes: 2000, maxDepth: 48 } });
  const typeNames = { evt: 'Evt', proc: 'Proc', file: 'FileRef', net: 'Net', syscall: 'Syscall' } as const;
  for (const [object, ctor] of Object.entries(CLASSES)) {
    const name = typeNames[object as keyof typeof typeNames];
    env = env
      .registerType(name, { ctor, fields: { ...FIELDS[object as keyof typeof FIELDS] } })
      .registerVariable(object, name);
  }
  return env
    .registerVariable('data', 'map<string, dyn>')
    .registerFunction('hostMatches(string, string): bool', hostMatches)
    .registerFunction('hostMatchesAny(string, list<string>): bool', (h: string, ps: string[]) =>
      ps.some((p) => hostMatches(h, p)),
    )
    .registerFunction('glob(string, string): bool', glob)
    .registerFunction('globAny(string, list<string>): bool', globAny)
    .registerFunction('cidrContains(string, string): bool', cidrContains)
    .registerFunction('randomLooking(string): bool', randomLooking)
    .registerFunction('base64Blob(string): bool', base64Blob);
}

/** A named list or macro, as conditions refer to them. */
export interface Named {
  readonly kind: 'list' | 'macro';
  readonly items?: readonly string[];
  readonly ast?: ASTNode;
  /** The macro's closure, when it is in the compiled subset. */
  readonly typed?: Typed;
  /** The macro on cel-js, for rules outside the subset. */
  readonly program?: (ctx: Record<string, unknown>) => unknown;
  /** The event types a macro can be true for (see typesOf). */
  readonly types?: ReadonlySet<string>;
}

/** A problem in a rule's part (an exception, an output), reported by the loader at its location. */
export class RuleProblem extends Error {
  override readonly name = 'RuleProblem';
}

export type Evaluate = (input: DetectInput) => boolean;

export interface CheckedCondition {
  readonly ast: ASTNode;
  readonly evaluate: Evaluate;
  readonly native: boolean;
  /** Event types the condition can match; undefined: any. */
  readonly types: ReadonlySet<string> | undefined;
}

export interface ConditionProblem {
  readonly message: string;
  readonly offset: number;
}

/**
 * Parses, type-checks and cost-checks a condition (or a macro's) in `env`, where every list and
 * macro defined so far is a variable; compiles it to a closure when it is in the typed subset.
 */
export function checkCondition(
  text: string,
  env: Environment,
  named: ReadonlyMap<string, Named>,
): CheckedCondition | ConditionProblem[] {
  let parsed;
  try {
    parsed = env.parse(text);
  } catch (e) {
    return [{ message: celMessage(e), offset: (e as { range?: { start: number } }).range?.start ?? 0 }];
  }
  const checked = parsed.check();
  if (!checked.valid) {
    const e = checked.error!;
    return [{ message: celMessage(e), offset: (e as { range?: { start: number } }).range?.start ?? 0 }];
  }
  if (checked.type !== 'bool')
    return [{ message: `a condition is a boolean expression, not ${checked.type ?? 'unknown'}`, offset: 0 }];
  const { cost, problems } = analyze(parsed.ast, LIST_ITEMS);
  if (problems.length > 0) return problems;
  if (cost > COST_BUDGET)
    return [
      { message: `may cost ${cost} steps (budget ${COST_BUDGET}); nest fewer comprehensions`, offset: 0 },
    ];
  const schema: CompileSchema = {
    objects: FIELDS,
    id: (name) => {
      const n = named.get(name);
      if (!n) return undefined;
      return n.kind === 'list' ? constant('list<string>', n.items) : n.typed;
    },
  };
  const typed = compileTyped(parsed.ast, schema);
  const types = typesOf(parsed.ast, named);
  if (typed?.kind === 'bool') {
    // One generated function per condition (cel/generate.ts); the closures where it cannot be.
    const fn = (generateExpression(parsed.ast, schema) ?? typed.fn) as Evaluate;
    return { ast: parsed.ast, evaluate: fn, native: true, types };
  }
  // Outside the subset: cel-js, with lists as values and macros as getters over the same event.
  const proto: Record<string, unknown> = {};
  for (const [name, n] of named) {
    if (n.kind === 'list') proto[name] = n.items;
    else
      Object.defineProperty(proto, name, {
        enumerable: true,
        get(this: Record<string, unknown>) {
          return n.program!(this);
        },
      });
  }
  const program = parsed as unknown as (ctx: Record<string, unknown>) => unknown;
  const evaluate: Evaluate = (input) => {
    const ctx = Object.create(proto) as Record<string, unknown>;
    Object.assign(ctx, input);
    return program(ctx) === true;
  };
  return { ast: parsed.ast, evaluate, native: false, types };
}

/** The macro form of a checked condition: its closure for compiled rules, its program for cel-js. */
export function macroOf(c: CheckedCondition): Named {
  return {
    kind: 'macro',
    ast: c.ast,
    ...(c.native ? { typed: { kind: 'bool' as const, fn: c.evaluate as Typed['fn'] } } : {}),
    program: (ctx) => c.evaluate(ctx as unknown as DetectInput),
    ...(c.types ? { types: c.types } : {}),
  };
}

/**
 * The event types an expression can be true for: `evt.type == 'x'`, `evt.type in [...]` (or a
 * list), and macros that say so, through && (intersection) and || (union). undefined: any type.
 */
export function typesOf(n: ASTNode, named: ReadonlyMap<string, Named>): Set<string> | undefined {
  const isEvtType = (x: ASTNode): boolean =>
    x.op === '.' && x.args[0].op === 'id' && x.args[0].args === 'evt' && x.args[1] === 'type';
  switch (n.op) {
    case '==': {
      const [a, b] = n.args;
      if (isEvtType(a) && b.op === 'value' && typeof b.args === 'string') return new Set([b.args]);
      if (isEvtType(b) && a.op === 'value' && typeof a.args === 'string') return new Set([a.args]);
      return undefined;
    }
    case 'in': {
      const [a, b] = n.args;
      if (!isEvtType(a)) return undefined;
      if (b.op === 'list' && b.args.every((x) => x.op === 'value' && typeof x.args === 'string'))
        return new Set(b.args.map((x) => x.args as string));
      if (b.op === 'id' && typeof b.args === 'string') {
        const l = named.get(b.args);
        if (l?.kind === 'list') return new Set(l.items);
      }
      return undefined;
    }
    case 'id': {
      const m = typeof n.args === 'string' ? named.get(n.args) : undefined;
      return m?.kind === 'macro' && m.types ? new Set(m.types) : undefined;
    }
    case '&&': {
      const a = typesOf(n.args[0], named);
      const b = typesOf(n.args[1], named);
      if (!a) return b;
      if (!b) return a;
      return new Set([...a].filter((t) => b.has(t)));
    }
    case '||': {
      const a = typesOf(n.args[0], named);
      const b = typesOf(n.args[1], named);
      return a && b ? new Set([...a, ...b]) : undefined;
    }
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Exceptions: known-good cases as field/value tuples, so a rule is narrowed, never disabled.

export const EXCEPTION_COMPS = ['=', '!=', 'in', 'startswith', 'endswith', 'contains', 'glob'] as const;
export type Comp = (typeof EXCEPTION_COMPS)[number];

/** One comparison of an exception tuple, compiled; throws a message string when it cannot be. */
export function compileComparison(
  field: string,
  comp: Comp,
  value: unknown,
): (input: DetectInput) => boolean {
  const type = fieldType(field);
  if (type === undefined) throw new RuleProblem(`unknown field "${field}"`);
  const get = (i: DetectInput): unknown => fieldValue(i, field);
  const asString = (v: unknown): string => (typeof v === 'bigint' ? v.toString() : String(v));
  if (comp === 'in') {
    if (!Array.isArray(value) || !value.every((x) => ['string', 'number', 'boolean'].includes(typeof x)))
      throw new RuleProblem(`"in" takes a list of values for ${field}`);
    const set = new Set(value.map(asString));
    return (i) => set.has(asString(get(i)));
  }
  if (!['string', 'number', 'boolean'].includes(typeof value))
    throw new RuleProblem(`the value for ${field} must be a scalar`);
  const want = asString(value);
  if (type === 'list<string>') {
    if (comp !== 'contains') throw new RuleProblem(`${field} is a list: compare it with "contains"`);
    return (i) => (get(i) as string[]).includes(want);
  }
  if (type === 'int' && !/^-?\d+$/.test(want))
    throw new RuleProblem(`${field} is an integer: ${JSON.stringify(value)} is not`);
  if (type === 'bool' && want !== 'true' && want !== 'false')
    throw new RuleProblem(`${field} is true or false`);
  switch (comp) {
    case '=':
      return (i) => asString(get(i)) === want;
    case '!=':
      return (i) => asString(get(i)) !== want;
    case 'startswith':
      return (i) => asString(get(i)).startsWith(want);
    case 'endswith':
      return (i) => asString(get(i)).endsWith(want);
    case 'contains':
      return (i) => asString(get(i)).includes(want);
    case 'glob':
      return (i) => glob(asString(get(i)), want);
  }
}

// ---------------------------------------------------------------------------------------------
// Output templates: "%proc.name read %file.path", fields checked at load; %% is a percent sign.

export type Output = (input: DetectInput) => string;

/** Compiles an output template; throws a message string naming an unknown field. */
export function compileOutput(text: string): { render: Output; fields: string[] } {
  const parts: (string | { field: string })[] = [];
  const fields: string[] = [];
  let last = 0;
  for (const m of text.matchAll(/%%|%([a-z]+\.[A-Za-z_][A-Za-z0-9_]*)/g)) {
    parts.push(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[0] === '%%') {
      parts.push('%');
      continue;
    }
    if (fieldType(m[1]!) === undefined) throw new RuleProblem(`unknown field "%${m[1]}" in the output`);
    parts.push({ field: m[1]! });
    fields.push(m[1]!);
  }
  parts.push(text.slice(last));
  const show = (v: unknown): string => {
    if (v === undefined || v === null || v === '') return '<none>';
    if (Array.isArray(v)) return v.join(' ');
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
    return JSON.stringify(v) ?? '<none>';
  };
  return {
    fields,
    render: (input) =>
      parts.map((p) => (typeof p === 'string' ? p : show(fieldValue(input, p.field)))).join(''),
  };
}

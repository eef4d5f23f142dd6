// A compiler from CEL expressions to JavaScript closures, for the typed subset most rules are
// written in: fields of the declared objects (`principal.team`, `proc.name`), identifiers the
// caller resolves (`action`; a detection rule's lists and macros), string/int/bool literals,
// equality, integer comparison, &&, ||, !, ?:, `in` over string lists, size() of lists,
// startsWith, endsWith, contains, matches with a literal pattern, and Rampart's host/glob/CIDR
// functions.
//
// Why: cel-js interprets the AST and checks types at run time, about half a microsecond per rule;
// a closure over typed fields costs a few nanoseconds. Why it is exact: every operation in the
// subset is total on its statically checked operand types (no missing field, no overflow, no
// type error), so CEL's error-absorbing `&&`/`||` reduce to JavaScript's short-circuit operators,
// and each remaining operator means the same in both languages. Anything outside the subset
// (maps, comprehensions, doubles, string ordering, string size) returns undefined and the rule
// runs on cel-js. test/policy/compile.test.ts checks the two agree on generated expressions and
// inputs.

import type { ASTNode } from '@marcbachmann/cel-js';
import {
  base64Blob,
  cidrContains,
  compileGlob,
  compileHostPattern,
  glob,
  globAny,
  hostMatches,
  randomLooking,
} from './functions.js';

export type Kind = 'string' | 'int' | 'bool' | 'list<string>' | 'list<int>';
// The variables are whatever the caller evaluates against; the schema is what makes them typed.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Fn = (v: any) => unknown;
type Objects = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

export interface Typed {
  readonly kind: Kind;
  readonly fn: Fn;
  /** The value, when the expression is a constant (folded into Sets and comparisons). */
  readonly constant?: unknown;
}

export interface CompileSchema {
  /** Top-level objects and their fields' CEL types; `v[object][field]` at run time. */
  readonly objects: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Other identifiers (`action`, a list, a macro): their typed closure, or undefined. */
  readonly id?: (name: string) => Typed | undefined;
}

/** The expression as a closure, or undefined when it uses anything outside the subset. */
export function compileExpression<V>(ast: ASTNode, schema: CompileSchema): ((v: V) => boolean) | undefined {
  const t = compileTyped(ast, schema);
  return t?.kind === 'bool' ? (t.fn as (v: V) => boolean) : undefined;
}

export const FUNCTIONS: Record<string, { args: readonly Kind[]; fn: (...a: never[]) => boolean }> = {
  hostMatches: { args: ['string', 'string'], fn: hostMatches },
  hostMatchesAny: {
    args: ['string', 'list<string>'],
    fn: (h: string, ps: string[]) => ps.some((p) => hostMatches(h, p)),
  },
  glob: { args: ['string', 'string'], fn: glob },
  globAny: { args: ['string', 'list<string>'], fn: globAny },
  cidrContains: { args: ['string', 'string'], fn: cidrContains },
  randomLooking: { args: ['string'], fn: randomLooking },
  base64Blob: { args: ['string'], fn: base64Blob },
};

export function constant(kind: Kind, value: unknown): Typed {
  return { kind, fn: () => value, constant: value };
}

/** The typed closure of any expression in the subset (macros compile through this). */
export function compileTyped(n: ASTNode, schema: CompileSchema): Typed | undefined {
  const compile = (x: ASTNode): Typed | undefined => compileTyped(x, schema);
  switch (n.op) {
    case 'value': {
      const v: unknown = n.args;
      if (typeof v === 'string') return constant('string', v);
      if (typeof v === 'bigint') return constant('int', v);
      if (typeof v === 'boolean') return constant('bool', v);
      return undefined;
    }
    case 'id':
      return typeof n.args === 'string' ? schema.id?.(n.args) : undefined;
    case '.':
      return field(n.args[0], n.args[1], schema);
    case '==':
    case '!=': {
      const a = compile(n.args[0]);
      const b = compile(n.args[1]);
      if (!a || !b || a.kind !== b.kind || a.kind === 'list<string>') return undefined;
      const fa = a.fn;
      const fb = b.fn;
      if (b.constant !== undefined) {
        const c = b.constant;
        return { kind: 'bool', fn: n.op === '==' ? (v) => fa(v) === c : (v) => fa(v) !== c };
      }
      return { kind: 'bool', fn: n.op === '==' ? (v) => fa(v) === fb(v) : (v) => fa(v) !== fb(v) };
    }
    case '<':
    case '<=':
    case '>':
    case '>=': {
      // Integers only: CEL orders strings by code point, JavaScript by UTF-16 unit.
      const a = compile(n.args[0]);
      const b = compile(n.args[1]);
      if (a?.kind !== 'int' || b?.kind !== 'int') return undefined;
      const fa = a.fn as (v: unknown) => bigint;
      const fb = b.fn as (v: unknown) => bigint;
      switch (n.op) {
        case '<':
          return { kind: 'bool', fn: (v) => fa(v) < fb(v) };
        case '<=':
          return { kind: 'bool', fn: (v) => fa(v) <= fb(v) };
        case '>':
          return { kind: 'bool', fn: (v) => fa(v) > fb(v) };
        default:
          return { kind: 'bool', fn: (v) => fa(v) >= fb(v) };
      }
    }
    case '&&':
    case '||': {
      const a = compile(n.args[0]);
      const b = compile(n.args[1]);
      if (a?.kind !== 'bool' || b?.kind !== 'bool') return undefined;
      const fa = a.fn;
      const fb = b.fn;
      return {
        kind: 'bool',
        fn: n.op === '&&' ? (v) => fa(v) === true && fb(v) === true : (v) => fa(v) === true || fb(v) === true,
      };
    }
    case '!_': {
      const a = compile(n.args);
      if (a?.kind !== 'bool') return undefined;
      const fa = a.fn;
      return { kind: 'bool', fn: (v) => fa(v) !== true };
    }
    case '?:': {
      const c = compile(n.args[0]);
      const a = compile(n.args[1]);
      const b = compile(n.args[2]);
      if (c?.kind !== 'bool' || !a || !b || a.kind !== b.kind) return undefined;
      const fc = c.fn;
      const fa = a.fn;
      const fb = b.fn;
      return { kind: a.kind, fn: (v) => (fc(v) === true ? fa(v) : fb(v)) };
    }
    case 'in': {
      const a = compile(n.args[0]);
      const b = compile(n.args[1]);
      const ok =
        (a?.kind === 'string' && b?.kind === 'list<string>') ||
        (a?.kind === 'int' && b?.kind === 'list<int>');
      if (!a || !b || !ok) return undefined;
      const fa = a.fn as (v: unknown) => string;
      if (Array.isArray(b.constant)) {
        const set = new Set(b.constant as string[]);
        return { kind: 'bool', fn: (v) => set.has(fa(v)) };
      }
      const fb = b.fn as (v: unknown) => readonly string[];
      return { kind: 'bool', fn: (v) => fb(v).includes(fa(v)) };
    }
    case 'list': {
      // Literal lists of strings or of integers (`net.port in [3333, 4444]`).
      const items = n.args.map(compile);
      for (const kind of ['string', 'int'] as const)
        if (items.length > 0 && items.every((t) => t?.kind === kind && t.constant !== undefined))
          return constant(`list<${kind}>`, Object.freeze(items.map((t) => t!.constant)));
      if (items.length === 0) return constant('list<string>', Object.freeze([]));
      return undefined;
    }
    case 'call': {
      const [name, args] = n.args;
      const f = FUNCTIONS[name];
      if (!f || args.length !== f.args.length) return undefined;
      const compiled = args.map(compile);
      if (!compiled.every((t, i) => t?.kind === f.args[i])) return undefined;
      const [f0, f1] = compiled.map((t) => t!.fn) as [Fn, Fn | undefined];
      // A constant pattern (or list of them) is prepared once, here, not on every call.
      const prepared = preparedCall(name, compiled[1]?.constant);
      if (prepared) return { kind: 'bool', fn: (v) => prepared(f0(v) as string) };
      const call = f.fn as (...a: unknown[]) => boolean;
      if (!f1) return { kind: 'bool', fn: (v) => call(f0(v)) };
      return { kind: 'bool', fn: (v) => call(f0(v), f1(v)) };
    }
    case 'rcall':
      return method(n.args[0], n.args[1], n.args[2], compile);
    default:
      return undefined;
  }
}

/** The call with its constant second argument prepared, for the functions that take patterns. */
export function preparedCall(name: string, arg: unknown): ((s: string) => boolean) | undefined {
  if (arg === undefined) return undefined;
  const any = (ms: ((s: string) => boolean)[]): ((s: string) => boolean) =>
    ms.length === 1 ? ms[0]! : (s) => ms.some((m) => m(s));
  switch (name) {
    case 'glob':
      return compileGlob(arg as string);
    case 'globAny':
      return any((arg as string[]).map(compileGlob));
    case 'hostMatches':
      return compileHostPattern(arg as string);
    case 'hostMatchesAny':
      return any((arg as string[]).map(compileHostPattern));
    default:
      return undefined;
  }
}

function method(
  name: string,
  target: ASTNode,
  args: readonly ASTNode[],
  compile: (x: ASTNode) => Typed | undefined,
): Typed | undefined {
  const t = compile(target);
  if (!t) return undefined;
  const ft = t.fn;
  if (name === 'size' && args.length === 0 && (t.kind === 'list<string>' || t.kind === 'list<int>'))
    return { kind: 'int', fn: (v) => BigInt((ft(v) as readonly string[]).length) };
  if (args.length !== 1 || t.kind !== 'string') return undefined;
  const fs = ft as (v: unknown) => string;
  if (name === 'matches') {
    // A literal pattern only (the static checks refuse others): compiled once, here, exactly as
    // cel-js compiles it on every call (new RegExp(pattern), no flags).
    const p = args[0]!;
    if (p.op !== 'value' || typeof p.args !== 'string') return undefined;
    let re: RegExp;
    try {
      re = new RegExp(p.args);
    } catch {
      return undefined;
    }
    return { kind: 'bool', fn: (v) => re.test(fs(v)) };
  }
  if (name !== 'startsWith' && name !== 'endsWith' && name !== 'contains') return undefined;
  const a = compile(args[0]!);
  if (a?.kind !== 'string') return undefined;
  const fa = a.fn as (v: unknown) => string;
  if (name === 'startsWith') return { kind: 'bool', fn: (v) => fs(v).startsWith(fa(v)) };
  if (name === 'endsWith') return { kind: 'bool', fn: (v) => fs(v).endsWith(fa(v)) };
  return { kind: 'bool', fn: (v) => fs(v).includes(fa(v)) };
}

function field(target: ASTNode, name: unknown, schema: CompileSchema): Typed | undefined {
  if (target.op !== 'id' || typeof name !== 'string' || typeof target.args !== 'string') return undefined;
  const object = target.args;
  const fields = Object.hasOwn(schema.objects, object) ? schema.objects[object] : undefined;
  if (!fields || !Object.hasOwn(fields, name)) return undefined;
  const kind = kindOf(fields[name]);
  if (!kind) return undefined;
  return { kind, fn: accessor(object, name) };
}

export const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `(v) => v.object.name`, as a named property load: a closure over computed keys (v[o][n]) is a
 * keyed load that V8 cannot specialize, several times slower on the rule engine's hot path. The
 * names are the schema's own identifiers (a rule can only name fields the schema declares), and
 * anything else gets the keyed form.
 */
function accessor(object: string, name: string): Fn {
  if (!IDENT.test(object) || !IDENT.test(name)) return (v: Objects) => v[object]![name];
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('v', `return v.${object}.${name};`) as Fn;
}

function kindOf(t: string | undefined): Kind | undefined {
  return t === 'string' || t === 'int' || t === 'bool' || t === 'list<string>' ? t : undefined;
}

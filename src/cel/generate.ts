// Code generation for the typed subset: one JavaScript function per expression, built once at
// load. The closure compiler (compile.ts) nests one small function per AST node; their shared
// call sites see every rule's closures and V8 cannot inline through them, so a rule of a dozen
// nodes costs a dozen megamorphic calls. Here the whole expression becomes one function body
// that V8 optimizes on its own: named property loads, inlined comparisons.
//
// Why it is safe: the source is built only from the AST of an expression that already compiled
// (so every node is in the subset and type-checked), field names that match the schema and an
// identifier pattern, integer literals (`123n`), and JSON string literals; every other value
// (Sets, regexes, lists, functions, macros) is passed in the constants array `k`, never written
// into the source. test/policy/compile.test.ts checks generated functions against cel-js.

import type { ASTNode } from '@marcbachmann/cel-js';
import { FUNCTIONS, IDENT, compileTyped, preparedCall, type CompileSchema, type Typed } from './compile.js';

/** The expression as one generated function, or undefined when it is outside the subset. */
export function generateExpression<V>(ast: ASTNode, schema: CompileSchema): ((v: V) => boolean) | undefined {
  const top = compileTyped(ast, schema);
  if (top?.kind !== 'bool') return undefined;
  const k: unknown[] = [];
  const js = source(ast, schema, k);
  if (js === undefined) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const make = new Function('k', `"use strict"; return (v) => ${js};`) as (k: unknown[]) => (v: V) => boolean;
  return make(k);
}

function source(n: ASTNode, schema: CompileSchema, k: unknown[]): string | undefined {
  const put = (value: unknown): string => `k[${k.push(value) - 1}]`;
  const sub = (x: ASTNode): string | undefined => source(x, schema, k);
  const typed = (x: ASTNode): Typed | undefined => compileTyped(x, schema);
  const both = (op: string, a: ASTNode, b: ASTNode): string | undefined => {
    const sa = sub(a);
    const sb = sub(b);
    return sa === undefined || sb === undefined ? undefined : `(${sa} ${op} ${sb})`;
  };
  switch (n.op) {
    case 'value': {
      const v: unknown = n.args;
      if (typeof v === 'string') return JSON.stringify(v);
      if (typeof v === 'bigint') return `${v}n`;
      if (typeof v === 'boolean') return String(v);
      return undefined;
    }
    case 'id': {
      const t = typeof n.args === 'string' ? schema.id?.(n.args) : undefined;
      if (!t) return undefined;
      if (t.constant !== undefined) return put(t.constant);
      return `${put(t.fn)}(v)`;
    }
    case '.': {
      const [target, name] = n.args;
      if (target.op !== 'id' || typeof target.args !== 'string' || typeof name !== 'string') return undefined;
      if (!IDENT.test(target.args) || !IDENT.test(name) || !typed(n)) return undefined;
      return `v.${target.args}.${name}`;
    }
    case '==':
      return both('===', n.args[0], n.args[1]);
    case '!=':
      return both('!==', n.args[0], n.args[1]);
    case '<':
    case '<=':
    case '>':
    case '>=':
    case '&&':
    case '||':
      return both(n.op, n.args[0], n.args[1]);
    case '!_': {
      const a = sub(n.args);
      return a === undefined ? undefined : `(!${a})`;
    }
    case '?:': {
      const [c, a, b] = n.args.map(sub);
      return c === undefined || a === undefined || b === undefined ? undefined : `(${c} ? ${a} : ${b})`;
    }
    case 'in': {
      const a = sub(n.args[0]);
      const list = typed(n.args[1]);
      if (a === undefined || !list) return undefined;
      if (Array.isArray(list.constant)) return `${put(new Set(list.constant as string[]))}.has(${a})`;
      const b = sub(n.args[1]);
      return b === undefined ? undefined : `${b}.includes(${a})`;
    }
    case 'list': {
      const t = typed(n);
      return t?.constant === undefined ? undefined : put(t.constant);
    }
    case 'call': {
      const [name, args] = n.args;
      const f = FUNCTIONS[name];
      if (!f) return undefined;
      const parts = args.map(sub);
      if (parts.some((x) => x === undefined)) return undefined;
      const prepared = args.length === 2 ? preparedCall(name, typed(args[1]!)?.constant) : undefined;
      if (prepared) return `${put(prepared)}(${parts[0]})`;
      return `${put(f.fn)}(${parts.join(', ')})`;
    }
    case 'rcall': {
      const [name, target, args] = n.args;
      const t = sub(target);
      if (t === undefined) return undefined;
      if (name === 'size') return `BigInt(${t}.length)`;
      if (name === 'matches') {
        const p = args[0];
        if (!p || p.op !== 'value' || typeof p.args !== 'string') return undefined;
        return `${put(new RegExp(p.args))}.test(${t})`;
      }
      const a = args[0] ? sub(args[0]) : undefined;
      if (a === undefined) return undefined;
      if (name === 'startsWith' || name === 'endsWith') return `${t}.${name}(${a})`;
      if (name === 'contains') return `${t}.includes(${a})`;
      return undefined;
    }
    default:
      return undefined;
  }
}

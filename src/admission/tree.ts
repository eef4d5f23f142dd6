// A located tree: YAML (and JSON, which is YAML) converted once into plain nodes that each remember
// the file, line and column they came from. Everything admission reports points at one of these,
// and Compose files merged from several sources keep each value's own origin.
//
// Conversion is where hostile input is stopped: aliases are expanded with a budget (an alias bomb
// of a few hundred bytes would otherwise expand to billions of nodes), nesting is bounded, and YAML
// merge keys (`<<`) are applied the way Compose applies them (explicit keys win).

import { findDeepNesting, nestingMessage } from '../core/nesting.js';
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Document,
  type Node,
} from 'yaml';
import type { SourceLocation } from '../core/errors.js';
import { fastTrees } from '../core/fastyaml.js';
import type { LNode, Scalar, TreeLimits } from '../core/located.js';
import { messageOf } from '../core/errors.js';

export type { LMap, LNode, LScalar, LSeq, Scalar, TreeLimits } from '../core/located.js';
export { toPlain } from '../core/located.js';

/** Input that cannot be read as a spec: what is wrong and where. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    message: string,
    readonly location: SourceLocation,
  ) {
    super(message);
  }
}

export const DEFAULT_LIMITS: TreeLimits = { maxNodes: 500_000, maxDepth: 64 };

/** Parses every document in a YAML (or JSON) text; errors carry positions. */
export function parseTrees(text: string, file: string, limits: TreeLimits = DEFAULT_LIMITS): LNode[] {
  return fastTrees(text, file, limits, '1.1') ?? libraryTrees(text, file, limits);
}

/** parseTrees through the yaml library: every construct, every error (the fast path's fallback). */
export function libraryTrees(
  text: string,
  file: string,
  limits: TreeLimits = DEFAULT_LIMITS,
  version: '1.1' | '1.2' = '1.1',
): LNode[] {
  const lines = new LineCounter();
  const at = (offset: number): SourceLocation => {
    const p = lines.linePos(offset);
    return { file, line: p.line, column: p.col };
  };
  const deep = findDeepNesting(text, limits.maxDepth);
  if (deep) throw new InputError(nestingMessage(deep), { file, line: deep.line, column: deep.column });
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text, {
      // YAML 1.1 for specs, as Docker and Kubernetes read them (`mode: 0440` is octal there).
      version,
      lineCounter: lines,
      uniqueKeys: true,
      prettyErrors: false,
      strict: true,
    }) as Document.Parsed[];
  } catch (e) {
    throw new InputError(`cannot parse: ${messageOf(e)}`, at(0));
  }
  if (!Array.isArray(docs)) docs = [docs];
  const out: LNode[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) throw new InputError(err.message.split('\n')[0] ?? err.message, at(err.pos[0]));
    if (doc.contents === null) continue; // an empty document (a trailing ---)
    let budget = limits.maxNodes;
    const convert = (node: unknown, depth: number, origin: number): LNode => {
      if (--budget < 0)
        throw new InputError(
          `the document expands to more than ${limits.maxNodes} nodes (an alias bomb?)`,
          at(origin),
        );
      if (depth > limits.maxDepth)
        throw new InputError(
          `nested deeper than ${limits.maxDepth} levels (the most Rampart reads)`,
          at(origin),
        );
      if (isAlias(node)) {
        const target = node.resolve(doc);
        if (!target) throw new InputError(`unknown alias *${node.source}`, at(node.range?.[0] ?? origin));
        return convert(target, depth + 1, node.range?.[0] ?? origin);
      }
      const n = node as Node;
      const pos = n.range?.[0] ?? origin;
      if (isScalar(n)) {
        const v = n.value;
        const value: Scalar =
          v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
            ? v
            : typeof v === 'bigint'
              ? Number(v)
              : v instanceof Date
                ? v.toISOString() // YAML 1.1 timestamps (an exception's expiry)
                : JSON.stringify(v);
        return { kind: 'scalar', value, loc: at(pos) };
      }
      if (isSeq(n)) {
        return { kind: 'seq', items: n.items.map((i) => convert(i, depth + 1, pos)), loc: at(pos) };
      }
      if (isMap(n)) {
        const entries = new Map<string, LNode>();
        const keys = new Map<string, SourceLocation>();
        const merges: LNode[] = [];
        for (const item of n.items) {
          if (!isPair(item)) continue;
          const k = item.key;
          const keyPos = (k as Node | null)?.range?.[0] ?? pos;
          // Under YAML 1.1 the yaml library reads a plain `<<` key as a merge key, a symbol.
          const merge =
            isScalar(k) && k.type === 'PLAIN' && (typeof k.value === 'symbol' || k.value === '<<');
          if (!merge && (!isScalar(k) || (typeof k.value !== 'string' && typeof k.value !== 'number')))
            throw new InputError('keys must be strings', at(keyPos));
          const key = merge ? '<<' : String((k as { value: string | number }).value);
          const value: LNode =
            item.value === null
              ? { kind: 'scalar', value: null, loc: at(keyPos) }
              : convert(item.value, depth + 1, keyPos);
          if (merge) {
            merges.push(value);
            continue;
          }
          entries.set(key, value);
          keys.set(key, at(keyPos));
        }
        // Merge keys: earlier sources win over later ones, explicit keys over all of them.
        for (const m of merges) {
          for (const src of m.kind === 'seq' ? m.items : [m]) {
            if (src.kind !== 'map') throw new InputError('a merge key (<<) needs a mapping', src.loc);
            for (const [k, v] of src.entries)
              if (!entries.has(k)) {
                entries.set(k, v);
                keys.set(k, src.keys.get(k) ?? src.loc);
              }
          }
        }
        return { kind: 'map', entries, keys, loc: at(pos) };
      }
      throw new InputError('unsupported YAML node', at(pos));
    };
    out.push(convert(doc.contents, 0, 0));
  }
  return out;
}

// Readers. Each takes a node that may be absent and returns a plain value, or undefined when the
// node is absent or of another type (a type problem is reported by the caller, which knows what
// was expected).

export function get(n: LNode | undefined, ...path: string[]): LNode | undefined {
  let cur = n;
  for (const k of path) {
    if (!cur || cur.kind !== 'map') return undefined;
    cur = cur.entries.get(k);
  }
  return cur;
}

export function str(n: LNode | undefined): string | undefined {
  if (!n || n.kind !== 'scalar' || n.value === null) return undefined;
  return String(n.value);
}

export function bool(n: LNode | undefined): boolean | undefined {
  if (!n || n.kind !== 'scalar') return undefined;
  if (typeof n.value === 'boolean') return n.value;
  if (n.value === 'true' || n.value === 'True') return true;
  if (n.value === 'false' || n.value === 'False') return false;
  return undefined;
}

export function num(n: LNode | undefined): number | undefined {
  if (!n || n.kind !== 'scalar') return undefined;
  if (typeof n.value === 'number') return n.value;
  if (typeof n.value === 'string' && /^-?\d+(\.\d+)?$/.test(n.value)) return Number(n.value);
  return undefined;
}

export function items(n: LNode | undefined): LNode[] {
  return n && n.kind === 'seq' ? n.items : [];
}

export function entries(n: LNode | undefined): [string, LNode][] {
  return n && n.kind === 'map' ? [...n.entries] : [];
}

/** The location of key `k` in map `n`, or of `n` itself. */
export function keyLoc(n: LNode, k: string): SourceLocation {
  return n.kind === 'map' ? (n.keys.get(k) ?? n.loc) : n.loc;
}

/** A tree from a plain value (webhook bodies arrive as JSON already parsed); all at one location. */
export function fromPlain(v: unknown, loc: SourceLocation, depth = 0): LNode {
  if (depth > DEFAULT_LIMITS.maxDepth)
    throw new InputError(
      `nested deeper than ${DEFAULT_LIMITS.maxDepth} levels (the most Rampart reads)`,
      loc,
    );
  if (Array.isArray(v)) return { kind: 'seq', items: v.map((x) => fromPlain(x, loc, depth + 1)), loc };
  if (v !== null && typeof v === 'object') {
    const entries = new Map<string, LNode>();
    const keys = new Map<string, SourceLocation>();
    for (const [k, x] of Object.entries(v)) {
      entries.set(k, fromPlain(x, loc, depth + 1));
      keys.set(k, loc);
    }
    return { kind: 'map', entries, keys, loc };
  }
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
    return { kind: 'scalar', value: v, loc };
  throw new InputError(`unsupported value of type ${typeof v}`, loc);
}

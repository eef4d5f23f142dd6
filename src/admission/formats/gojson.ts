// Docker Engine bodies decoded exactly as the Engine decodes them: Go's encoding/json into Go
// structs. That is not JSON.parse:
//
// - a key names a struct field case-insensitively (`privileged` is HostConfig.Privileged), and
//   unknown keys are ignored;
// - a repeated key decodes again into the same value: for a scalar the last one wins, but a
//   struct, a pointer to one, a slice of them or a map is decoded *into*, so
//   `{"HostConfig":{"Privileged":true},"HostConfig":{"Memory":1}}` is privileged (JSON.parse
//   keeps only the second object);
// - null leaves a non-pointer field as it was and clears a pointer, slice or map;
// - a value of the wrong type fails the whole request (the Engine answers 400).
//
// So the body is read into pairs that keep every duplicate (parseJsonPairs), then decoded
// against the Engine's own types (engine-types.ts) into a canonical tree, field names spelled as
// the Engine spells them, which the readers in engine.ts check. Anything the decoder cannot
// decode as the Engine would is refused, never guessed.
//
// One place where Engines disagree with each other: Go before 1.21 folded only ASCII letters and
// the long s (U+017F) and Kelvin sign (U+212A); Go 1.21 also folds dotless i (U+0131) and dotted I
// (U+0130) onto I. A field name written with any of these four is refused outright, so no Engine
// version can read a key differently from Rampart.

import type { SourceLocation } from '../../core/errors.js';
import { MAX_NESTING } from '../../core/nesting.js';
import type { LMap, LNode } from '../tree.js';
import { InputError } from '../tree.js';

/** A JSON value with every key kept, in order, duplicates included. */
export type PNode =
  | {
      readonly kind: 'scalar';
      readonly value: string | number | boolean | null;
      readonly raw: string;
      readonly loc: SourceLocation;
    }
  | { readonly kind: 'array'; readonly items: readonly PNode[]; readonly loc: SourceLocation }
  | {
      readonly kind: 'object';
      readonly pairs: readonly (readonly [key: string, value: PNode, keyLoc: SourceLocation])[];
      readonly loc: SourceLocation;
    };

/** The Engine's types, as much as decoding needs: kinds, field names, and which are pointers. */
export type GoType =
  | {
      readonly k: 'struct';
      readonly fields: Readonly<Record<string, GoType>>;
      /** Field names by their folded spelling, built once with the type (struct()). */
      readonly fold: ReadonlyMap<string, string>;
      readonly ptr?: true;
    }
  | { readonly k: 'map'; readonly elem: GoType }
  | { readonly k: 'slice'; readonly elem: GoType }
  | { readonly k: 'bool' | 'string' | 'int' | 'uint' | 'float'; readonly ptr?: true }
  /** strslice.StrSlice: a string or a list of strings. */
  | { readonly k: 'strslice' }
  /** interface{} and anything decoded as a whole: the value as written, last duplicate winning. */
  | { readonly k: 'any' };

// ---------------------------------------------------------------------------------------------
// Reading JSON into pairs

/** Parses one JSON text, strictly, keeping duplicate keys. Throws InputError with a position. */
export function parseJsonPairs(text: string, file: string): PNode {
  const p = new PairParser(text, file);
  p.ws();
  const v = p.value(0);
  p.ws();
  if (p.i < text.length) throw p.error('unexpected text after the JSON value');
  return v;
}

class PairParser {
  i = 0;
  private line = 1;
  private lineStart = 0;

  constructor(
    private readonly s: string,
    private readonly file: string,
  ) {}

  loc(at = this.i): SourceLocation {
    return { file: this.file, line: this.line, column: at - this.lineStart + 1 };
  }

  error(message: string): InputError {
    return new InputError(`not valid JSON: ${message}`, this.loc());
  }

  ws(): void {
    for (;;) {
      const c = this.s.charCodeAt(this.i);
      if (c === 0x0a) {
        this.line++;
        this.lineStart = ++this.i;
      } else if (c === 0x20 || c === 0x09 || c === 0x0d) this.i++;
      else return;
    }
  }

  value(depth: number): PNode {
    if (depth > MAX_NESTING)
      throw new InputError(`nested deeper than ${MAX_NESTING} levels (the most Rampart reads)`, this.loc());
    const loc = this.loc();
    const c = this.s[this.i];
    if (c === '{') {
      this.i++;
      const pairs: [string, PNode, SourceLocation][] = [];
      this.ws();
      if (this.s[this.i] === '}') {
        this.i++;
        return { kind: 'object', pairs, loc };
      }
      for (;;) {
        this.ws();
        const keyLoc = this.loc();
        if (this.s[this.i] !== '"') throw this.error('expected a key in quotes');
        const key = this.string();
        this.ws();
        if (this.s[this.i] !== ':') throw this.error('expected ":" after a key');
        this.i++;
        this.ws();
        pairs.push([key, this.value(depth + 1), keyLoc]);
        this.ws();
        if (this.s[this.i] === ',') {
          this.i++;
          continue;
        }
        if (this.s[this.i] === '}') {
          this.i++;
          return { kind: 'object', pairs, loc };
        }
        throw this.error('expected "," or "}"');
      }
    }
    if (c === '[') {
      this.i++;
      const items: PNode[] = [];
      this.ws();
      if (this.s[this.i] === ']') {
        this.i++;
        return { kind: 'array', items, loc };
      }
      for (;;) {
        this.ws();
        items.push(this.value(depth + 1));
        this.ws();
        if (this.s[this.i] === ',') {
          this.i++;
          continue;
        }
        if (this.s[this.i] === ']') {
          this.i++;
          return { kind: 'array', items, loc };
        }
        throw this.error('expected "," or "]"');
      }
    }
    if (c === '"') {
      const start = this.i;
      const value = this.string();
      return { kind: 'scalar', value, raw: this.s.slice(start, this.i), loc };
    }
    for (const [word, value] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const)
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return { kind: 'scalar', value, raw: word, loc };
      }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (!m) throw this.error(`unexpected ${c === undefined ? 'end of input' : JSON.stringify(c)}`);
    this.i += m[0].length;
    return { kind: 'scalar', value: Number(m[0]), raw: m[0], loc };
  }

  /** A string token at i (its opening quote), decoded by JSON.parse, which knows every escape. */
  private string(): string {
    const start = this.i++;
    for (;;) {
      const c = this.s.charCodeAt(this.i);
      if (Number.isNaN(c)) throw this.error('a string does not end');
      if (c === 0x22) break;
      if (c < 0x20) throw this.error('a control character inside a string');
      this.i += c === 0x5c ? 2 : 1;
    }
    this.i++;
    try {
      return JSON.parse(this.s.slice(start, this.i)) as string;
    } catch {
      throw new InputError('not valid JSON: a bad escape in a string', this.loc(start));
    }
  }
}

/** The pairs view of a located tree read from a file (exact duplicates were already refused there). */
export function pairsOf(n: LNode): PNode {
  if (n.kind === 'scalar')
    return { kind: 'scalar', value: n.value, raw: JSON.stringify(n.value), loc: n.loc };
  if (n.kind === 'seq') return { kind: 'array', items: n.items.map(pairsOf), loc: n.loc };
  return {
    kind: 'object',
    pairs: [...n.entries].map(([k, v]) => [k, pairsOf(v), n.keys.get(k) ?? v.loc] as const),
    loc: n.loc,
  };
}

// ---------------------------------------------------------------------------------------------
// Decoding as encoding/json does

/** The characters Go versions fold differently onto ASCII letters (see the header). */
const AMBIGUOUS_FOLD = /[\u017f\u212a\u0130\u0131]/;

const foldKey = (s: string): string => s.replace(/[a-z]/g, (c) => c.toUpperCase());

/** A value being built: the canonical tree, mutable while decoding. */
type Out =
  | { kind: 'scalar'; value: string | number | boolean | null; loc: SourceLocation }
  | { kind: 'seq'; items: Out[]; loc: SourceLocation }
  | { kind: 'map'; entries: Map<string, Out>; keys: Map<string, SourceLocation>; loc: SourceLocation };

/**
 * Decodes `node` into a value of type `t` the way encoding/json would, starting from `into` (the
 * value a repeated key decodes into, or undefined). `path` names the field for errors.
 */
function decode(t: GoType, node: PNode, into: Out | undefined, path: string): Out | undefined {
  const typeError = (want: string): InputError =>
    new InputError(`${path}: the Engine expects ${want} here and refuses the request`, node.loc);
  if (node.kind === 'scalar' && node.value === null) {
    // null clears a pointer, slice, map or interface; for anything else it is a no-op.
    const clears = t.k === 'map' || t.k === 'slice' || t.k === 'any' || t.k === 'strslice' || 'ptr' in t;
    return clears ? undefined : into;
  }
  switch (t.k) {
    case 'any':
      return anyValue(node);
    case 'bool':
      if (node.kind !== 'scalar' || typeof node.value !== 'boolean') throw typeError('true or false');
      return { kind: 'scalar', value: node.value, loc: node.loc };
    case 'string':
      if (node.kind !== 'scalar' || typeof node.value !== 'string') throw typeError('a string');
      return { kind: 'scalar', value: node.value, loc: node.loc };
    case 'int':
    case 'uint':
    case 'float': {
      if (node.kind !== 'scalar' || typeof node.value !== 'number') throw typeError('a number');
      if (t.k !== 'float') {
        if (!/^-?\d+$/.test(node.raw)) throw typeError('a whole number');
        const big = BigInt(node.raw);
        if (big > 2n ** 63n - 1n || big < (t.k === 'uint' ? 0n : -(2n ** 63n)))
          throw typeError('a number in range');
      }
      return { kind: 'scalar', value: node.value, loc: node.loc };
    }
    case 'strslice':
      if (node.kind === 'scalar' && typeof node.value === 'string')
        return { kind: 'seq', items: [{ kind: 'scalar', value: node.value, loc: node.loc }], loc: node.loc };
      return decode({ k: 'slice', elem: { k: 'string' } }, node, undefined, path);
    case 'slice': {
      if (node.kind !== 'array') throw typeError('a list');
      // Go decodes element i into the existing element i, then cuts the slice to the new length.
      const old = into?.kind === 'seq' ? into.items : [];
      const items = node.items.map(
        (item, i) => decode(t.elem, item, old[i], `${path}[${i}]`) ?? nullOut(item),
      );
      return { kind: 'seq', items, loc: node.loc };
    }
    case 'map': {
      if (node.kind !== 'object') throw typeError('an object');
      // An existing map is kept and added to; each value starts from zero.
      const m: Out =
        into?.kind === 'map'
          ? { kind: 'map', entries: new Map(into.entries), keys: new Map(into.keys), loc: node.loc }
          : { kind: 'map', entries: new Map(), keys: new Map(), loc: node.loc };
      for (const [key, value, keyLoc] of node.pairs) {
        const v = decode(t.elem, value, undefined, `${path}.${key}`);
        m.entries.set(key, v ?? nullOut(value));
        m.keys.set(key, keyLoc);
      }
      return m;
    }
    case 'struct': {
      if (node.kind !== 'object') throw typeError('an object');
      const m: Out =
        into?.kind === 'map'
          ? { kind: 'map', entries: new Map(into.entries), keys: new Map(into.keys), loc: into.loc }
          : { kind: 'map', entries: new Map(), keys: new Map(), loc: node.loc };
      for (const [key, value, keyLoc] of node.pairs) {
        if (AMBIGUOUS_FOLD.test(key))
          throw new InputError(
            `${path}: the key ${JSON.stringify(key)} uses a character Engine versions fold differently; refused`,
            keyLoc,
          );
        const field = Object.hasOwn(t.fields, key) ? key : t.fold.get(foldKey(key));
        if (field === undefined) continue; // the Engine ignores keys it does not know
        const v = decode(t.fields[field]!, value, m.entries.get(field), `${path}.${field}`);
        if (v === undefined) {
          m.entries.delete(field);
          m.keys.delete(field);
        } else {
          m.entries.set(field, v);
          m.keys.set(field, keyLoc);
        }
      }
      return m;
    }
  }
}

const nullOut = (n: PNode): Out => ({ kind: 'scalar', value: null, loc: n.loc });

function anyValue(n: PNode): Out {
  if (n.kind === 'scalar') return { kind: 'scalar', value: n.value, loc: n.loc };
  if (n.kind === 'array') return { kind: 'seq', items: n.items.map(anyValue), loc: n.loc };
  // interface{} decodes an object into a fresh map: the last duplicate wins, nothing merges.
  const entries = new Map<string, Out>();
  const keys = new Map<string, SourceLocation>();
  for (const [k, v, keyLoc] of n.pairs) {
    entries.set(k, anyValue(v));
    keys.set(k, keyLoc);
  }
  return { kind: 'map', entries, keys, loc: n.loc };
}

/** A struct type; `ptr`: a pointer to one (null clears it). */
export function struct(fields: Readonly<Record<string, GoType>>, ptr = false): GoType {
  return {
    k: 'struct',
    fields,
    fold: new Map(Object.keys(fields).map((f) => [foldKey(f), f])),
    ...(ptr ? { ptr: true as const } : {}),
  };
}

/**
 * Decodes an Engine request body of type `t` (a struct) into its canonical tree: every field
 * under the name the Engine uses, duplicates resolved as the Engine resolves them.
 */
export function decodeEngineBody(t: GoType, body: PNode, what: string): LMap {
  if (body.kind !== 'object') throw new InputError(`${what} must be a JSON object`, body.loc);
  const out = decode(t, body, undefined, what);
  if (!out || out.kind !== 'map') throw new InputError(`${what} must be a JSON object`, body.loc);
  return out;
}

// A fast path for the YAML that container specs and configuration files are actually written in:
// block mappings and sequences, one-line flow collections, plain and quoted one-line scalars,
// comments, several documents. It builds the located tree directly, about ten times faster than
// composing a yaml Document first: that lets `rampart check` read a 1,000-service file quickly,
// and saves every command a millisecond or more of reading its configuration.
//
// It never decides anything the yaml library would decide differently: plain scalars are
// resolved with the library's own tags for the version asked for (1.1 for specs, as Docker and
// Kubernetes read them; 1.2 for configuration), and at the first construct outside the subset
// (anchors, aliases, tags, block scalars, multi-line scalars or flow collections, complex keys,
// merge keys, tabs, duplicate keys, anything malformed) it gives up and returns undefined, and
// the caller parses with the library, which also reports every error. A differential test
// (test/admission/fastyaml.test.ts) compares the two in both versions, on every YAML file in the
// repository and on generated and damaged texts.

import { Document, isScalar } from 'yaml';
import type { SourceLocation } from './errors.js';
import type { LMap, LNode, LSeq, Scalar, TreeLimits } from './located.js';

/** Thrown inside the fast path to give up; never escapes it. */
class Bail extends Error {}
const bail = (): never => {
  throw new Bail();
};

interface Line {
  /** 1-based line number. */
  readonly no: number;
  /** Column (0-based) where the content starts. */
  indent: number;
  /** The content from `indent`, without the trailing comment and spaces. */
  text: string;
  /** Length of the raw line (an empty value's null sits at its end, as the library puts it). */
  readonly rawEnd: number;
  /** What follows the content: spaces, or a comment. */
  readonly tail: string;
}

interface ScalarTag {
  readonly default?: boolean | 'key';
  readonly test?: RegExp;
  readonly resolve: (value: string, onError: (msg: string) => void, options: object) => unknown;
}

/** Parses every document, or returns undefined when the text is outside the fast subset. */
export function fastTrees(
  text: string,
  file: string,
  limits: TreeLimits,
  version: '1.1' | '1.2',
): LNode[] | undefined {
  // Directives, tabs, CRs, byte-order marks, control characters and YAML 1.1's other line breaks
  // (NEL, LS, PS) are the library's business.
  if (text.startsWith('%') || SPECIAL_CHARS.test(text)) return undefined;
  try {
    return new FastParser(text, file, limits, version).documents();
  } catch (e) {
    if (e instanceof Bail) return undefined;
    throw e;
  }
}

class FastParser {
  private readonly tags: readonly ScalarTag[];
  private nodes = 0;

  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly limits: TreeLimits,
    version: '1.1' | '1.2',
  ) {
    this.tags = (new Document(null, { version }).schema.tags as unknown as ScalarTag[]).filter(
      (t) => t.default === true && t.test !== undefined,
    );
  }

  documents(): LNode[] {
    // Each `---` starts a document, even an empty one (the library yields null for it, placed
    // after the marker); content before the first marker is a document only if there is any.
    interface Doc {
      readonly lines: Line[];
      readonly marker?: SourceLocation;
    }
    const docs: Doc[] = [{ lines: [] }];
    const raw = this.text.split('\n');
    for (let i = 0; i < raw.length; i++) {
      const r = raw[i]!;
      if (r.startsWith('---')) {
        // `---#x` is a plain scalar, not a separator; content after `--- ` is the library's.
        if (r.length > 3 && !/^--- +(#.*)?$/.test(r)) bail();
        const hash = r.indexOf('#');
        docs.push({
          lines: [],
          marker: { file: this.file, line: i + 1, column: (hash < 0 ? r.length : hash) + 1 },
        });
        continue;
      }
      if (r.startsWith('...')) bail();
      const line = this.line(r, i + 1);
      if (line) docs[docs.length - 1]!.lines.push(line);
    }
    const out: LNode[] = [];
    for (const { lines, marker } of docs) {
      if (lines.length === 0) {
        if (marker) out.push({ kind: 'scalar', value: null, loc: marker });
        continue;
      }
      this.nodes = 0;
      const cur = { i: 0 };
      const node = this.block(lines, cur, 0, 0);
      if (cur.i !== lines.length) bail();
      out.push(node);
    }
    return out;
  }

  /** A content line, or undefined for blank and comment-only lines. */
  private line(raw: string, no: number): Line | undefined {
    let indent = 0;
    while (indent < raw.length && raw.charCodeAt(indent) === 32) indent++;
    if (indent === raw.length || raw[indent] === '#') return undefined;
    const end = contentEnd(raw, indent);
    return { no, indent, text: raw.slice(indent, end), rawEnd: raw.length, tail: raw.slice(end) };
  }

  private loc(line: Line, offset: number): SourceLocation {
    return { file: this.file, line: line.no, column: line.indent + offset + 1 };
  }

  private count(depth: number): void {
    if (++this.nodes > this.limits.maxNodes || depth > this.limits.maxDepth) bail();
  }

  /** The block node starting at lines[cur.i], whose indentation must be at least `min`. */
  private block(lines: Line[], cur: { i: number }, min: number, depth: number): LNode {
    const first = lines[cur.i];
    if (!first || first.indent < min) bail();
    this.count(depth);
    if (first!.text === '-' || first!.text.startsWith('- ')) return this.seq(lines, cur, depth);
    if (keyEnd(first!.text) >= 0) return this.map(lines, cur, depth);
    // A lone scalar or flow collection: one line, and nothing after it at this level.
    const node = this.inline(first!, 0, depth);
    cur.i++;
    return node;
  }

  private seq(lines: Line[], cur: { i: number }, depth: number): LSeq {
    const first = lines[cur.i]!;
    const indent = first.indent;
    const items: LNode[] = [];
    while (cur.i < lines.length) {
      const l = lines[cur.i]!;
      if (l.indent !== indent || !(l.text === '-' || l.text.startsWith('- '))) break;
      if (l.text === '-') bail(); // an empty item, or one that starts on the next line
      let off = 2;
      while (l.text.charCodeAt(off) === 32) off++;
      const rest = l.text.slice(off);
      if (rest.startsWith('- ') || rest === '-' || rest.startsWith('? ')) bail();
      if (keyEnd(rest) >= 0) {
        // A compact mapping: "- key: value" then keys at the key's column.
        lines[cur.i] = { no: l.no, indent: indent + off, text: rest, rawEnd: l.rawEnd, tail: l.tail };
        items.push(this.map(lines, cur, depth + 1));
      } else {
        items.push(this.inline(l, off, depth + 1));
        cur.i++;
        if (cur.i < lines.length && lines[cur.i]!.indent > indent) bail(); // a multi-line scalar
      }
    }
    return { kind: 'seq', items, loc: this.loc(first, 0) };
  }

  private map(lines: Line[], cur: { i: number }, depth: number): LMap {
    const first = lines[cur.i]!;
    const indent = first.indent;
    const entries = new Map<string, LNode>();
    const keys = new Map<string, SourceLocation>();
    while (cur.i < lines.length) {
      const l = lines[cur.i]!;
      if (l.indent !== indent) {
        if (l.indent > indent) bail();
        break;
      }
      const colon = keyEnd(l.text);
      if (colon < 0) bail();
      const key = this.key(l.text.slice(0, colon));
      if (entries.has(key)) bail(); // the library reports duplicate keys
      const keyLoc = this.loc(l, 0);
      let off = colon + 1;
      while (l.text.charCodeAt(off) === 32) off++;
      let value: LNode;
      cur.i++;
      if (off >= l.text.length) {
        const next = lines[cur.i];
        if (
          next &&
          (next.indent > indent ||
            (next.indent === indent && (next.text === '-' || next.text.startsWith('- '))))
        )
          value = this.block(lines, cur, next.indent, depth + 1);
        else {
          // An empty value: null, where the library puts it (after the colon and any spaces).
          if (!/^ *$/.test(l.tail)) bail(); // a comment there moves the library's null
          this.count(depth + 1);
          value = {
            kind: 'scalar',
            value: null,
            loc: { file: this.file, line: l.no, column: l.rawEnd + 1 },
          };
        }
      } else {
        value = this.inline(l, off, depth + 1);
        if (cur.i < lines.length && lines[cur.i]!.indent > indent) bail(); // a multi-line scalar
      }
      entries.set(key, value);
      keys.set(key, keyLoc);
    }
    return { kind: 'map', entries, keys, loc: this.loc(first, 0) };
  }

  private key(raw: string): string {
    const k = trimSpaces(raw);
    // The library limits implicit keys to 1024 characters.
    if (k === '' || k === '<<' || k.length > 1024) bail();
    const c = k[0]!;
    if (c === '"' || c === "'") {
      const s = quoted(k, 0);
      if (s.end !== k.length) bail();
      return s.value;
    }
    if (indicatorAt(k, 0, false) || k.includes(' #')) bail();
    return String(this.resolveKey(k));
  }

  /** A scalar or flow collection taking the rest of line `l` from `off`. */
  private inline(l: Line, off: number, depth: number): LNode {
    const s = l.text;
    const c = s[off]!;
    if (c === '[' || c === '{') {
      const r = this.flow(l, off, depth);
      if (r.end !== s.length) bail();
      return r.node;
    }
    this.count(depth);
    const loc = this.loc(l, off);
    if (c === '"' || c === "'") {
      const q = quoted(s, off);
      if (q.end !== s.length) bail();
      return { kind: 'scalar', value: q.value, loc };
    }
    if (indicatorAt(s, off, false)) bail();
    const plain = s.slice(off);
    if (plain.includes(': ') || plain.endsWith(':') || plain.includes(' #')) bail();
    return { kind: 'scalar', value: this.resolve(plain), loc };
  }

  /** A one-line flow collection starting at `off`; `end` is where it stops. */
  private flow(l: Line, off: number, depth: number): { node: LNode; end: number } {
    this.count(depth);
    const s = l.text;
    const open = s[off]!;
    const close = open === '[' ? ']' : '}';
    const loc = this.loc(l, off);
    const items: LNode[] = [];
    const entries = new Map<string, LNode>();
    const keys = new Map<string, SourceLocation>();
    let i = skipSpaces(s, off + 1);
    if (s[i] === close)
      return {
        node: open === '[' ? { kind: 'seq', items, loc } : { kind: 'map', entries, keys, loc },
        end: i + 1,
      };
    for (;;) {
      if (open === '[') {
        const item = this.flowItem(l, i, depth + 1);
        items.push(item.node);
        i = skipSpaces(s, item.end);
        if (s[i] === ':') bail(); // a single-pair mapping inside a sequence
      } else {
        const k = this.flowItem(l, i, depth + 1, true);
        if (k.node.kind !== 'scalar') bail();
        const kv = (k.node as { value: Scalar }).value;
        if ((typeof kv !== 'string' && typeof kv !== 'number') || kv === '<<') bail();
        const key = String(kv);
        if (entries.has(key)) bail();
        i = skipSpaces(s, k.end);
        if (s[i] !== ':') bail(); // a key without a value
        i = skipSpaces(s, i + 1);
        if (s[i] === ',' || s[i] === '}') bail(); // an empty value
        const v = this.flowItem(l, i, depth + 1);
        entries.set(key, v.node);
        keys.set(key, k.node.loc);
        i = skipSpaces(s, v.end);
      }
      if (s[i] === ',') {
        i = skipSpaces(s, i + 1);
        if (s[i] === close || s[i] === ',') bail(); // a trailing or empty entry
        continue;
      }
      if (s[i] === close) break;
      bail();
    }
    return {
      node: open === '[' ? { kind: 'seq', items, loc } : { kind: 'map', entries, keys, loc },
      end: i + 1,
    };
  }

  private flowItem(l: Line, i: number, depth: number, key = false): { node: LNode; end: number } {
    const s = l.text;
    const c = s[i];
    if (c === undefined) bail();
    if (c === '[' || c === '{') {
      if (key) bail();
      return this.flow(l, i, depth);
    }
    this.count(depth);
    const loc = this.loc(l, i);
    if (c === '"' || c === "'") {
      const q = quoted(s, i);
      return { node: { kind: 'scalar', value: q.value, loc }, end: q.end };
    }
    if (indicatorAt(s, i, true)) bail();
    let j = i;
    // A plain scalar in flow context ends at a flow indicator, or at ": " / ":" before one.
    while (j < s.length) {
      const ch = s[j]!;
      if (ch === ',' || ch === '[' || ch === ']' || ch === '{' || ch === '}') break;
      if (ch === ':' && (j + 1 === s.length || ' ,[]{}'.includes(s[j + 1]!))) break;
      if (ch === '#' && s[j - 1] === ' ') bail();
      j++;
    }
    const plain = trimSpaces(s.slice(i, j));
    if (plain === '') bail();
    return {
      node: { kind: 'scalar', value: key ? this.resolveKey(plain) : this.resolve(plain), loc },
      end: j,
    };
  }

  /**
   * A plain key's value. The library refuses keys that resolve to anything but a string or a
   * number; a timestamp resolves to a string here, so a string must be the key as written.
   */
  private resolveKey(plain: string): string | number {
    const v = this.resolve(plain);
    if (typeof v === 'string' ? v !== plain : typeof v !== 'number') bail();
    return v as string | number;
  }

  /** A plain scalar's value, as the yaml library's YAML 1.1 schema resolves it. */
  private resolve(plain: string): Scalar {
    // Most values skip the tags: every YAML 1.1 tag's test (null, bool, int, float, timestamp;
    // the test pins the list) only matches a text starting with one of these.
    if (!TAG_STARTS.includes(plain[0]!)) return plain;
    for (const t of this.tags) {
      if (!t.test!.test(plain)) continue;
      let failed = false;
      let v = t.resolve(plain, () => (failed = true), {});
      // Some YAML 1.1 tags (null, booleans) resolve to a Scalar node.
      if (isScalar(v)) v = v.value;
      if (failed) bail();
      if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
      if (typeof v === 'bigint') return Number(v);
      if (v instanceof Date) return v.toISOString();
      bail();
    }
    return plain;
  }
}

// eslint-disable-next-line no-control-regex -- matching control characters is what this is for
const SPECIAL_CHARS = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]/;

/** First characters of every text a YAML 1.1 tag resolves (see resolve). */
export const TAG_STARTS = '0123456789+-.~eEyYnNtTfFoO';

/** Characters that start something other than a plain scalar. */
const INDICATORS = '[]{}#&*!|>%@`,';

/**
 * Whether the text at `i` starts something other than a plain scalar: an indicator character, or
 * `-`, `?` or `:` followed by a space, the end of the line or (in flow context) a flow indicator.
 */
function indicatorAt(s: string, i: number, inFlow: boolean): boolean {
  const c = s[i]!;
  if (INDICATORS.includes(c)) return true;
  if (inFlow && (c === ']' || c === '}')) return true;
  if (c !== '-' && c !== '?' && c !== ':') return false;
  const next = s[i + 1];
  return next === undefined || next === ' ' || (inFlow && ',[]{}'.includes(next));
}

/** Drops trailing spaces: YAML's white space is space and tab (tabs bail), not JS's `trimEnd()` set. */
function trimSpaces(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 32) end--;
  return s.slice(0, end);
}

function skipSpaces(s: string, i: number): number {
  while (s.charCodeAt(i) === 32) i++;
  return i;
}

/** End of a line's content: before a comment (a # after a space, outside quotes) and trailing spaces. */
function contentEnd(raw: string, from: number): number {
  let quote = '';
  let end = raw.length;
  for (let i = from; i < raw.length; i++) {
    const c = raw[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) {
        if (quote === "'" && raw[i + 1] === "'") i++;
        else quote = '';
      }
      continue;
    }
    // A quote opens a quoted scalar only where a scalar can start.
    if ((c === '"' || c === "'") && (i === from || ' [{,:-'.includes(raw[i - 1]!))) quote = c;
    else if (c === '#' && (i === from || raw[i - 1] === ' ')) {
      end = i;
      break;
    }
  }
  if (quote) bail(); // a quoted scalar that goes on to the next line
  while (end > from && raw.charCodeAt(end - 1) === 32) end--;
  return end;
}

/** Where a block mapping key ends (the colon), or -1 when the line is not "key: ..." / "key:". */
function keyEnd(s: string): number {
  const c = s[0];
  if (c === '"' || c === "'") {
    const q = quoted(s, 0);
    return s[q.end] === ':' && (q.end + 1 === s.length || s[q.end + 1] === ' ') ? q.end : -1;
  }
  if (c === '[' || c === '{') return -1;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === ':' && (i + 1 === s.length || s[i + 1] === ' ')) return i;
    if (s[i] === ' ' && s[i + 1] === '#') return -1;
  }
  return -1;
}

/** A one-line quoted scalar at `i`: its value and the index after the closing quote. */
function quoted(s: string, i: number): { value: string; end: number } {
  const q = s[i]!;
  let j = i + 1;
  let escapes = false;
  for (; j < s.length; j++) {
    if (q === '"' && s[j] === '\\') {
      escapes = true;
      j++;
      continue;
    }
    if (s[j] === q) {
      if (q === "'" && s[j + 1] === "'") {
        j++;
        continue;
      }
      break;
    }
  }
  if (j >= s.length) bail();
  const body = s.slice(i + 1, j);
  if (q === "'") return { value: body.replace(/''/g, "'"), end: j + 1 };
  if (!escapes) return { value: body, end: j + 1 };
  // JSON's escapes are a subset of YAML's; anything else is the library's to read.
  try {
    return { value: JSON.parse(`"${body}"`) as string, end: j + 1 };
  } catch {
    return bail();
  }
}

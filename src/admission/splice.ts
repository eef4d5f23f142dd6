// Minimal text edits for `rampart harden`: each hardening edit becomes a splice of the file's
// text, at the node it changes, computed from the source positions the yaml library keeps. Lines
// a fix does not touch stay byte for byte (indentation, comments after values, aligned comments,
// quoting, flow or block style), and every position in the result maps back to the input, so
// what harden reports can name the file the user gave it.
//
// JSON (an Engine create body) goes through the same path: JSON is YAML flow style, and values
// are written as JSON there.

import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parse,
  visit,
  Document,
  type Node,
  type Pair,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';
import type { Edit, PathKey } from './harden.js';

/** Replace input[start, end) with text. */
export interface Splice {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  /** The edits this splice carries out. */
  readonly edits: readonly Edit[];
  /** Among splices at one place, lower goes first: deeper block insertions before shallower. */
  readonly order?: number;
  /** Where to say the fix was made, if not at `start`: an addition names the collection it joins. */
  readonly report?: number;
}

type Coll = YAMLMap | YAMLSeq;
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Whether a string can be written unquoted and read back as the same string by YAML 1.1 and 1.2 readers (Compose, kubectl, Go's yaml). */
function plainSafe(s: string): boolean {
  if (s === '' || /[#,[\]{}&*!|>'"%@`]|: |:$/.test(s) || s.trim() !== s) return false;
  // Ports and ids with colons are quoted, as Compose's documentation asks (YAML 1.1 reads 22:22
  // as a number in base 60).
  if (/^[\d.:/-]+$/.test(s) && s.includes(':')) return false;
  try {
    return parse(s, { version: '1.1' }) === s && parse(s, { version: '1.2' }) === s;
  } catch {
    return false;
  }
}

function scalarText(v: unknown, json: boolean): string {
  if (json || (typeof v === 'string' && !plainSafe(v))) return JSON.stringify(v);
  return String(v);
}

function flowText(v: unknown, json: boolean): string {
  if (json) return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return scalarText(v, false);
  if (Array.isArray(v)) return `[${v.map((x) => flowText(x, false)).join(', ')}]`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${scalarText(k, false)}: ${flowText(x, false)}`)
    .join(', ')}}`;
}

/** `key: value` as block lines at `indent`, every line ending in a newline. */
function blockPair(key: string, v: unknown, indent: number, indentSeq: boolean): string {
  const doc = new Document({ [key]: v }, { version: '1.1' });
  // Strings are quoted by plainSafe's rule, so new text means the same to every reader.
  visit(doc, {
    Scalar(_k, n) {
      if (typeof n.value === 'string' && !plainSafe(n.value)) n.type = 'QUOTE_DOUBLE';
    },
  });
  return doc
    .toString({ lineWidth: 0, indentSeq, flowCollectionPadding: false })
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => ' '.repeat(indent) + l + '\n')
    .join('');
}

const lineStart = (src: string, at: number): number => src.lastIndexOf('\n', at - 1) + 1;
const column = (src: string, at: number): number => at - lineStart(src, at);
const alone = (src: string, at: number): boolean => src.slice(lineStart(src, at), at).trim() === '';

/** Where the line holding `end - 1` ends (after its newline, or the text's end). */
function afterLine(src: string, end: number): number {
  if (end > 0 && src[end - 1] === '\n') return end;
  const nl = src.indexOf('\n', end);
  return nl < 0 ? src.length : nl + 1;
}

/** Past comment lines indented deeper than `indent` (they belong to the item before). */
function pastComments(src: string, pos: number, indent: number): number {
  for (;;) {
    const m = /^([ \t]*)#[^\n]*(?:\n|$)/.exec(src.slice(pos, src.indexOf('\n', pos) + 1 || src.length));
    if (!m || m[1]!.length <= indent) return pos;
    pos += m[0].length;
  }
}

function end(n: Node | Pair | null | undefined): number {
  if (!n) return -1;
  if (isPair(n)) return Math.max(end(n.value as Node), end(n.key as Node));
  return n.range ? n.range[1] : -1;
}

function start(n: unknown): number {
  return isPair(n) ? start(n.key) : ((n as Node | null)?.range?.[0] ?? -1);
}

/** The first char of a block sequence item: its dash. */
function dashOf(src: string, item: Node): number {
  const at = item.range![0];
  const d = src.lastIndexOf('-', at);
  if (d < 0 || src.slice(d + 1, at).trim() !== '') throw new Error('cannot find the item');
  return d;
}

const isFlow = (n: Coll): boolean => n.flow === true || (n.srcToken?.type ?? '') === 'flow-collection';

export class Splicer {
  readonly splices: Splice[] = [];
  private readonly added = new Map<Coll, number>();

  constructor(
    private readonly src: string,
    private readonly json: boolean,
    private readonly indentSeq: boolean,
  ) {}

  /** Adds `key: value` (map) or `value` (seq, key undefined) at the end of a collection. */
  insert(coll: Coll, key: string | undefined, value: unknown, edits: readonly Edit[]): void {
    const { src, json } = this;
    const n = coll.items.length + (this.added.get(coll) ?? 0);
    this.added.set(coll, n + 1);
    const entry =
      key === undefined ? flowText(value, json) : `${scalarText(key, json)}: ${flowText(value, json)}`;
    if (isFlow(coll)) {
      const close =
        coll.range![1] - 1 - (/\s*$/.exec(src.slice(coll.range![0], coll.range![1]))![0].length ?? 0);
      const before = src.slice(coll.range![0] + 1, close).trimEnd();
      const sep = n === 0 || before.endsWith(',') ? (n === 0 ? '' : ' ') : ', ';
      const at = coll.range![0] + 1 + before.length;
      this.splices.push({ start: at, end: at, text: sep + entry, edits, report: coll.range![0] });
      return;
    }
    if (coll.items.length === 0) throw new Error('the collection is empty and in block style');
    const first = coll.items[0]!;
    const indent = isMap(coll) ? column(src, start(first)) : column(src, dashOf(src, first as Node));
    const at = pastComments(src, afterLine(src, end(coll.items[coll.items.length - 1] as Node)), indent);
    let text =
      key === undefined
        ? `${' '.repeat(indent)}- ${flowText(value, false)}\n`
        : blockPair(key, value, indent, this.indentSeq);
    if (at === src.length && !src.endsWith('\n')) text = '\n' + text.slice(0, -1);
    this.splices.push({ start: at, end: at, text, edits, order: -indent, report: start(first) });
  }

  /** Writes `value` where `node` is, changing as little text as it can. */
  replace(node: Node, value: unknown, edits: readonly Edit[]): void {
    const { src, json } = this;
    if (isScalar(node) && (value === null || typeof value !== 'object')) {
      let text = scalarText(value, json);
      if (!json && typeof value === 'string') {
        if (node.type === 'QUOTE_DOUBLE') text = JSON.stringify(value);
        else if (node.type === 'QUOTE_SINGLE') text = `'${value.replace(/'/g, "''")}'`;
      }
      const [a, b] = node.range!;
      if (a === b && src[a - 1] === ':') text = ' ' + text;
      // A comment after the value keeps its column when there is room (aligned comments stay so).
      const pad = /^([ \t]+)#/.exec(src.slice(b, src.indexOf('\n', b) >>> 0));
      if (pad) {
        const room = pad[1]!.length - (text.length - (b - a));
        this.splices.push({
          start: a,
          end: b + pad[1]!.length,
          text: text + ' '.repeat(Math.max(1, room)),
          edits,
        });
        return;
      }
      this.splices.push({ start: a, end: b, text, edits });
      return;
    }
    if (isMap(node) && isObj(value) && !isFlow(node)) return this.mergeMap(node, value, edits);
    if (isSeq(node) && Array.isArray(value) && !isFlow(node) && this.trimSeq(node, value, edits)) return;
    if ((isMap(node) || isSeq(node)) && !isFlow(node)) {
      // A block collection becomes a new block at its place, at its indentation.
      const first = node.items[0] as Node;
      const at = isSeq(node) ? dashOf(src, first) : start(first);
      if (!alone(src, at)) throw new Error('the value shares its line with its parent; edit it by hand');
      const indent = column(src, at);
      const body = blockPair('x', value, 0, this.indentSeq).split('\n').slice(1).join('\n');
      const lead = /^ */.exec(body)![0].length;
      const lines = body
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => ' '.repeat(indent) + l.slice(lead) + '\n')
        .join('');
      this.splices.push({ start: lineStart(src, at), end: afterLine(src, end(node)), text: lines, edits });
      return;
    }
    const [a, b] = node.range!;
    const text = flowText(value, json);
    this.splices.push({ start: a, end: b, text: a === b && src[a - 1] === ':' ? ' ' + text : text, edits });
  }

  private mergeMap(node: YAMLMap, value: Obj, edits: readonly Edit[]): void {
    const keep = new Set(Object.keys(value));
    for (const p of node.items) {
      const k = isScalar(p.key) ? String(p.key.value) : undefined;
      if (k !== undefined && keep.has(k)) continue;
      const at = start(p);
      if (!alone(this.src, at)) throw new Error('a key to remove shares its line; edit it by hand');
      this.splices.push({
        start: lineStart(this.src, at),
        end: afterLine(this.src, end(p)),
        text: '',
        edits,
      });
    }
    for (const [k, v] of Object.entries(value)) {
      const pair = findPair(node, k, this.json);
      if (!pair) this.insert(node, k, v, edits);
      else if (!sameValue(pair.value, v)) this.replace(pair.value as Node, v, edits);
    }
  }

  /** A list that loses some items and gains some at its end: delete and append lines. */
  private trimSeq(node: YAMLSeq, value: unknown[], edits: readonly Edit[]): boolean {
    const old = node.items.map((n) => (isScalar(n) ? n.value : undefined));
    let j = 0;
    const drop: Node[] = [];
    node.items.forEach((n, i) => {
      if (j < value.length && old[i] !== undefined && old[i] === value[j]) j++;
      else drop.push(n as Node);
    });
    if (value.slice(j).some((v) => v !== null && typeof v === 'object')) return false;
    if (drop.length === node.items.length) return false;
    const dashes = drop.map((n) => dashOf(this.src, n));
    if (!dashes.every((d) => alone(this.src, d))) return false;
    drop.forEach((n, i) =>
      this.splices.push({
        start: lineStart(this.src, dashes[i]!),
        end: afterLine(this.src, end(n)),
        text: '',
        edits,
      }),
    );
    for (const v of value.slice(j)) this.insert(node, undefined, v, edits);
    return true;
  }
}

function sameValue(node: unknown, v: unknown): boolean {
  return isScalar(node) && (v === null || typeof v !== 'object') && node.value === v;
}

/** The pair for `key`; in JSON, matched as the Engine does (any case, the last one wins). */
export function findPair(map: YAMLMap, key: PathKey, json: boolean): Pair | undefined {
  let found: Pair | undefined;
  for (const p of map.items) {
    const raw = isScalar(p.key) ? p.key.value : undefined;
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') continue;
    const k = String(raw);
    if (json ? k.toLowerCase() === String(key).toLowerCase() : k === String(key)) {
      found = p;
      if (!json) return found;
    }
  }
  return found;
}

/** The node at `key` of a collection, or undefined; aliases are refused by the caller. */
export function child(coll: Coll, key: PathKey, json: boolean): unknown {
  if (isSeq(coll)) return typeof key === 'number' ? coll.items[key] : undefined;
  const p = findPair(coll, key, json);
  return p ? (p.value ?? null) : undefined;
}

export { isAlias };

/** Applies splices (non-overlapping) and gives the position maps between input and output. */
export function applySplices(
  src: string,
  splices: readonly Splice[],
): { text: string; toInput(out: number): number; toOutput(input: number): number } {
  const sorted = [...splices]
    .map((s, i) => ({ s, i }))
    .sort((a, b) => a.s.start - b.s.start || (a.s.order ?? 0) - (b.s.order ?? 0) || a.i - b.i);
  let text = '';
  let pos = 0;
  const marks: { in: number; inEnd: number; out: number; outEnd: number }[] = [];
  for (const { s } of sorted) {
    if (s.start < pos) throw new Error('two fixes overlap; harden one at a time');
    text += src.slice(pos, s.start);
    marks.push({ in: s.start, inEnd: s.end, out: text.length, outEnd: text.length + s.text.length });
    text += s.text;
    pos = s.end;
  }
  text += src.slice(pos);
  // A position inside a splice maps to where that splice starts on the other side.
  const across = (pos: number, from: 'in' | 'out', to: 'in' | 'out'): number => {
    let delta = 0;
    for (const m of marks) {
      if (pos < m[from]) break;
      if (pos < m[`${from}End`]) return m[to];
      delta = m[`${to}End`] - m[`${from}End`];
    }
    return pos + delta;
  };
  return {
    text,
    toInput: (out) => across(out, 'out', 'in'),
    toOutput: (input) => across(input, 'in', 'out'),
  };
}

// Hardening a file's text: the edits harden.ts computes, written as splices of the text
// (splice.ts), so only the lines a fix changes change, then checked by parsing the result again.

import { isDeepStrictEqual } from 'node:util';
import {
  Document as YamlDocument,
  isAlias,
  isCollection,
  isMap,
  isScalar,
  isSeq,
  parseAllDocuments,
  type Document,
} from 'yaml';
import { messageOf } from '../core/errors.js';
import { findDeepNesting } from '../core/nesting.js';
import { applyEdit, hardenEdits, type Edit, type HardenDefaults, type PathKey } from './harden.js';
import { applySplices, child, Splicer } from './splice.js';

type Obj = Record<string, unknown>;

export interface HardenResult {
  readonly text: string;
  readonly applied: readonly Edit[];
  /** Edits that could not be written where the spec is (a value reached through an alias, ...). */
  readonly skipped: readonly { readonly edit: Edit; readonly reason: string }[];
  /** Where each applied edit changed the text: offsets in the input and in the output. */
  readonly at: ReadonlyMap<Edit, { readonly input: number; readonly output: number }>;
  /** The input offset of an output offset (text a fix wrote maps to where it was written). */
  toInput(output: number): number;
  /**
   * Set when the text could not be edited in place and was written anew (layout not kept):
   * positions in the output then map to the start of the input.
   */
  readonly rewritten?: string;
}

/**
 * Hardens a YAML or JSON spec by splicing its text (see splice.ts): lines no fix changes stay as
 * written. `plain` is each non-empty document's plain value (from the located tree, which has
 * already applied the alias budget and merge keys). The result is parsed again and compared with
 * what the edits mean; should the two ever differ, the document is written anew through the yaml
 * library instead (layout lost, meaning kept) and `rewritten` says why.
 */
export function hardenText(
  text: string,
  plain: readonly unknown[],
  opts: {
    swarm?: boolean;
    defaults?: HardenDefaults;
    json: boolean;
    /** JSON: the value a text means to its reader (an Engine body's canonical fields). */
    read?: (text: string) => unknown;
  },
): HardenResult {
  const skipped: { edit: Edit; reason: string }[] = [];
  // parseTrees (which read `plain`) has already refused a text nested too deep; check again,
  // since this parse recurses the same way.
  if (findDeepNesting(text)) throw new TypeError('harden: the text nests too deep (parseTrees refuses it)');
  const docs = parseAllDocuments(text, {
    version: '1.1',
    uniqueKeys: !opts.json,
    keepSourceTokens: true,
  }) as Document.Parsed[];
  const nonEmpty = docs.filter((d) => d.contents !== null);
  const splicer = new Splicer(text, opts.json, indentsSequences(text));
  const perDoc: Edit[][] = [];
  nonEmpty.forEach((doc, i) => {
    const all = hardenEdits(plain[i], opts);
    for (const edit of all) if (edit.unfixable) skipped.push({ edit, reason: edit.unfixable });
    const edits = all.filter((e) => !e.unfixable);
    const before = splicer.splices.length;
    try {
      const r = planDocument(doc, edits, plain[i], splicer, opts.json);
      perDoc.push(r.applied);
      skipped.push(...r.skipped);
    } catch (err) {
      splicer.splices.length = before;
      perDoc.push([]);
      for (const edit of edits) skipped.push({ edit, reason: messageOf(err) });
    }
  });
  const applied = perDoc.flat();
  if (applied.length === 0) return { text, applied, skipped, at: new Map(), toInput: (o) => o };
  // What the fixes mean: the input's value with every applied edit, read once. The spliced text
  // must read back as exactly this; should it not, this is what is written anew.
  const want = readDocs(text, opts.json, opts.read);
  perDoc.forEach((edits, i) => {
    for (const e of edits) applyEdit(want[i] as Obj, e);
  });
  try {
    const out = applySplices(text, splicer.splices);
    const at = new Map<Edit, { input: number; output: number }>();
    for (const s of splicer.splices)
      for (const e of s.edits)
        if (!at.has(e)) at.set(e, { input: s.report ?? s.start, output: out.toOutput(s.report ?? s.start) });
    if (readsAs(out.text, want, opts.json, opts.read))
      return { text: out.text, applied, skipped, at, toInput: (o) => out.toInput(o) };
  } catch {
    // overlapping splices: written anew below
  }
  return rewrite(want, applied, opts.json, skipped);
}

/** Whether block sequences in the text are indented under their key (`key:\n  - a`). */
function indentsSequences(text: string): boolean {
  const m = /^( *)[^\s#-][^\n]*:[ \t]*(?:#[^\n]*)?\n( *)- /m.exec(text);
  return !m || m[2]!.length > m[1]!.length;
}

function planDocument(
  doc: Document.Parsed,
  edits: readonly Edit[],
  plain: unknown,
  splicer: Splicer,
  json: boolean,
): { applied: Edit[]; skipped: { edit: Edit; reason: string }[] } {
  const applied: Edit[] = [];
  const skipped: { edit: Edit; reason: string }[] = [];
  // New keys under one parent are written together, as one block, once every edit is known.
  const groups = new Map<object, Map<string, { holder: Obj; edits: Edit[]; coll: object }>>();
  for (const e of edits) {
    try {
      const where = locate(doc, e, plain, json);
      if (where.kind === 'missing') {
        const byKey =
          groups.get(where.parent) ?? new Map<string, { holder: Obj; edits: Edit[]; coll: object }>();
        groups.set(where.parent, byKey);
        const g = byKey.get(String(where.key)) ?? { holder: {}, edits: [], coll: where.parent };
        byKey.set(String(where.key), g);
        applyEdit(g.holder, { ...e, path: e.path.slice(where.depth) });
        g.edits.push(e);
      } else if (e.op === 'append') {
        if (!isSeq(where.node)) throw new Error(`${e.path.join('.')} is not a list`);
        splicer.insert(where.node, undefined, e.value, [e]);
      } else splicer.replace(where.node as Parameters<Splicer['replace']>[0], e.value, [e]);
      applied.push(e);
    } catch (err) {
      skipped.push({ edit: e, reason: messageOf(err) });
    }
  }
  for (const byKey of groups.values())
    for (const [key, g] of byKey) {
      if (isScalar(g.coll)) splicer.replace(g.coll, g.holder, g.edits);
      else if (isMap(g.coll)) splicer.insert(g.coll, key, g.holder[key], g.edits);
      else throw new Error(`cannot add ${key} to a list`);
    }
  return { applied, skipped };
}

type Located =
  { kind: 'at'; node: unknown } | { kind: 'missing'; parent: object; key: PathKey; depth: number };

function locate(doc: Document.Parsed, e: Edit, plain: unknown, json: boolean): Located {
  // A value reached through an alias is shared with every other user of the anchor, and one that
  // comes from a merge key (<<) would be replaced whole by writing its parent here: both are left
  // to the user.
  let cur: unknown = doc.contents;
  let value = plain;
  for (const [n, k] of e.path.entries()) {
    const where = e.path.slice(0, n + 1).join('.');
    if (isScalar(cur) && (cur.value === null || cur.value === undefined) && n > 0)
      return { kind: 'missing', parent: cur, key: k, depth: n };
    if (!isCollection(cur)) throw new Error(`${e.path.slice(0, n).join('.')} is not a mapping or list`);
    const next = child(cur, k, json);
    value = value !== null && typeof value === 'object' ? (value as Record<PathKey, unknown>)[k] : undefined;
    if (isAlias(next)) throw new Error(`${where} is an alias of &${next.source}: harden the anchor`);
    if (next === undefined && value !== undefined && !json)
      throw new Error(`${where} comes from a merge key (<<): harden the anchor`);
    if (next === undefined) return { kind: 'missing', parent: cur, key: k, depth: n };
    cur = next;
  }
  return { kind: 'at', node: cur };
}

function readsAs(
  output: string,
  want: readonly unknown[],
  json: boolean,
  read?: (text: string) => unknown,
): boolean {
  try {
    return isDeepStrictEqual(readDocs(output, json, read), want);
  } catch {
    return false;
  }
}

function readDocs(t: string, json: boolean, read?: (text: string) => unknown): unknown[] {
  if (json) return [read ? read(t) : JSON.parse(t)];
  return parseAllDocuments(t, { version: '1.1', uniqueKeys: true })
    .filter((d) => d.contents !== null)
    .map((d) => {
      if (d.errors.length > 0) throw d.errors[0]!;
      return d.toJS({ maxAliasCount: -1 }) as unknown;
    });
}

/** The fallback: each document written anew from its value with the edits applied. */
function rewrite(
  docs: readonly unknown[],
  applied: readonly Edit[],
  json: boolean,
  skipped: readonly { edit: Edit; reason: string }[],
): HardenResult {
  const text = json
    ? JSON.stringify(docs[0], null, 2) + '\n'
    : docs.map((d) => new YamlDocument(d, { version: '1.1' }).toString({ lineWidth: 0 })).join('---\n');
  return {
    text,
    applied,
    skipped,
    at: new Map(applied.map((e) => [e, { input: 0, output: 0 }])),
    toInput: () => 0,
    rewritten: 'the file could not be edited in place, so it was written anew (comments and layout not kept)',
  };
}

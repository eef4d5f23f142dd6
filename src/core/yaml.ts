// Positions in YAML documents: key paths and offsets back to file:line:col, for every loader that
// reports errors "the way a compiler does" (configuration, policies, admission specs).

import { findDeepNesting, nestingMessage } from './nesting.js';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { SourceLocation } from './errors.js';

/** Where something in a document is, for error messages. */
export interface Locating {
  at(offset: number): SourceLocation;
  path(path: readonly (string | number)[]): SourceLocation;
  key(path: readonly (string | number)[], key: string): SourceLocation;
  inScalar(path: readonly (string | number)[], offset: number): SourceLocation;
}

export class Locator implements Locating {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    readonly file: string,
  ) {}

  at(offset: number): SourceLocation {
    const p = this.lines.linePos(offset);
    return { file: this.file, line: p.line, column: p.col };
  }

  /** The node at `path`, or the deepest existing ancestor when the path does not exist. */
  path(path: readonly (string | number)[]): SourceLocation {
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n), true) as Node | undefined;
      if (node && (isScalar(node) || isMap(node) || isSeq(node)) && node.range) return this.at(node.range[0]);
    }
    return this.at(0);
  }

  /** The key `key` inside the mapping at `path`. */
  key(path: readonly (string | number)[], key: string): SourceLocation {
    const parent = this.doc.getIn(path, true);
    if (isMap(parent)) {
      for (const item of parent.items) {
        if (isPair(item) && isScalar(item.key) && String(item.key.value) === key && item.key.range) {
          return this.at(item.key.range[0]);
        }
      }
    }
    return this.path(path);
  }

  /**
   * The position of character `offset` inside the string scalar at `path`: for an error inside an
   * embedded expression (a CEL rule), so it points at the token, not at the start of the value.
   */
  inScalar(path: readonly (string | number)[], offset: number): SourceLocation {
    const node = this.doc.getIn(path, true) as Node | undefined;
    if (!node || !isScalar(node) || !node.range || typeof node.value !== 'string') return this.path(path);
    const start = node.range[0];
    const type = node.type;
    if (type === 'PLAIN' || type === 'QUOTE_DOUBLE' || type === 'QUOTE_SINGLE') {
      if (node.value.includes('\n')) return this.at(start);
      return this.at(start + (type === 'PLAIN' ? 0 : 1) + offset);
    }
    // Block scalar (| or >): each content line after the header is one stretch of the value
    // (literal: joined by newlines; folded: by spaces), after its indentation.
    const first = this.lines.linePos(start).line; // 1-based header line = 0-based first content line
    let rest = offset;
    for (let idx = first; idx < this.lines.lineStarts.length; idx++) {
      const raw = this.sourceLine(idx).replace(/\r?\n$/, '');
      const indent = /^\s*/.exec(raw)?.[0].length ?? 0;
      const len = raw.length - indent;
      if (rest <= len) return { file: this.file, line: idx + 1, column: indent + rest + 1 };
      rest -= len + 1;
    }
    return this.at(start);
  }

  private source = '';
  /** Gives the locator the source text, for positions inside block scalars. */
  withSource(text: string): this {
    this.source = text;
    return this;
  }

  private sourceLine(idx: number): string {
    const starts = this.lines.lineStarts;
    return this.source.slice(starts[idx], starts[idx + 1] ?? this.source.length);
  }
}

export interface LocatedDocument {
  readonly doc: Document;
  readonly loc: Locator;
  /** Syntax errors, each its first line and where it is; empty when the text parsed. */
  readonly errors: readonly { message: string; location: SourceLocation }[];
}

/**
 * Parses one YAML document strictly (duplicate keys are errors: a second `privileged:` must not
 * silently win) and keeps the positions every later error message needs.
 */
export function parseLocated(text: string, file: string): LocatedDocument {
  const lines = new LineCounter();
  const deep = findDeepNesting(text);
  if (deep) {
    // The parser would recurse to the engine's stack limit: stop at the documented depth instead.
    const empty = parseDocument('', { lineCounter: lines });
    return {
      doc: empty,
      loc: new Locator(empty, lines, file).withSource(''),
      errors: [{ message: nestingMessage(deep), location: { file, line: deep.line, column: deep.column } }],
    };
  }
  const doc = parseDocument(text, {
    lineCounter: lines,
    uniqueKeys: true,
    prettyErrors: false,
    strict: true,
  });
  const loc = new Locator(doc, lines, file).withSource(text);
  const errors = doc.errors.map((e) => ({
    message: e.message.split('\n')[0] ?? e.message,
    location: loc.at(e.pos[0]),
  }));
  return { doc, loc, errors };
}

/**
 * A Locator that parses the text only when first asked: for a document read by a faster reader
 * (core/fastyaml.ts), where positions are needed only to report a problem.
 */
export class LazyLocator implements Locating {
  private real: Locator | undefined;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  private get loc(): Locator {
    return (this.real ??= parseLocated(this.text, this.file).loc);
  }

  at(offset: number): SourceLocation {
    return this.loc.at(offset);
  }

  path(path: readonly (string | number)[]): SourceLocation {
    return this.loc.path(path);
  }

  key(path: readonly (string | number)[], key: string): SourceLocation {
    return this.loc.key(path, key);
  }

  inScalar(path: readonly (string | number)[], offset: number): SourceLocation {
    return this.loc.inScalar(path, offset);
  }
}

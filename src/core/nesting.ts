// How deeply a YAML (or JSON) text nests, found by one linear scan before any parser sees it.
//
// Why a scan of its own: the yaml library composes documents recursively, so a text nested a few
// hundred levels deep ends in V8's "Maximum call stack size exceeded", at whatever depth the
// stack happens to allow. Every reader of untrusted structure (configuration, policy files and
// tests, admission specs) calls this first and stops at a documented depth, with a position.
//
// The count errs high, never far low: block levels are counted by indentation and by each
// inline `- `, `? ` and `: ` indicator, flow levels by brackets outside quotes and comments, and
// block scalars (`|`, `>`) are skipped. A sequence written at its parent key's indentation
// counts once for two levels, so a text the scan passes nests at most about twice as deep as
// counted: far below the parser's limit for any documented maximum.

/** The documented maximum nesting of every structured input Rampart reads. */
export const MAX_NESTING = 64;

export interface NestingViolation {
  /** 1-based position of the token that went past the limit. */
  readonly line: number;
  readonly column: number;
  readonly limit: number;
}

/** The first place where `text` nests deeper than `limit`, or undefined when it never does. */
export function findDeepNesting(text: string, limit = MAX_NESTING): NestingViolation | undefined {
  const blocks: number[] = [];
  let flow = 0;
  let quote: '' | "'" | '"' = '';
  /** A block scalar's body: lines indented deeper than this are text. -1: none. */
  let scalarParent = -1;
  let line = 1;
  let pos = 0;
  while (pos <= text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    let i = pos;
    while (i < end && text.charCodeAt(i) === 0x20) i++;
    const indent = i - pos;
    const blank = i >= end || text[i] === '\r' || (text[i] === '#' && quote === '');
    if (scalarParent >= 0 && (blank || indent > scalarParent)) {
      // Inside a block scalar: text, whatever it looks like.
    } else if (quote === '' && flow === 0 && blank) {
      // Blank or comment line: no structure.
    } else {
      scalarParent = -1;
      if (quote === '' && flow === 0) {
        if (text.startsWith('---', i) || text.startsWith('...', i)) {
          blocks.length = 0;
          i += 3;
        } else {
          while (blocks.length > 0 && blocks[blocks.length - 1]! > indent) blocks.pop();
          if (blocks.length === 0 || blocks[blocks.length - 1]! < indent) blocks.push(indent);
          // Inline block indicators each open a level: "- - x", "? key", ": value".
          for (;;) {
            const c = text[i];
            const next = text[i + 1];
            if (
              (c === '-' || c === '?' || c === ':') &&
              (next === ' ' || next === undefined || i + 1 >= end)
            ) {
              i++;
              while (i < end && text.charCodeAt(i) === 0x20) i++;
              if (blocks[blocks.length - 1]! < i - pos) blocks.push(i - pos);
              if (blocks.length > limit) return { line, column: i - pos + 1, limit };
              continue;
            }
            break;
          }
        }
        if (blocks.length > limit) return { line, column: indent + 1, limit };
      }
      // The rest of the line: flow brackets, quotes, comments, and a block scalar header at its end.
      // Outside flow, a bracket opens a collection only where a value starts (after an indicator,
      // a tag or an anchor): in `key: a [b]` it is part of the plain scalar.
      let valueStart = quote === '';
      let lastToken = -1;
      for (; i < end; i++) {
        const c = text[i]!;
        if (quote === '"') {
          if (c === '\\') i++;
          else if (c === '"') quote = '';
          continue;
        }
        if (quote === "'") {
          if (c === "'") {
            if (text[i + 1] === "'") i++;
            else quote = '';
          }
          continue;
        }
        if (c === ' ' || c === '\t' || c === '\r') continue;
        const before = i === pos ? ' ' : text[i - 1]!;
        if (c === '#' && (before === ' ' || before === '\t')) break;
        lastToken = i;
        if (flow > 0) {
          if (c === '[' || c === '{') {
            flow++;
            if (blocks.length + flow > limit) return { line, column: i - pos + 1, limit };
          } else if (c === ']' || c === '}') flow--;
          else if ((c === '"' || c === "'") && ' \t[{,:'.includes(before)) quote = c;
          continue;
        }
        if (c === ':' && (text[i + 1] === ' ' || i + 1 >= end)) {
          valueStart = true;
          continue;
        }
        if (!valueStart) continue;
        if (c === '[' || c === '{') {
          flow = 1;
          if (blocks.length + flow > limit) return { line, column: i - pos + 1, limit };
        } else if (c === '"' || c === "'") {
          quote = c;
          valueStart = false;
        } else if (c === '!' || c === '&') {
          // A tag or an anchor: the value starts after it.
          while (i + 1 < end && text[i + 1] !== ' ') i++;
        } else valueStart = false;
      }
      if (quote === '' && flow === 0 && lastToken >= 0 && isScalarHeader(text, pos, lastToken))
        scalarParent = indent;
    }
    line++;
    pos = end + 1;
  }
  return undefined;
}

/** Does the line's last token (ending at `last`) read as a block scalar header: |, >, |-, >2+ ...? */
function isScalarHeader(text: string, lineStart: number, last: number): boolean {
  let j = last;
  while (j > lineStart && /[0-9+-]/.test(text[j]!)) j--;
  const c = text[j];
  if (c !== '|' && c !== '>') return false;
  const before = j === lineStart ? ' ' : text[j - 1]!;
  return before === ' ' || before === '\t';
}

/** The one wording every reader uses for a violation. */
export function nestingMessage(v: NestingViolation): string {
  return `nested deeper than ${v.limit} levels (the most Rampart reads)`;
}

// Outbound inspection: what a request to an inspected host carries (its request line, headers and
// body) passes through the redaction engine, and a finding is data: the rule, where (path, a
// header's name, the body) and at which offset, and what was done (blocked or recorded), never
// the value.
//
// What blocks: a credential of a known kind (a GitHub, AWS, Anthropic, Stripe... token: a fixed
// prefix, often a checksum), a value the proxy itself injects for this run (an origin must never
// get it back from the agent), and a decoy. What is recorded only: the generic, context-guessed
// kinds (`password = ...`, a JWT, an Authorization header), because a test fixture in a prompt
// must not become an outage.

/** A match of the redaction engine, as inspection needs it (no value: it is never recorded). */
export interface TextMatch {
  readonly rule: string;
  readonly kind: string;
  readonly start: number;
}

/**
 * The redaction engine, as the proxy is given it (the server composes it): whole texts, and
 * streams that release bytes unchanged once cleared, reporting matches with their offsets.
 */
export interface Scanner {
  find(text: string): readonly TextMatch[];
  stream(onMatch: (m: TextMatch, offset: number) => void): ScanStream;
}

export interface ScanStream {
  push(chunk: Buffer): Buffer[];
  end(): Buffer[];
}

/** Kinds whose matches are guesses from context, recorded and let through. */
const RECORDED_KINDS: ReadonlySet<string> = new Set(['generic', 'auth-header', 'url', 'email', 'jwt']);

export interface Finding {
  readonly rule: string;
  /** path, header:<name>, or body. */
  readonly where: string;
  readonly offset: number;
  readonly action: 'blocked' | 'recorded';
}

/** Findings past this are counted, not listed (one request full of fixtures is one record). */
const MAX_LISTED = 20;

export class Findings {
  readonly list: Finding[] = [];
  more = 0;
  private first: Finding | undefined;

  /** The first finding that blocks (a method: it changes as a body streams). */
  blocking(): Finding | undefined {
    return this.first;
  }

  add(f: Finding): void {
    if (f.action === 'blocked') this.first ??= f;
    if (this.list.length < MAX_LISTED) this.list.push(f);
    else this.more++;
  }
}

export function classify(m: TextMatch): 'blocked' | 'recorded' {
  return RECORDED_KINDS.has(m.kind) ? 'recorded' : 'blocked';
}

/** Values that block wherever they appear (injected credentials); never recorded themselves. */
export type Literals = readonly { readonly rule: string; readonly value: string }[];

/** Looks for the literals in text; offsets relative to `base`. */
export function findLiterals(
  text: string,
  literals: Literals,
  where: string,
  base: number,
  out: Findings,
): void {
  for (const l of literals) {
    const at = text.indexOf(l.value);
    if (at >= 0) out.add({ rule: l.rule, where, offset: base + at, action: 'blocked' });
  }
}

/** Inspects a request's line and headers at once (they are whole before anything is sent). */
export function inspectHead(
  scanner: Scanner,
  path: string,
  headers: readonly [string, string][],
  literals: Literals,
  out: Findings,
): void {
  const look = (text: string, where: string): void => {
    for (const m of scanner.find(text))
      out.add({ rule: m.rule, where, offset: m.start, action: classify(m) });
    findLiterals(text, literals, where, 0, out);
  };
  look(decodeLoosely(path), 'path');
  for (const [name, value] of headers) look(value, `header:${name.toLowerCase()}`);
}

/** A path's percent-escapes undone where they decode, so %67hp_ is seen as ghp_. */
function decodeLoosely(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/**
 * A body's inspection as a stream: push bytes, get back those already cleared (unchanged), which
 * are the only ones that may be forwarded. A line is held until it ends (at most the redaction
 * engine's MAX_HOLD), so a credential split across chunks is seen whole before any of it leaves.
 */
export class BodyInspector {
  private readonly chunks: ScanStream;
  /** Bytes released so far (where a literal search resumes). */
  private released = 0;
  /** The last bytes released, as long as the longest literal less one: a match may span pieces. */
  private tail = Buffer.alloc(0);
  private readonly needles: readonly { readonly rule: string; readonly bytes: Buffer }[];
  private readonly longest: number;

  constructor(
    scanner: Scanner,
    literals: Literals,
    private readonly out: Findings,
    /** What each push releases, as one text, for the decoy scan. */
    private readonly seen?: (text: string) => void,
  ) {
    this.chunks = scanner.stream((m, offset) =>
      out.add({ rule: m.rule, where: 'body', offset, action: classify(m) }),
    );
    // Searched as bytes, with only the few bytes around a piece's start joined to what came
    // before: no string is made of every piece, and a match is reported in one piece only.
    this.needles = literals.map((l) => ({ rule: l.rule, bytes: Buffer.from(l.value, 'utf8') }));
    this.longest = this.needles.reduce((n, l) => Math.max(n, l.bytes.length), 0);
  }

  push(chunk: Buffer): Buffer[] {
    return this.look(this.chunks.push(chunk));
  }

  end(): Buffer[] {
    return this.look(this.chunks.end());
  }

  /**
   * The literals are searched in what is about to be released, and across its start with the
   * end of what was released before (a literal never spans a line, and lines are released whole,
   * but a line longer than the hold is released in pieces). One finding per literal per piece.
   */
  private look(parts: Buffer[]): Buffer[] {
    for (const p of parts) {
      if (this.longest > 0) {
        const keep = this.longest - 1;
        const edge = this.tail.length > 0 ? Buffer.concat([this.tail, p.subarray(0, keep)]) : undefined;
        for (const n of this.needles) {
          // Only a match that ends in this piece: one wholly in the tail was found before.
          const across = edge
            ? edge.indexOf(n.bytes, Math.max(0, this.tail.length - n.bytes.length + 1))
            : -1;
          const inside = across >= 0 ? -1 : p.indexOf(n.bytes);
          if (across >= 0 || inside >= 0)
            this.out.add({
              rule: n.rule,
              where: 'body',
              offset: this.released + (across >= 0 ? across - this.tail.length : inside),
              action: 'blocked',
            });
        }
        // Copied, so a small tail never keeps a whole chunk alive.
        const joined = p.length >= keep ? p : Buffer.concat([this.tail, p]);
        this.tail = Buffer.from(joined.subarray(Math.max(0, joined.length - keep)));
      }
      this.released += p.length;
    }
    // Once for all a push released: a line can be released as views of the two reads it came
    // in, and a decoy split between them must reach the scan whole.
    if (this.seen && parts.length > 0)
      this.seen(
        parts.length === 1 ? parts[0]!.toString('latin1') : parts.map((p) => p.toString('latin1')).join(''),
      );
    return parts;
  }
}

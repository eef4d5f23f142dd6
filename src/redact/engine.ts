// The redaction engine: rules compiled once, then for any text one keyword pass and a sticky
// pattern attempt at each keyword occurrence.
//
// Why it stays linear in the input, whatever the input: the keyword pass is one table lookup per
// character; every pattern is anchored (sticky) at its keyword, uses only bounded quantifiers and
// is checked free of super-linear backtracking (test/redact/safety.test.ts); a rule that matched a
// span is not tried again inside that span; and token rules require a non-word character before
// them, so a run of repeated keywords costs one attempt, not one per repetition.

import type { Finding, Severity } from '../core/types.js';
import { KeywordAutomaton } from './keywords.js';
import { RULES, type Rule } from './rules.js';
import { isCode, isReference } from './refs.js';
import { entropy, isPlaceholder } from './validate.js';

/** A secret found in a text: the span that is redacted, and the rule that found it. */
export interface SecretMatch {
  readonly rule: string;
  readonly kind: string;
  readonly label: string;
  readonly severity: Severity;
  /** Offsets of the redacted span (the secret, not its key or prefix). */
  readonly start: number;
  readonly end: number;
  /** The secret itself: for fingerprints and callers that must act on it. Never log it. */
  readonly secret: string;
}

/** Publicly documented example credentials that are not secrets (AWS docs, jwt.io, ...). */
const KNOWN_EXAMPLES = new Set([
  'AKIAIOSFODNN7EXAMPLE',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
]);

/** Generic context rules never take paths, URLs or references as values. */
const NOT_A_VALUE =
  /^(?:\/|\.{1,2}\/|~\/|[a-z][a-z0-9+.-]{1,20}:\/\/|file:|env:|secret:|vault:|arn:aws:|\$\(|@)/i;

const HEX_ONLY = /^[0-9a-fA-F]+$/;
const QUOTES = ['"', "'", '`'];

interface Compiled {
  readonly rule: Rule;
  readonly re: RegExp;
  readonly generic: boolean;
}

export interface RedactOptions {
  /** Rules to use instead of the built-in set. */
  readonly rules?: readonly Rule[];
}

export class Redactor {
  private readonly compiled: Compiled[];
  private readonly automaton: KeywordAutomaton;
  /** keyword index -> rule indices */
  private readonly byKeyword: number[][];
  readonly rules: readonly Rule[];

  constructor(opts: RedactOptions = {}) {
    this.rules = opts.rules ?? RULES;
    const ids = new Set<string>();
    const keywords: string[] = [];
    const keywordIndex = new Map<string, number>();
    this.byKeyword = [];
    this.compiled = this.rules.map((rule, ri) => {
      if (ids.has(rule.id)) throw new TypeError(`duplicate redaction rule id ${rule.id}`);
      ids.add(rule.id);
      if (rule.keywords.length === 0) throw new TypeError(`rule ${rule.id} has no keywords`);
      for (const kw of rule.keywords) {
        const key = kw.toLowerCase();
        let k = keywordIndex.get(key);
        if (k === undefined) {
          k = keywords.length;
          keywords.push(key);
          keywordIndex.set(key, k);
          this.byKeyword.push([]);
        }
        this.byKeyword[k]!.push(ri);
      }
      const flags = rule.pattern.flags.replace(/[gyd]/g, '') + 'dy';
      return { rule, re: new RegExp(rule.pattern.source, flags), generic: rule.kind === 'generic' };
    });
    this.automaton = new KeywordAutomaton(keywords);
    // Run the keyword loops once over every keyword, so V8 optimizes them with feedback for the
    // hit path too, instead of deoptimizing on the first real secret in the middle of a stream.
    const warm = Buffer.from(keywords.join(' '), 'latin1');
    this.automaton.scanBytes(warm, 0, warm.length, () => undefined);
  }

  /**
   * Every secret in text[from, to), after overlaps are resolved (highest priority, then longest,
   * wins). `bytes`, when given, must be the latin1 encoding of `text` (the stream has both).
   */
  find(text: string, from = 0, to = text.length, bytes?: Uint8Array): SecretMatch[] {
    const candidates: (SecretMatch & { priority: number })[] = [];
    // Allocated on the first keyword hit: most short strings have none.
    let nextStart: Int32Array | undefined;
    let glued: GluedAttempts | undefined;
    const onHit = (k: number, hit: number): void => {
      for (const ri of this.byKeyword[k]!) {
        const c = this.compiled[ri]!;
        const r = c.rule;
        let start = hit;
        if (r.back) {
          let n = 0;
          while (n < r.back.max && start - n - 1 >= 0 && r.back.cls.test(text[start - n - 1]!)) n++;
          start -= n;
        }
        nextStart ??= new Int32Array(this.compiled.length);
        if (start < nextStart[ri]!) continue;
        // A token glued to a word character (`x\\nghp_...`, `tokenghp_...`) is tried too, but at
        // most GLUED_PER_RUN times per rule in one run of word characters: a run of repeated
        // keywords then costs a bounded number of attempts, and the search stays linear.
        if (r.boundary && start > 0 && isWordChar(text.charCodeAt(start - 1))) {
          glued ??= new GluedAttempts(text, this.compiled.length);
          if (!glued.allow(ri, start)) continue;
        }
        c.re.lastIndex = start;
        const m = c.re.exec(text);
        if (!m) continue;
        nextStart[ri] = start + m[0].length;
        let g = 1;
        while (g < m.length && m[g] === undefined) g++;
        const [s, e] = g < m.length ? m.indices![g]! : [start, start + m[0].length];
        const secret = text.slice(s, e);
        if (!this.accept(c, secret, text, start, start + m[0].length)) continue;
        candidates.push({
          rule: r.id,
          kind: r.kind,
          label: r.label,
          severity: r.severity,
          start: s,
          end: e,
          secret,
          priority: r.priority ?? 0,
        });
      }
    };
    if (bytes) this.automaton.scanBytes(bytes, from, to, onHit);
    else this.automaton.scan(text, from, to, onHit);
    return resolveOverlaps(candidates);
  }

  private accept(c: Compiled, secret: string, text: string, start: number, end: number): boolean {
    const r = c.rule;
    if (secret.length === 0) return false;
    if (KNOWN_EXAMPLES.has(secret)) return false;
    if (r.placeholders !== false && isPlaceholder(secret)) return false;
    if (c.generic && NOT_A_VALUE.test(secret)) return false;
    // A key named like a password whose value is a reference or, unquoted, an expression in code
    // (os.environ.get(...), process.env.X, pf.read()) names where the secret comes from.
    if (c.generic && (isReference(secret) || (!QUOTES.includes(text[start - 1] ?? '') && isCode(secret))))
      return false;
    if (r.entropy !== undefined) {
      // A hex string carries at most 4 bits per character, so a random 40-digit hex token often
      // measures under a threshold meant for base64; judge it against the hex alphabet instead.
      const floor = c.generic && HEX_ONLY.test(secret) ? Math.min(r.entropy, 3.0) : r.entropy;
      if (entropy(secret) < floor) return false;
    }
    if (r.validate && !r.validate(secret, { text, start, end })) return false;
    return true;
  }

  /** Replaces every secret with [REDACTED-LABEL] (URL userinfo with [REDACTED]). */
  redact(text: string): { text: string; matches: SecretMatch[] } {
    const matches = this.find(text);
    return { text: applyRedactions(text, matches), matches };
  }
}

export function replacementFor(m: Pick<SecretMatch, 'label'>): string {
  return m.label === '' ? '[REDACTED]' : `[REDACTED-${m.label}]`;
}

/** Rebuilds text with each match replaced; matches must not overlap. */
export function applyRedactions(
  text: string,
  matches: readonly SecretMatch[],
  from = 0,
  to = text.length,
): string {
  if (matches.length === 0) return from === 0 && to === text.length ? text : text.slice(from, to);
  let out = '';
  let at = from;
  for (const m of matches) {
    out += text.slice(at, m.start) + replacementFor(m);
    at = m.end;
  }
  return out + text.slice(at, to);
}

/** Glued attempts of a rule inside one run of word characters, at most this many. */
const GLUED_PER_RUN = 4;

/**
 * Counts each rule's glued attempts per run of word characters. The start of the run holding a
 * position is found incrementally (hits arrive left to right), so the bookkeeping is linear too.
 */
class GluedAttempts {
  private readonly run: Int32Array;
  private readonly count: Uint8Array;
  private lastAt = 0;
  private lastRun = 0;

  constructor(
    private readonly text: string,
    rules: number,
  ) {
    this.run = new Int32Array(rules).fill(-1);
    this.count = new Uint8Array(rules);
  }

  allow(rule: number, at: number): boolean {
    const run = this.runStart(at);
    if (this.run[rule] !== run) {
      this.run[rule] = run;
      this.count[rule] = 0;
    }
    return ++this.count[rule]! <= GLUED_PER_RUN;
  }

  private runStart(at: number): number {
    let i: number;
    if (at >= this.lastAt) {
      // Anything that is not a word character between the last query and this one starts a run.
      i = at;
      while (i > this.lastAt && isWordChar(this.text.charCodeAt(i - 1))) i--;
      if (i === this.lastAt && i > 0 && isWordChar(this.text.charCodeAt(i - 1))) i = this.lastRun;
    } else {
      // A rule that looks back (`back`) asked behind the last query: walk back from here.
      i = at;
      while (i > 0 && isWordChar(this.text.charCodeAt(i - 1))) i--;
    }
    this.lastAt = at;
    this.lastRun = i;
    return i;
  }
}

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/**
 * Overlapping candidates merge into one span covering both (nothing of either secret survives);
 * the span takes the label of the stronger rule: higher priority, then the longer match.
 */
function resolveOverlaps<T extends SecretMatch & { priority: number }>(cands: T[]): SecretMatch[] {
  if (cands.length <= 1) return cands.map(strip);
  cands.sort((a, b) => a.start - b.start || b.priority - a.priority || b.end - a.end);
  const kept: T[] = [];
  for (const c of cands) {
    const last = kept[kept.length - 1];
    if (!last || c.start >= last.end) {
      kept.push(c);
      continue;
    }
    const stronger =
      c.priority > last.priority || (c.priority === last.priority && c.end - c.start > last.end - last.start)
        ? c
        : last;
    kept[kept.length - 1] = { ...stronger, start: last.start, end: Math.max(last.end, c.end) };
  }
  return kept.map(strip);
}

function strip(m: SecretMatch & { priority: number }): SecretMatch {
  const { priority: _p, ...rest } = m;
  return rest;
}

/** A Finding for a match in a file, with a fingerprint that identifies the secret without revealing it. */
export function toFinding(
  m: SecretMatch,
  where: { file: string; line: number; column: number; endLine: number; endColumn: number },
  fingerprint: string,
  rule: Rule | undefined,
): Finding {
  return {
    ruleId: m.rule,
    severity: m.severity,
    message: `${rule?.description ?? m.rule} (${replacementFor(m)})`,
    location: where,
    fingerprint,
    help: 'Revoke the credential, remove it from the file and its history, and load it from a secret file at run time.',
  };
}

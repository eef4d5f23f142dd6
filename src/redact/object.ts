// Structured redaction of JSON values (log objects, API payloads, audit details): keys and string
// values are redacted as text, and a value under a key that names a secret (password, token,
// authorization, ...) is replaced whole, however weak it looks: in a structured record the key
// says what the value is.

import type { Redactor } from './engine.js';
import { isSecretKey } from '../core/secretkeys.js';
import { isPlaceholder } from './validate.js';

const MAX_DEPTH = 64;

/**
 * A deep copy of `value` with every secret replaced. Cycles and depth beyond 64 are cut, not
 * followed.
 *
 * Fast path: every key and string is first scanned in one pass, joined by newlines (a match
 * inside any one string is still a match in the joined text). Only when that finds something is
 * each string redacted on its own. Most records (audit details, decision logs) hold no secret, and
 * this makes them one scan instead of dozens.
 */
export function redactValue(redactor: Redactor, value: unknown): unknown {
  const strings: string[] = [];
  const copy = walk(value, (s) => (strings.push(s), s));
  if (strings.length === 0 || redactor.find(strings.join('\n')).length === 0) return copy;
  return walk(value, (s) => redactor.redact(s).text);
}

/** Copies `value`, replacing values under secret-named keys and passing every other string (and key) through `text`. */
function walk(value: unknown, text: (s: string) => string): unknown {
  const seen = new WeakSet<object>();
  const go = (v: unknown, key: string | undefined, depth: number): unknown => {
    if (typeof v === 'string') {
      if (key !== undefined && isSecretKey(key) && v.length > 0 && !isPlaceholder(v)) return '[REDACTED]';
      return text(v);
    }
    if (v === null || typeof v !== 'object') return v;
    if (depth >= MAX_DEPTH) return '[TRUNCATED]';
    if (seen.has(v)) return '[CIRCULAR]';
    seen.add(v);
    if (Array.isArray(v)) return v.map((x) => go(x, key, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[text(k)] = go(x, k, depth + 1);
    return out;
  };
  return go(value, undefined, 0);
}

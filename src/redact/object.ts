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
  // The objects on the path from the root: meeting one again is a cycle. (A path, not a set of
  // everything seen: shared subtrees are copied twice, which is right, and this is cheaper.)
  const path: object[] = [];
  const go = (v: unknown, key: string | undefined): unknown => {
    if (typeof v === 'string') {
      if (key !== undefined && v.length > 0 && isSecretKey(key) && !isPlaceholder(v)) return '[REDACTED]';
      return text(v);
    }
    if (v === null || typeof v !== 'object') return v;
    if (path.length >= MAX_DEPTH) return '[TRUNCATED]';
    if (path.includes(v)) return '[CIRCULAR]';
    path.push(v);
    let out: unknown;
    if (Array.isArray(v)) {
      const arr: unknown[] = new Array<unknown>(v.length);
      for (let i = 0; i < v.length; i++) arr[i] = go(v[i], key);
      out = arr;
    } else {
      const obj: Record<string, unknown> = {};
      const src = v as Record<string, unknown>;
      for (const k in src) {
        if (!Object.hasOwn(src, k)) continue;
        const name = text(k);
        const x = go(src[k], k);
        // A "__proto__" key (JSON.parse makes it an own property) must stay a property.
        if (name === '__proto__')
          Object.defineProperty(obj, name, {
            value: x,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        else obj[name] = x;
      }
      out = obj;
    }
    path.pop();
    return out;
  };
  return go(value, undefined);
}

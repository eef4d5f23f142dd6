// Structured redaction of JSON values (log objects, API payloads, audit details): keys and string
// values are redacted as text, and a value under a key that names a secret (password, token,
// authorization, ...) is replaced whole, however weak it looks: in a structured record the key
// says what the value is.

import type { Redactor } from './engine.js';
import { isPlaceholder } from './validate.js';

const SECRET_KEY =
  /(?:^|[_.-])(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|authorization|auth|cookie|set-cookie|session[_-]?id|signature)(?:$|[_.-])|^(?:password|passwd|secret|token|authorization|cookie)$/i;
const NOT_SECRET_KEY =
  /(?:^|[_.-])(?:type|count|len|length|ttl|expires?(?:_at|_in)?|file|path|url|uri|endpoint|name|id_hint|hash_alg|kind|scope|scopes|max|min)$/i;
const MAX_DEPTH = 64;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key) && !NOT_SECRET_KEY.test(key);
}

/** A deep copy of `value` with every secret replaced. Cycles and depth beyond 64 are cut, not followed. */
export function redactValue(redactor: Redactor, value: unknown): unknown {
  const seen = new WeakSet<object>();
  const walk = (v: unknown, key: string | undefined, depth: number): unknown => {
    if (typeof v === 'string') {
      if (key !== undefined && isSecretKey(key) && v.length > 0 && !isPlaceholder(v)) return '[REDACTED]';
      return redactor.redact(v).text;
    }
    if (v === null || typeof v !== 'object') return v;
    if (depth >= MAX_DEPTH) return '[TRUNCATED]';
    if (seen.has(v)) return '[CIRCULAR]';
    seen.add(v);
    if (Array.isArray(v)) return v.map((x) => walk(x, key, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>))
      out[redactor.redact(k).text] = walk(x, k, depth + 1);
    return out;
  };
  return walk(value, undefined, 0);
}

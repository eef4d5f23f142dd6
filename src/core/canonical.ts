// Canonical JSON in the manner of RFC 8785 (JCS): object keys sorted by UTF-16 code units, no
// insignificant whitespace, strings and numbers as ECMAScript's JSON.stringify writes them. The
// audit log hashes these bytes, so the same record always hashes the same on every replica.

export function canonicalJson(value: unknown): string {
  return write(value, 0);
}

const MAX_DEPTH = 64;

/** Strings that JSON.stringify would copy unchanged between quotes (no escapes, no surrogates). */
// eslint-disable-next-line no-control-regex -- JSON.stringify escapes exactly these code units
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

function str(s: string): string {
  return PLAIN.test(s) ? '"' + s + '"' : JSON.stringify(s);
}

// Written with string concatenation and index loops rather than map/join: audit details are
// serialized on the request path (decision logs), and this is about three times faster.
function write(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new TypeError('canonicalJson: value nests deeper than 64 levels');
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return str(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
      return JSON.stringify(value);
    case 'bigint':
      return '"' + value.toString() + '"';
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + write(value[i], depth + 1);
        return out + ']';
      }
      if (value instanceof Date) return '"' + value.toISOString() + '"';
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj);
      // Most records are built with their keys already in order; sorting is then skipped.
      for (let i = 1; i < keys.length; i++) {
        if (keys[i - 1]! > keys[i]!) {
          keys.sort();
          break;
        }
      }
      let out = '{';
      let first = true;
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const v = obj[k];
        if (v === undefined) continue;
        out += (first ? '' : ',') + str(k) + ':' + write(v, depth + 1);
        first = false;
      }
      return out + '}';
    }
    case 'undefined':
    case 'function':
    case 'symbol':
      throw new TypeError(`canonicalJson: cannot encode a ${typeof value}`);
  }
  throw new TypeError('canonicalJson: unreachable');
}

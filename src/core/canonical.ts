// Canonical JSON in the manner of RFC 8785 (JCS): object keys sorted by UTF-16 code units, no
// insignificant whitespace, strings and numbers as ECMAScript's JSON.stringify writes them. The
// audit log hashes these bytes, so the same record always hashes the same on every replica.

export function canonicalJson(value: unknown): string {
  return write(value, 0);
}

const MAX_DEPTH = 64;

function write(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new TypeError('canonicalJson: value nests deeper than 64 levels');
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
      return JSON.stringify(value);
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'object': {
      if (Array.isArray(value)) return '[' + value.map((v) => write(v, depth + 1)).join(',') + ']';
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return '{' + keys.map((k) => JSON.stringify(k) + ':' + write(obj[k], depth + 1)).join(',') + '}';
    }
    case 'undefined':
    case 'function':
    case 'symbol':
      throw new TypeError(`canonicalJson: cannot encode a ${typeof value}`);
  }
  throw new TypeError('canonicalJson: unreachable');
}

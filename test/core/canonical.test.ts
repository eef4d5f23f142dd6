// Canonical JSON is what the audit log hashes: it must be valid JSON that means the same value,
// with keys in UTF-16 code-unit order at every level, and exactly the bytes of the straightforward
// RFC 8785 construction (sorted keys, JSON.stringify for each string and number).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalJson } from '../../src/core/canonical.js';

function reference(v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(reference).join(',') + ']';
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return (
      '{' +
      Object.keys(o)
        .sort()
        .map((k) => JSON.stringify(k) + ':' + reference(o[k]))
        .join(',') +
      '}'
    );
  }
  return JSON.stringify(v);
}

describe('canonicalJson', () => {
  it('matches the RFC 8785 construction on arbitrary JSON, lone surrogates and control characters included', () => {
    const text = fc.string({ unit: 'binary', maxLength: 12 });
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.dictionary(text, text), (v, strange) => {
        const value = { v, strange };
        const out = canonicalJson(value);
        assert.equal(out, reference(value));
        assert.deepEqual(JSON.parse(out), JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses what JSON cannot say the same way twice', () => {
    assert.throws(() => canonicalJson({ n: NaN }), /non-finite/);
    assert.throws(() => canonicalJson([() => 1]), /cannot encode a function/);
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = [deep];
    assert.throws(() => canonicalJson(deep), /deeper than 64/);
  });
});

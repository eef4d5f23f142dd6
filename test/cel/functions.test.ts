// The prepared forms of glob and hostMatches (what compiled rules call with a constant pattern)
// answer exactly as the general functions do, on generated patterns and inputs.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { compileGlob, compileHostPattern, glob, hostMatches } from '../../src/cel/functions.js';

const alphabet = fc.constantFrom('a', 'b', '/', '.', '*', '?', 'A');

it('compileGlob(p)(s) is glob(s, p)', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: alphabet, maxLength: 8 }),
      fc.string({ unit: alphabet, maxLength: 12 }),
      (p, s) => {
        assert.equal(compileGlob(p)(s), glob(s, p), `glob(${JSON.stringify(s)}, ${JSON.stringify(p)})`);
      },
    ),
    { numRuns: 20_000 },
  );
});

it('compileHostPattern(p)(h) is hostMatches(h, p)', () => {
  const label = fc.constantFrom('a', 'B', 'example', 'com', '', '*');
  const host = fc.array(label, { maxLength: 4 }).map((l) => l.join('.'));
  fc.assert(
    fc.property(host, host, fc.boolean(), (p, h, dot) => {
      const hh = dot ? `${h}.` : h;
      assert.equal(compileHostPattern(p)(hh), hostMatches(hh, p));
    }),
    { numRuns: 20_000 },
  );
});

// Every reader of untrusted structure stops at the documented depth (64) with its own error code
// and the position of the token that went past it, never at V8's stack limit ("Maximum call
// stack size exceeded"), whatever the shape: flow brackets, block indentation, inline "- - -".

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { findDeepNesting, MAX_NESTING } from '../../src/core/nesting.js';
import { parseConfig } from '../../src/config/load.js';
import { RampartError, RampartErrorList } from '../../src/core/errors.js';
import { InputError, parseTrees } from '../../src/admission/tree.js';
import { rampart } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const DEEP = 5000;
const shapes: Record<string, string> = {
  'flow sequences': `a: ${'['.repeat(DEEP)}${']'.repeat(DEEP)}\n`,
  'flow mappings': `a: ${'{b: '.repeat(DEEP)}1${'}'.repeat(DEEP)}\n`,
  // 1,200 levels (1.4 MB): past where the yaml library overflowed (about 900).
  'block mappings': Array.from({ length: 1200 }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n') + ' 1\n',
  'inline sequence entries': `${'- '.repeat(DEEP)}x\n`,
  JSON: `${'['.repeat(DEEP)}${']'.repeat(DEEP)}`,
};

function messageOf(e: unknown): string {
  if (e instanceof RampartErrorList) return e.errors.map((x) => x.describe()).join('\n');
  if (e instanceof InputError)
    return `${e.location.file}:${e.location.line}:${e.location.column}: ${e.message}`;
  return e instanceof RampartError ? e.describe() : String(e);
}

describe('nesting depth', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());

  it('counts no deeper than twice the real depth, and never less than half of it (property)', () => {
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.boolean()),
        fc.array(tie('node'), { minLength: 1, maxLength: 3 }),
        fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), tie('node'), { minKeys: 1, maxKeys: 3 }),
      ),
    })).node;
    const depthOf = (v: unknown): number =>
      v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0;
    fc.assert(
      fc.property(value, fc.boolean(), (v, flow) => {
        const text = flow ? JSON.stringify(v) : stringify(v, { collectionStyle: 'block' });
        const d = depthOf(v);
        assert.equal(
          findDeepNesting(text, 2 * d + 2),
          undefined,
          `counted deeper than ${2 * d + 2}:\n${text}`,
        );
        if (d >= 4) assert.notEqual(findDeepNesting(text, Math.floor(d / 2) - 1), undefined, text);
      }),
      { numRuns: 2000 },
    );
  });

  it('does not count what block scalars, quotes and comments hold', () => {
    const text = [
      'rule: |',
      '  [[[[[[[[[[',
      '        {{{{{{{{{',
      '                  - - - - - -',
      'other: "[[[[[[[[[[[[["',
      "more: '{{{{{{{{'' [[[['",
      'note: x # [[[[[[[[[[[[[[[',
      '',
    ].join('\n');
    assert.equal(findDeepNesting(text, 3), undefined);
  });

  for (const [shape, text] of Object.entries(shapes)) {
    it(`stops admission specs at ${MAX_NESTING} levels: ${shape}`, () => {
      assert.throws(
        () => parseTrees(text, 'spec.yaml'),
        (e: unknown) => /^spec\.yaml:\d+:\d+: .*nested deeper than 64 levels/.test(messageOf(e)),
      );
    });

    it(`stops the configuration at ${MAX_NESTING} levels: ${shape}`, () => {
      assert.throws(
        () => parseConfig(text, 'rampart.yaml', { baseDir: '/etc/rampart' }),
        (e: unknown) =>
          /RAMPART_E_CONFIG_PARSE/.test(messageOf(e)) && /nested deeper than 64 levels/.test(messageOf(e)),
      );
    });
  }

  it('every CLI reader names the file, line and column, exits non-zero and never overflows', () => {
    const deep = join(tmp.dir, 'deep.yaml');
    writeFileSync(deep, shapes['block mappings']!);
    const pol = join(tmp.dir, 'policies');
    mkdirSync(pol);
    writeFileSync(join(pol, 'deep.yaml'), shapes['flow sequences']!);
    const runs: [string[], RegExp][] = [
      [['check', deep], /deep\.yaml:65:\d+: RAMPART_E_ADMISSION_INPUT: nested deeper than 64 levels/],
      [['harden', deep], /deep\.yaml:65:\d+: RAMPART_E_ADMISSION_INPUT: nested deeper than 64 levels/],
      [['policy', 'check', pol], /deep\.yaml:1:\d+: error RAMPART_E_POLICY_INVALID: nested deeper than 64/],
      [['policy', 'eval', '--input', deep], /deep\.yaml:65:\d+: nested deeper than 64 levels/],
      [['up', '--config', deep], /deep\.yaml:65:\d+: RAMPART_E_CONFIG_PARSE: nested deeper than 64 levels/],
    ];
    for (const [args, want] of runs) {
      const r = rampart(args, { cwd: tmp.dir });
      const out = r.stdout + r.stderr;
      assert.notEqual(r.code, 0, `${args.join(' ')} exited 0`);
      assert.doesNotMatch(out, /call stack|RangeError| {4}at /, `${args.join(' ')}: ${out}`);
      assert.match(out, want, `${args.join(' ')}: ${out}`);
    }
  });
});

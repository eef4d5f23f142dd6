// The echo of an injected credential in a response body is masked wherever the reads cut it: at
// every offset, a byte at a time, twice in a row, overlapping itself; and nothing else changes.

import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { Unecho } from '../../src/egress/unecho.js';

const VALUE = 'sk-ant-api03-Xq7Lm2Pz9';
const MASK = '*'.repeat(VALUE.length);

/** The body through the masker, in pieces of the given sizes (each a fresh buffer: it is masked in place). */
async function through(body: string, sizes: (i: number) => number, value = VALUE): Promise<string> {
  const bytes = Buffer.from(body, 'latin1');
  const pieces: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = Math.max(1, sizes(i));
    pieces.push(Buffer.from(bytes.subarray(at, at + n)));
    at += n;
  }
  return text(Readable.from(pieces).pipe(new Unecho(value)));
}

describe('the masking of an echoed credential', () => {
  const body = `{"error": "bad key ${VALUE}", "you sent": "${VALUE}${VALUE}"}\n`;
  const masked = body.split(VALUE).join(MASK);

  it('masks it at every cut of two pieces', async () => {
    for (let cut = 1; cut < body.length; cut++)
      assert.equal(await through(body, (i) => (i === 0 ? cut : body.length)), masked, `cut at ${cut}`);
  });

  it('masks it when the body comes a byte, or a few bytes, at a time', async () => {
    for (const n of [1, 2, 3, 7, VALUE.length - 1, VALUE.length, VALUE.length + 1])
      assert.equal(await through(body, () => n), masked, `${n} bytes at a time`);
  });

  it('leaves no whole value of one that overlaps itself, and a body without it alone', async () => {
    // Occurrences overlap: masking the first breaks the second, and neither can be read.
    const self = 'abab';
    for (const n of [1, 2, 3, 4, 10]) {
      const out = await through('xxabababyy', () => n, self);
      assert.ok(!out.includes(self) && out.startsWith('xx****') && out.length === 10, `${n}: ${out}`);
    }
    const clean = `${VALUE.slice(0, -1)} and ${VALUE.slice(1)}`;
    for (let cut = 1; cut < clean.length; cut++)
      assert.equal(await through(clean, (i) => (i === 0 ? cut : clean.length)), clean);
  });
});

// The body inspector's search for literals (the credentials the proxy injects): whatever the
// pieces a body is released in, an injected value is found once, at its true offset, also when
// it spans two pieces; and what is released is the body, byte for byte.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BodyInspector, Findings, type Scanner } from '../../src/egress/dlp.js';
import { Redactor } from '../../src/redact/engine.js';
import { ChunkRedactor, MAX_HOLD } from '../../src/redact/stream.js';

const VALUE = 'rk-injected-3f9a1c7e5b2d4a6f';
const SHORT = 'rk-short-91';
const literals = [
  { rule: 'injected-credential', value: VALUE },
  { rule: 'injected-short', value: SHORT },
];

/** Releases every chunk as it comes: each chunk is one piece. */
const passThrough: Scanner = { find: () => [], stream: () => ({ push: (c) => [c], end: () => [] }) };

function inspect(scanner: Scanner, chunks: Buffer[]): { findings: Findings; out: Buffer } {
  const findings = new Findings();
  const inspector = new BodyInspector(scanner, literals, findings);
  const out = [...chunks.flatMap((c) => inspector.push(c)), ...inspector.end()];
  return { findings, out: Buffer.concat(out) };
}

describe('body inspection: injected values', () => {
  const body = Buffer.from(`${'a'.repeat(40)}${VALUE}${'b'.repeat(40)}`);
  const at = body.indexOf(VALUE);

  it('finds the value at its offset wherever the pieces split it', () => {
    for (let cut = 1; cut < body.length; cut++) {
      const { findings, out } = inspect(passThrough, [body.subarray(0, cut), body.subarray(cut)]);
      assert.deepEqual(
        findings.list.map((f) => [f.rule, f.where, f.offset, f.action]),
        [['injected-credential', 'body', at, 'blocked']],
        `cut at ${cut}`,
      );
      assert.ok(out.equals(body));
    }
  });

  it('finds it when it comes a byte at a time', () => {
    const { findings } = inspect(
      passThrough,
      [...body].map((b) => Buffer.from([b])),
    );
    assert.deepEqual(
      findings.list.map((f) => f.offset),
      [at],
    );
  });

  it('finds a shorter value once, though it stays in what the longer one keeps', () => {
    const both = Buffer.from(`${'a'.repeat(30)}${SHORT}${'b'.repeat(30)}`);
    const pieces = [...both].map((b) => Buffer.from([b]));
    assert.deepEqual(
      inspect(passThrough, pieces).findings.list.map((f) => [f.rule, f.offset]),
      [['injected-short', both.indexOf(SHORT)]],
    );
  });

  it('finds nothing in a body without it, however split', () => {
    const clean = Buffer.from(`${VALUE.slice(0, -1)} ${VALUE.slice(1)}`);
    for (let cut = 1; cut < clean.length; cut++)
      assert.deepEqual(inspect(passThrough, [clean.subarray(0, cut), clean.subarray(cut)]).findings.list, []);
  });

  it("finds it through the redaction engine's stream, in a line longer than its hold", () => {
    const long = Buffer.concat([
      Buffer.from('x'.repeat(MAX_HOLD + 7)),
      Buffer.from(VALUE),
      Buffer.from(`${'y'.repeat(MAX_HOLD)}\nlast line\n`),
    ]);
    const redactor = new Redactor();
    const engine: Scanner = {
      find: (t) => redactor.find(t),
      stream: (on) => new ChunkRedactor(redactor, on, false),
    };
    const chunks: Buffer[] = [];
    for (let i = 0; i < long.length; i += 65_536) chunks.push(long.subarray(i, i + 65_536));
    const { findings, out } = inspect(engine, chunks);
    assert.ok(out.equals(long));
    assert.deepEqual(
      findings.list.filter((f) => f.rule === 'injected-credential').map((f) => f.offset),
      [long.indexOf(VALUE)],
    );
  });

  it('gives the decoy scan each released line whole, though the line came in two reads', () => {
    const decoy = 'AKIAQ2ZJ3XK5VBN7MWTL';
    const body = Buffer.from(`first line\nkey id ${decoy} in the middle of a line\nlast\n`);
    const redactor = new Redactor();
    const engine: Scanner = {
      find: (t) => redactor.find(t),
      stream: (on) => new ChunkRedactor(redactor, on, false),
    };
    for (let cut = body.indexOf(decoy) + 1; cut < body.indexOf(decoy) + decoy.length; cut++) {
      const texts: string[] = [];
      const inspector = new BodyInspector(engine, [], new Findings(), (t) => texts.push(t));
      for (const c of [body.subarray(0, cut), body.subarray(cut)]) inspector.push(c);
      inspector.end();
      assert.ok(
        texts.some((t) => t.includes(decoy)),
        `cut at ${cut}: the scan saw ${JSON.stringify(texts)}`,
      );
    }
  });
});

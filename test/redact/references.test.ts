// A reference to a secret is not a secret. On a public repository of Compose examples 10 of 26
// findings were code or configuration that reads a secret from the environment, a file or a
// template. The shapes in bench/redact/references.ts must not be flagged, and the same shapes
// with the secret written in must be; the benchmark reports precision on the same set.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { LITERALS, REFERENCES } from '../../bench/redact/references.js';
import { Redactor } from '../../src/redact/engine.js';

it('flags no reference to a secret', () => {
  const r = new Redactor();
  const flagged = REFERENCES.flatMap((s) =>
    r.find(s.text).map((m) => `${s.where}: ${s.text.trim()} (${m.rule}: ${m.secret})`),
  );
  assert.deepEqual(flagged, []);
});

it('finds the secret written in the same shapes', () => {
  const r = new Redactor();
  const missed = LITERALS.filter((s) => !r.find(s.text).some((m) => m.secret === s.secret)).map(
    (s) => `${s.where}: ${s.text}`,
  );
  assert.deepEqual(missed, []);
});

// The corpus the benchmark scores, as a test: every planted secret of every kind in every context
// is caught, and no decoy is flagged. (The benchmark runs the same generator at a larger size.)

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { decoySamples, secretSamples } from '../../bench/redact/corpus.js';
import { Redactor } from '../../src/redact/engine.js';

it('catches every planted secret and flags no decoy', () => {
  const r = new Redactor();
  const missed: string[] = [];
  const samples = secretSamples(20261122, 2);
  for (const s of samples) {
    const out = r.redact(s.text).text;
    for (const secret of s.secrets) if (out.includes(secret)) missed.push(`${s.kind}/${s.context}`);
  }
  const flagged = decoySamples(1)
    .filter((d) => r.find(d.text).length > 0)
    .map((d) => `${d.kind}: ${d.text.slice(0, 60)}`);
  assert.deepEqual(missed, []);
  assert.deepEqual(flagged, []);
  assert.ok(new Set(samples.map((s) => s.kind)).size >= 45);
});

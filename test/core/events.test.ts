// docs/events.md is the contract detection, response, incidents and the console are written
// against: it must list exactly the catalogue's types, with their severities, and the scale.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { EVENT_CATALOGUE, SEVERITY_MEANING, checkEvent } from '../../src/core/events.js';

const doc = readFileSync(new URL('../../../docs/events.md', import.meta.url), 'utf8');

describe('event catalogue', () => {
  it('docs/events.md lists every type with its severities, and nothing else', () => {
    const rows = [...doc.matchAll(/^\| `([a-z_]+\.[a-z_]+)` \| ([a-z, ]+) \|/gm)].map((m) => [m[1]!, m[2]!]);
    assert.deepEqual(
      rows,
      Object.entries(EVENT_CATALOGUE).map(([t, s]) => [t, s.severities.join(', ')]),
    );
  });

  it('docs/events.md states the severity scale as the code does', () => {
    for (const [level, meaning] of Object.entries(SEVERITY_MEANING))
      assert.ok(doc.includes(`| \`${level}\` | ${meaning} |`), level);
  });

  it('checkEvent refuses unknown types and severities a type does not carry', () => {
    assert.doesNotThrow(() => checkEvent('sandbox.run_ended', 'high'));
    assert.throws(() => checkEvent('sandbox.run_ended', 'critical'), TypeError);
    assert.throws(() => checkEvent('nope.nope', 'info'), TypeError);
  });
});

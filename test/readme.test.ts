// The README's quick start is a contract: exactly two commands, and CI runs the second verbatim.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';

const read = (p: string): string => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

it('the quick start has exactly two commands and .ci/run runs the test one verbatim', () => {
  const readme = read('README.md');
  const quick = readme.slice(
    readme.indexOf('## Quick start'),
    readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1),
  );
  const commands = [...quick.matchAll(/```sh\n([^`]+?)\n```/g)].map((m) => m[1]!.trim());
  assert.deepEqual(commands, ['npm ci && npx rampart up', 'npm ci && npm test']);
  const ci = read('.ci/run');
  assert.ok(
    ci.split('\n').some((l) => l.trim() === commands[1]),
    '.ci/run must run the README test command',
  );
});

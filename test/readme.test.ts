// The README's quick start is a contract: exactly two commands, and CI runs the second verbatim.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';

const read = (p: string): string => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

it('the quick start starts the control plane, shows a run on each runtime, and .ci/run runs its test command verbatim', () => {
  const readme = read('README.md');
  const quick = readme.slice(
    readme.indexOf('## Quick start'),
    readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1),
  );
  const commands = [...quick.matchAll(/```sh\n([^`]+?)\n```/g)].map((m) => m[1]!.trim());
  assert.equal(commands.length, 3);
  assert.equal(commands[0], 'npm ci && npx rampart up');
  assert.match(commands[1]!, /rampart run --agent[^\n]*\n[^\n]*rampart run --runtime docker --image /);
  assert.equal(commands[2], 'npm ci && npm test');
  const ci = read('.ci/run');
  assert.ok(
    ci.split('\n').some((l) => l.trim() === commands[2]),
    '.ci/run must run the README test command',
  );
});

it('every repository path the docs, scripts and sources name exists', () => {
  // Documentation drift starts with a renamed file: a path in prose that no longer exists.
  const root = new URL('../../', import.meta.url).pathname;
  const walk = (dir: string, ends: readonly string[]): string[] =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory()
        ? e.name === 'node_modules'
          ? []
          : walk(join(dir, e.name), ends)
        : ends.some((x) => e.name.endsWith(x)) && !e.name.includes('.generated.')
          ? [join(dir, e.name)]
          : [],
    );
  const sources = [
    'README.md',
    ...walk('docs', ['.md']),
    ...walk('scripts', ['.mjs', '.sh']),
    ...walk('src', ['.ts', '.c', '.h']),
    ...walk('bench', ['.ts', '.mjs', '.sh', '.c']),
    '.ci/run',
  ];
  const missing: string[] = [];
  for (const file of sources) {
    for (const m of read(file).matchAll(
      /(?<![\w./<-])((?:src|test|scripts|bench|docs|policies)\/[A-Za-z0-9_./-]*[A-Za-z0-9_/])(?![<*])/g,
    )) {
      const p = m[1]!;
      // bench/<name> names a benchmark by its script; test/fuzz/crash-* are the fuzzer's output.
      if (
        existsSync(join(root, p)) ||
        existsSync(join(root, `${p}.ts`)) ||
        p === 'test/fuzz/crash' ||
        p.includes('node_modules') // installed, not in the repository
      )
        continue;
      missing.push(`${file} names ${p}`);
    }
  }
  assert.deepEqual(missing, []);
});

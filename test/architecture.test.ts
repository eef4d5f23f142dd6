// docs/architecture.md says which module may import which; this keeps it true. Every relative
// import in src/ is resolved to the module (first directory under src/) it lands in and checked
// against the table below, which mirrors the document's.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './support/cli.js';

const COMPONENTS = ['redact', 'policy', 'identity', 'admission', 'sandbox', 'egress'];

/** module -> modules it may import (besides itself). `store-types` is src/store/types.ts alone. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  core: [],
  config: ['core'],
  store: ['core', 'config'],
  audit: ['core', 'store'],
  events: ['core'],
  log: ['core'],
  ...Object.fromEntries(COMPONENTS.map((c) => [c, ['core', 'store-types']])),
  server: ['*'],
  cli: ['*'],
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('architecture', () => {
  it('every import in src/ is one docs/architecture.md allows', () => {
    const src = join(ROOT, 'src');
    const problems: string[] = [];
    for (const file of files(src)) {
      const from = relative(src, file).split(sep)[0]!;
      const allowed = MAY_IMPORT[from];
      assert.ok(
        allowed,
        `src/${from} is not in the architecture table; add it to docs/architecture.md and here`,
      );
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^(?:import|export)\b[^;]*?from '(\.{1,2}\/[^']+)'/gms)) {
        const target = relative(src, resolve(dirname(file), m[1]!));
        const parts = target.split(sep);
        const to =
          parts[0] === 'store' && parts[1] === 'types.js' && from !== 'store' ? 'store-types' : parts[0]!;
        if (to === from || allowed.includes('*') || allowed.includes(to)) continue;
        if (to === 'store-types' && allowed.includes('store')) continue;
        problems.push(
          `${relative(ROOT, file)} imports ${m[1]} (src/${from} may import ${allowed.join(', ') || 'nothing'})`,
        );
      }
    }
    assert.deepEqual(problems, []);
  });

  it('the document lists every module under src/', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
    for (const e of readdirSync(join(ROOT, 'src'), { withFileTypes: true })) {
      if (e.isDirectory())
        assert.match(
          doc,
          new RegExp(`src/${e.name}/`),
          `docs/architecture.md does not mention src/${e.name}/`,
        );
    }
  });
});

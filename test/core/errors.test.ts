import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERRORS, RampartError, RampartErrorList } from '../../src/core/errors.js';

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

describe('error catalogue', () => {
  const documented = [...doc.matchAll(/^## (RAMPART_E_[A-Z0-9_]+)$/gm)].map((m) => m[1]!);

  it('documents every code, and documents nothing that is not a code', () => {
    assert.deepEqual([...documented].sort(), Object.keys(ERRORS).sort());
  });

  it('states each code’s HTTP status and exit code as the catalogue has them', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      const section = doc.slice(doc.indexOf(`## ${code}\n`)).split('\n## ')[0]!;
      if (spec.status !== 500 || code === 'RAMPART_E_INTERNAL') {
        assert.ok(section.includes(`HTTP ${spec.status}`), `${code}: docs must say HTTP ${spec.status}`);
      }
      assert.ok(
        section.includes(`exit ${spec.exit}`) || section.includes(`Exit ${spec.exit}`),
        `${code}: docs must say exit ${spec.exit}`,
      );
    }
  });

  it('every code is raised somewhere in src/ (a code nothing raises is removed, or used)', () => {
    const src = new URL('../../../src/', import.meta.url).pathname;
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory()
          ? walk(join(dir, e.name))
          : /\.(ts|c|h)$/.test(e.name) && !e.name.includes('.generated.') && e.name !== 'errors.ts'
            ? [join(dir, e.name)]
            : [],
      );
    const text = walk(src)
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const unused = Object.keys(ERRORS).filter((code) => !new RegExp(`['"\`]${code}['"\`]`).test(text));
    assert.deepEqual(unused, []);
  });

  it('describes located errors as file:line:col: CODE: message', () => {
    const e = new RampartError('RAMPART_E_CONFIG_INVALID', 'bad', {
      location: { file: 'a.yaml', line: 3, column: 7 },
    });
    assert.equal(e.describe(), 'a.yaml:3:7: RAMPART_E_CONFIG_INVALID: bad');
    assert.equal(e.status, 500);
    assert.equal(e.exitCode, 2);
    const list = new RampartErrorList([e, new RampartError('RAMPART_E_CONFIG_PARSE', 'worse')]);
    assert.equal(list.describe(), 'a.yaml:3:7: RAMPART_E_CONFIG_INVALID: bad\nRAMPART_E_CONFIG_PARSE: worse');
  });
});

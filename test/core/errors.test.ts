import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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

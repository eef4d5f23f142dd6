import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { renderConfigReference } from '../../src/config/reference.js';

it('docs/configuration.md documents every key exactly as the schema has it (npm run docs)', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  const begin = '<!-- BEGIN GENERATED: npm run docs -->\n';
  const section = doc.slice(doc.indexOf(begin) + begin.length, doc.indexOf('<!-- END GENERATED -->'));
  assert.equal(section, renderConfigReference());
});

it('docs/redaction.md lists every redaction rule exactly as the code has it (npm run docs)', async () => {
  const { renderRuleTable } = await import('../../src/redact/reference.js');
  const doc = readFileSync(new URL('../../../docs/redaction.md', import.meta.url), 'utf8');
  const begin = '<!-- BEGIN GENERATED: npm run docs -->\n';
  const section = doc.slice(doc.indexOf(begin) + begin.length, doc.indexOf('<!-- END GENERATED -->'));
  assert.equal(section, renderRuleTable());
});

it('the precompiled config validator matches the schema (npm run docs regenerates it)', () => {
  const r = spawnSync(process.execPath, ['scripts/gen-validator.mjs', '--check'], {
    cwd: new URL('../../../', import.meta.url),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
});

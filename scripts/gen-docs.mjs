// Rewrites the generated sections of the docs from the code (after tsc): the configuration
// reference and the redaction rule table. Tests fail when a committed page differs.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigReference } from '../build/src/config/reference.js';
import { renderRuleTable } from '../build/src/redact/reference.js';

function fill(page, marker, content) {
  const file = new URL(`../docs/${page}`, import.meta.url);
  const doc = readFileSync(file, 'utf8');
  const begin = `<!-- BEGIN GENERATED: ${marker} -->\n`;
  const end = '<!-- END GENERATED -->';
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end, a);
  if (a < 0 || b < 0) throw new Error(`docs/${page} lacks the generated-section markers`);
  writeFileSync(file, doc.slice(0, a + begin.length) + content + doc.slice(b));
}

fill('configuration.md', 'npm run docs', renderConfigReference());
fill('redaction.md', 'npm run docs', renderRuleTable());

// Rewrites the generated reference in docs/configuration.md from the schema (after npm run build).
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigReference } from '../build/src/config/reference.js';

const file = new URL('../docs/configuration.md', import.meta.url);
const doc = readFileSync(file, 'utf8');
const begin = '<!-- BEGIN GENERATED: npm run docs:config -->\n';
const end = '<!-- END GENERATED -->';
const a = doc.indexOf(begin);
const b = doc.indexOf(end);
if (a < 0 || b < 0) throw new Error('docs/configuration.md lacks the generated-section markers');
writeFileSync(file, doc.slice(0, a + begin.length) + renderConfigReference() + doc.slice(b));

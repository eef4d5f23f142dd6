// The rule table in docs/redaction.md, rendered from the rules themselves (checked by a test;
// regenerate with `npm run docs`).

import { RULES } from './rules.js';

export function renderRuleTable(): string {
  const rows = RULES.map(
    (r) =>
      `| \`${r.id}\` | ${r.kind} | ${r.label === '' ? '`[REDACTED]`' : `\`[REDACTED-${r.label}]\``} | ${r.severity} | ${r.keywords
        .slice(0, 4)
        .map((k) => `\`${k.replace(/\|/g, '\\|')}\``)
        .join(' ')}${r.keywords.length > 4 ? ' …' : ''} | ${[
        r.entropy !== undefined ? `entropy ≥ ${r.entropy}` : '',
        r.validate ? 'validated' : '',
        r.back ? 'look-back' : '',
      ]
        .filter(Boolean)
        .join(', ')} | ${r.description.replace(/\|/g, '\\|')} |`,
  );
  return (
    [
      '| Rule | Kind | Redacted as | Severity | Keywords | Checks | What |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
    ].join('\n') + '\n'
  );
}

// Generated rule functions are built from the AST, never from the rule's text: string literals
// that look like code stay data, and every answer is cel-js's.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { generateExpression } from '../../src/cel/generate.js';
import { createDetectEnvironment } from '../../src/detect/conditions.js';
import { FIELDS, inputOf } from '../../src/detect/fields.js';

it('keeps hostile string literals as data, and agrees with cel-js', () => {
  const env = createDetectEnvironment();
  const input = inputOf(
    {
      seq: 1,
      time: '2026-01-01T00:00:00.000Z',
      event: {
        type: 'process.exec',
        severity: 'info',
        source: 't',
        data: {
          pid: 1,
          ppid: 0,
          comm: 'x"); process.exit(7); ("',
          exe: '/x',
          argv: ['a\u2028b', '`${1}`'],
          cwd: '/',
          uid: 0,
          stdin: '',
        } as never,
      },
    },
    undefined,
  );
  for (const expr of [
    `proc.name == 'x"); process.exit(7); ("'`,
    "proc.name.startsWith('x\\\\') || proc.cmdline.contains('\\u2028')",
    "proc.cmdline.contains('`${1}`') && !(proc.exe in ['*/', '\\'; //'])",
    "proc.cmdline.matches('^a.b') && proc.pid in [1, 2]",
    "glob(proc.exe, '/*') && globAny(proc.exe, ['/y', '/x']) && proc.args.size() == 2",
  ]) {
    const parsed = env.parse(expr);
    assert.ok(parsed.check().valid, expr);
    const fn = generateExpression(parsed.ast, { objects: FIELDS });
    assert.ok(fn, `not generated: ${expr}`);
    assert.equal(fn(input), parsed(input as never), expr);
  }
});

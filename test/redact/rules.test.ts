import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Gen, prng } from '../../bench/redact/corpus.js';
import { Redactor } from '../../src/redact/engine.js';
import { RULES } from '../../src/redact/rules.js';
import { base62, crc32 } from '../../src/core/checksum.js';
import { checksumToken, entropy } from '../../src/redact/validate.js';
import { EXAMPLES, render } from './examples.js';

const redactor = new Redactor();

describe('redaction rules', () => {
  it('has at least 80 rules with unique ids, labels, descriptions and keywords', () => {
    assert.ok(RULES.length >= 80, `only ${RULES.length} rules`);
    assert.equal(new Set(RULES.map((r) => r.id)).size, RULES.length);
    for (const r of RULES) {
      assert.match(r.id, /^[a-z0-9]+(?:-[a-z0-9]+)*$/, r.id);
      assert.match(r.label, /^(?:[A-Z0-9]+(?:-[A-Z0-9]+)*)?$/, r.id);
      assert.ok(r.description.length > 10, r.id);
      assert.ok(r.keywords.length > 0, r.id);
    }
  });

  it('every rule has an example, and finds its secret in it (as the winning rule)', () => {
    const missing = RULES.map((r) => r.id).filter((id) => !EXAMPLES[id]);
    assert.deepEqual(missing, [], 'rules without an example');
    for (const r of RULES) {
      for (let seed = 1; seed <= 5; seed++) {
        const ex = render(r.id, EXAMPLES[r.id]!(new Gen(prng(seed * 7919 + r.id.length))));
        const { text, matches } = redactor.redact(ex.text);
        assert.ok(!text.includes(ex.secret), `${r.id} (seed ${seed}) left its secret in: ${text}`);
        assert.ok(
          matches.some((m) => m.rule === r.id),
          `${r.id} (seed ${seed}) was not the rule that matched: ${matches.map((m) => m.rule).join(', ')} in ${ex.text}`,
        );
      }
    }
  });

  it('turns the seed examples into exactly the documented output', () => {
    const body = 'abcd1234EFGH5678ijkl9012MNOP34';
    const token = 'ghp_' + body + base62(crc32(body), 6);
    assert.equal(redactor.redact(`Using token ${token}`).text, 'Using token [REDACTED-GITHUB-TOKEN]');
    assert.equal(
      redactor.redact('Connecting to https://user:pass@example.com').text,
      'Connecting to https://[REDACTED]@example.com',
    );
  });

  it('checks the GitHub / npm CRC32 checksum', () => {
    const body = 'A'.repeat(29) + 'b';
    assert.ok(checksumToken('ghp_' + body + base62(crc32(body), 6)));
    assert.ok(!checksumToken('ghp_' + body + 'zzzzzz'));
    // A CRC32 test vector: crc32("123456789") = 0xCBF43926.
    assert.equal(crc32('123456789'), 0xcbf43926);
  });

  it('measures entropy in bits per character', () => {
    assert.equal(entropy('aaaa'), 0);
    assert.equal(entropy('abcd'), 2);
    assert.ok(entropy('hunter2') < 2.9);
  });

  it('leaves placeholders, documentation examples and templates alone', () => {
    for (const t of [
      'GITHUB_TOKEN=ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
      'token: your-token-here',
      'AKIAIOSFODNN7EXAMPLE',
      'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      'password: ${DB_PASSWORD}',
      'Authorization: Bearer <token>',
      'password_file: /run/secrets/db',
      'Using token [REDACTED-GITHUB-TOKEN]',
      'https://[REDACTED]@example.com',
    ]) {
      assert.deepEqual(redactor.find(t), [], t);
    }
  });

  it('redaction is idempotent and never grows a secret back (property)', () => {
    const g = new Gen(prng(99));
    const secrets = RULES.map((r) => render(r.id, EXAMPLES[r.id]!(g)).text);
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constantFrom(...secrets), fc.string({ maxLength: 40 })), { maxLength: 6 }),
        (parts) => {
          const once = redactor.redact(parts.join(' ')).text;
          return redactor.redact(once).text === once;
        },
      ),
      { numRuns: 300 },
    );
  });

  it('merges overlapping matches so nothing of either secret survives', () => {
    const body = 'Q'.repeat(0) + 'x9Kd02LmZpA7cQwE5rTyU1iOpS3dFg';
    const token = 'ghp_' + body + base62(crc32(body), 6);
    const { text, matches } = redactor.redact(`token: ${token}`);
    assert.equal(text, 'token: [REDACTED-GITHUB-TOKEN]');
    assert.equal(matches.length, 1);
  });
});

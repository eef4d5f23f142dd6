import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import { Gen, prng } from '../../bench/redact/corpus.js';
import { basicMask, createLogger } from '../../src/log/logger.js';
import { Redactor } from '../../src/redact/engine.js';
import { EXAMPLES, render } from '../redact/examples.js';

function capture(redactLine: (s: string) => string): {
  lines: string[];
  log: ReturnType<typeof createLogger>;
} {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, log: createLogger({ level: 'debug', redactLine, destination }) };
}

it('every log line passes through the redaction engine: messages, fields, errors and JSON-escaped keys', () => {
  const r = new Redactor();
  const { lines, log } = capture((s) => r.redact(s).text);
  const g = new Gen(prng(3));
  const gh = render('github-pat-classic', EXAMPLES['github-pat-classic']!(g)).secret;
  const key = render('private-key', EXAMPLES['private-key']!(g)).secret;
  log.info(
    { header: `Bearer ${g.b64url(40)}`, url: 'https://ci:hunter2hunter2@example.com/x' },
    `pushing with ${gh}`,
  );
  log.error({ err: new Error(`auth failed for ${gh}`), key }, 'failure');
  const out = lines.join('');
  assert.ok(!out.includes(gh), out);
  assert.ok(!out.includes('hunter2hunter2'));
  assert.ok(!out.includes('BEGIN EC PRIVATE KEY'));
  assert.match(out, /\[REDACTED-GITHUB-TOKEN\]/);
  assert.match(out, /\[REDACTED-PRIVATE-KEY\]/);
  for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), 'lines stay valid JSON');
});

it('the fallback mask covers Authorization headers and well-known token prefixes', () => {
  const { lines, log } = capture(basicMask);
  log.info({ authorization: 'Bearer abcdefghijklmnop' }, 'token ghp_' + 'a1B2'.repeat(9));
  const out = lines.join('');
  assert.ok(!out.includes('abcdefghijklmnop'));
  assert.ok(!out.includes('a1B2a1B2'));
});

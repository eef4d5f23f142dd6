import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { Gen, prng } from '../../bench/redact/corpus.js';
import { Redactor } from '../../src/redact/engine.js';
import { redactValue } from '../../src/redact/object.js';
import { MAX_HOLD, RedactStream } from '../../src/redact/stream.js';
import { EXAMPLES, render } from './examples.js';

const redactor = new Redactor();

async function run(
  chunks: (Buffer | string)[],
): Promise<{ out: Buffer; stream: RedactStream; maxPending: number }> {
  const stream = new RedactStream(redactor);
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      parts.push(chunk);
      cb();
    },
  });
  const src = Readable.from(
    (function* () {
      for (const c of chunks) yield typeof c === 'string' ? Buffer.from(c, 'latin1') : c;
    })(),
  );
  await pipeline(src, stream, sink);
  return { out: Buffer.concat(parts), stream, maxPending: stream.stats.maxHeld };
}

describe('streaming redaction', () => {
  it('finds a secret split across chunks at every possible offset', async () => {
    const ex = render('github-pat-classic', EXAMPLES['github-pat-classic']!(new Gen(prng(5))));
    const text = `line one\nthe token ${ex.secret} is here\nline three\n`;
    for (let cut = 1; cut < text.length; cut++) {
      const { out } = await run([text.slice(0, cut), text.slice(cut)]);
      assert.equal(out.toString('latin1'), redactor.redact(text).text, `cut at ${cut}`);
    }
  });

  it('redacts a multi-line private key delivered a byte at a time', async () => {
    const ex = render('private-key', EXAMPLES['private-key']!(new Gen(prng(6))));
    const text = `before\n${ex.secret}\nafter\n`;
    const { out } = await run([...text].map((c) => c));
    const s = out.toString('latin1');
    assert.equal(s, 'before\n[REDACTED-PRIVATE-KEY]\nafter\n');
  });

  it('passes binary data and invalid UTF-8 through byte for byte, redacting only the secret', async () => {
    const ex = render('slack-bot-token', EXAMPLES['slack-bot-token']!(new Gen(prng(7))));
    const noise = randomBytes(100_000);
    const bad = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0x00, 0x0a]);
    const input = Buffer.concat([noise, bad, Buffer.from(` tok=${ex.secret} `, 'latin1'), bad, noise]);
    const { out } = await run([input.subarray(0, 77_777), input.subarray(77_777)]);
    const expected = Buffer.concat([
      noise,
      bad,
      Buffer.from(' tok=[REDACTED-SLACK-TOKEN] ', 'latin1'),
      bad,
      noise,
    ]);
    // Random bytes may contain something secret-shaped by chance; compare against the engine's own view.
    assert.ok(out.equals(Buffer.from(redactor.redact(input.toString('latin1')).text, 'latin1')));
    assert.ok(!out.includes(Buffer.from(ex.secret)));
    assert.equal(out.length, expected.length);
  });

  it('handles a 10 MB single line with bounded buffering and no loss', async () => {
    const ex = render('stripe-secret-key', EXAMPLES['stripe-secret-key']!(new Gen(prng(8))));
    const filler = 'x'.repeat(1_000_000);
    const line = `${filler}${filler}${filler} ${ex.secret} ${filler}${filler}${filler}${filler}${filler}${filler}${filler}\n`;
    const chunks: string[] = [];
    for (let i = 0; i < line.length; i += 65536) chunks.push(line.slice(i, i + 65536));
    const { out, maxPending } = await run(chunks);
    const s = out.toString('latin1');
    assert.equal(s.length, line.length - ex.secret.length + '[REDACTED-STRIPE-KEY]'.length);
    assert.ok(!s.includes(ex.secret));
    assert.ok(maxPending <= 2 * MAX_HOLD, `held ${maxPending} bytes`);
  });

  it('memory stays flat: what is held back never exceeds the bound, however long the stream', async () => {
    const g = new Gen(prng(9));
    const chunks: string[] = [];
    for (let i = 0; i < 400; i++) chunks.push(`${g.alnum(200)}\n`.repeat(300));
    const { maxPending, stream } = await run(chunks);
    assert.ok(maxPending <= 2 * MAX_HOLD, `held ${maxPending}`);
    assert.equal(stream.stats.bytesIn, stream.stats.bytesOut);
  });

  it('an unterminated private key at the end of the stream is still redacted', async () => {
    const ex = render('private-key', EXAMPLES['private-key']!(new Gen(prng(10))));
    const cut = ex.secret.slice(0, ex.secret.indexOf('-----END'));
    const { out } = await run([`log: ${cut}`]);
    assert.equal(out.toString('latin1'), 'log: [REDACTED-PRIVATE-KEY]');
  });
});

describe('structured redaction', () => {
  it('redacts values under secret-named keys whatever they look like, and secrets anywhere', () => {
    const ex = render('github-pat-classic', EXAMPLES['github-pat-classic']!(new Gen(prng(11))));
    const input = {
      user: 'alice',
      password: 'hunter2',
      nested: { headers: { Authorization: 'Basic YWxpY2U6aHVudGVyMg==' }, note: `pushed with ${ex.secret}` },
      list: [{ api_key: 'abc' }, 'plain'],
      token_type: 'bearer',
      max_tokens: 4096,
      [`key ${ex.secret}`]: 1,
    };
    const out = redactValue(redactor, input) as Record<string, unknown>;
    assert.equal(out['password'], '[REDACTED]');
    assert.deepEqual(out['nested'], {
      headers: { Authorization: '[REDACTED]' },
      note: 'pushed with [REDACTED-GITHUB-TOKEN]',
    });
    assert.deepEqual(out['list'], [{ api_key: '[REDACTED]' }, 'plain']);
    assert.equal(out['token_type'], 'bearer');
    assert.equal(out['max_tokens'], 4096);
    assert.ok('key [REDACTED-GITHUB-TOKEN]' in out);
    assert.ok(!JSON.stringify(out).includes(ex.secret));
  });

  it('survives cycles and deep nesting', () => {
    const a: Record<string, unknown> = { password: 'x1' };
    a['self'] = a;
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 200; i++) deep = deep['n'] = {};
    const out = redactValue(redactor, { a, root }) as { a: Record<string, unknown> };
    assert.equal(out.a['self'], '[CIRCULAR]');
    assert.ok(JSON.stringify(out).includes('[TRUNCATED]'));
  });

  it('copies shared subtrees whole, and keeps a "__proto__" key a plain property', () => {
    const shared = { token: 'abc123', n: 1 };
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}') as Record<string, unknown>;
    const out = redactValue(redactor, { x: shared, y: shared, hostile }) as Record<
      string,
      Record<string, unknown>
    >;
    assert.deepEqual(out['x'], { token: '[REDACTED]', n: 1 });
    assert.deepEqual(out['y'], { token: '[REDACTED]', n: 1 });
    assert.equal(Object.getPrototypeOf(out['hostile']), Object.prototype);
    assert.ok(Object.hasOwn(out['hostile']!, '__proto__'));
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});

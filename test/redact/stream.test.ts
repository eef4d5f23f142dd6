import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { Gen, prng } from '../../bench/redact/corpus.js';
import { Redactor } from '../../src/redact/engine.js';
import { redactValue } from '../../src/redact/object.js';
import { ChunkRedactor, MAX_HOLD, RedactStream } from '../../src/redact/stream.js';
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

  it('releases views of the chunks pushed, never copies of them', () => {
    const ex = render('github-pat-classic', EXAMPLES['github-pat-classic']!(new Gen(prng(11))));
    // Each in memory of its own (Buffer.from would take both from one shared pool).
    const own = (s: string): Buffer => {
      const buf = Buffer.allocUnsafeSlow(s.length);
      buf.write(s, 'latin1');
      return buf;
    };
    const a = own(`first line\nsecond line, half of it`);
    const b = own(` and the rest\nthird ${ex.secret} line\nfourth`);
    const seen: number[] = [];
    const r = new ChunkRedactor(redactor, (_m, offset) => seen.push(offset), false);
    const out = [...r.push(a), ...r.push(b), ...r.end()];
    // The line split across the two chunks goes out as a view of each, not as a join of them.
    for (const o of out) assert.ok(o.buffer === a.buffer || o.buffer === b.buffer, 'a copy was released');
    assert.ok(Buffer.concat(out).equals(Buffer.concat([a, b])));
    assert.deepEqual(seen, [a.length + b.indexOf(ex.secret)]);
  });

  it("gives the whole text's answer however the stream is cut, a byte at a time included", () => {
    const g = new Gen(prng(12));
    const secrets = ['github-pat-classic', 'stripe-secret-key', 'slack-bot-token', 'private-key'].map(
      (k) => render(k, EXAMPLES[k]!(g)).secret,
    );
    const text = secrets
      .map((x, i) => `${g.alnum(40 + i * 30)} ${x} ${g.alnum(90)}\n${g.alnum(300)}`)
      .join('\n');
    const whole = Buffer.from(text, 'latin1');
    const expected = Buffer.from(redactor.redact(text).text, 'latin1');
    const rand = prng(13);
    for (const max of [1, 3, 17, 200, 5000]) {
      const r = new ChunkRedactor(redactor);
      const out: Buffer[] = [];
      for (let at = 0; at < whole.length;) {
        const n = 1 + Math.floor(rand() * max);
        out.push(...r.push(whole.subarray(at, at + n)));
        at += n;
      }
      out.push(...r.end());
      assert.ok(Buffer.concat(out).equals(expected), `pieces of at most ${max} bytes`);
    }
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

// Plain HTTP through the front door's own path (a GET or HEAD with an absolute URI): what the
// origin receives and what the client gets back, byte for byte, against a raw TCP origin that
// answers exactly what each test scripts; and which requests are left to node:http instead.

import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { parsePlain } from '../../src/egress/front.js';
import { BodyScanner, clientResponseHead, originRequest } from '../../src/egress/http1.js';
import type { EgressProxy } from '../../src/egress/proxy.js';
import { type ConnectionRecord } from '../../src/egress/proxy.js';
import { cameToRest, proxyToOrigin } from '../support/egress.js';
import { curlViaProxy } from '../support/curl.js';
import { tempDir } from '../support/tmp.js';
import { until } from '../support/wait.js';

const TOKEN = 'plain-test-token';
const AUTH = `proxy-authorization: Bearer ${TOKEN}\r\n`;

describe('plain requests: which the front door takes', () => {
  const head = (lines: string[]): string => lines.join('\r\n');

  it('takes a GET or HEAD with an absolute http:// URI over HTTP/1.1 and no body', () => {
    const r = parsePlain(
      head(['GET http://a.test/x?y HTTP/1.1', 'Host: a.test', 'Proxy-Authorization: Bearer t']),
    );
    assert.deepEqual(r, {
      method: 'GET',
      uri: 'http://a.test/x?y',
      headers: [['Host', 'a.test']],
      proxyAuthorization: 'Bearer t',
    });
    assert.equal(parsePlain(head(['HEAD http://a.test/ HTTP/1.1']))?.method, 'HEAD');
  });

  it('leaves everything else to node:http', () => {
    for (const bad of [
      ['GET http://a.test/ HTTP/1.0'],
      ['GET /relative HTTP/1.1', 'host: a.test'],
      ['GET https://a.test/ HTTP/1.1'],
      ['GET http://a.test/#frag HTTP/1.1'],
      ['GET http://a.test/ HTTP/1.1', 'content-length: 0'],
      ['GET http://a.test/ HTTP/1.1', 'Transfer-Encoding: chunked'],
      ['GET http://a.test/ HTTP/1.1', 'upgrade: websocket'],
      ['GET http://a.test/ HTTP/1.1', 'expect: 100-continue'],
      ['GET http://a.test/ HTTP/1.1', 'x-nul: a\0b'],
      ['GET http://a.test/ HTTP/1.1', ' folded'],
      ['GET http://a.test/ HTTP/1.1', 'proxy-authorization: a', 'proxy-authorization: b'],
      ['POST http://a.test/ HTTP/1.1'],
    ])
      assert.equal(parsePlain(head(bad)), undefined, JSON.stringify(bad));
  });

  it('writes the origin request with the URI as Host and none of the connection headers', () => {
    const out = originRequest('GET', '/p?q', 'a.test:8080', [
      ['Host', 'spoofed.test'],
      ['Connection', 'keep-alive, X-Hop'],
      ['X-Hop', 'secret'],
      ['Proxy-Connection', 'keep-alive'],
      ['TE', 'trailers'],
      ['Accept', '*/*'],
    ]);
    assert.equal(out, 'GET /p?q HTTP/1.1\r\nhost: a.test:8080\r\nAccept: */*\r\n\r\n');
  });

  it("rewrites the origin's response head, and refuses one that is ambiguous or malformed", () => {
    const r = clientResponseHead(
      head([
        'HTTP/1.1 200 OK',
        'Connection: keep-alive, X-Hop',
        'X-Hop: 1',
        'Keep-Alive: timeout=5',
        'Transfer-Encoding: chunked',
        'Content-Length: 10',
        'ETag: "x"',
      ]),
      'GET',
    );
    assert.deepEqual(r, {
      status: 200,
      head: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: "x"\r\nconnection: close\r\n\r\n',
      framing: { kind: 'chunked' },
      reusable: true,
    });
    assert.equal(
      clientResponseHead(head(['HTTP/1.1 200 OK', 'content-length: 1', 'content-length: 1']), 'GET')?.status,
      200,
    );
    for (const bad of [
      ['HTTP/1.1 200 OK', 'content-length: 1', 'content-length: 2'],
      ['HTTP/1.1 200 OK', 'content-length: -1'],
      ['HTTP/1.1 200 OK', 'content-length: 1, 1'],
      ['HTTP/2 200'],
      ['HTTP/1.1 20 OK'],
      ['HTTP/1.1 200 OK', 'x: a\0b'],
      ['HTTP/1.1 200 OK', 'no colon'],
    ])
      assert.equal(clientResponseHead(head(bad), 'GET'), undefined, JSON.stringify(bad));
  });

  it('knows where each response body ends, and when the connection can serve another request', () => {
    const f = (lines: string[], method = 'GET'): unknown => {
      const r = clientResponseHead(head(lines), method)!;
      return [r.framing, r.reusable];
    };
    assert.deepEqual(f(['HTTP/1.1 200 OK', 'content-length: 5']), [{ kind: 'length', bytes: 5 }, true]);
    assert.deepEqual(f(['HTTP/1.1 200 OK', 'content-length: 5'], 'HEAD'), [{ kind: 'none' }, true]);
    assert.deepEqual(f(['HTTP/1.1 304 Not Modified', 'content-length: 5']), [{ kind: 'none' }, true]);
    assert.deepEqual(f(['HTTP/1.1 204 No Content']), [{ kind: 'none' }, true]);
    assert.deepEqual(f(['HTTP/1.1 200 OK', 'transfer-encoding: gzip, chunked']), [{ kind: 'chunked' }, true]);
    // Without a length, the body ends at the close; the connection cannot be used again.
    assert.deepEqual(f(['HTTP/1.1 200 OK']), [{ kind: 'close' }, false]);
    assert.deepEqual(f(['HTTP/1.1 200 OK', 'transfer-encoding: chunked, gzip']), [{ kind: 'close' }, false]);
    assert.deepEqual(f(['HTTP/1.1 200 OK', 'content-length: 5', 'connection: close']), [
      { kind: 'length', bytes: 5 },
      false,
    ]);
    assert.deepEqual(f(['HTTP/1.0 200 OK', 'content-length: 5']), [{ kind: 'length', bytes: 5 }, false]);
  });

  it('follows a chunked body to its end across reads, and marks malformed framing bad', () => {
    const body = Buffer.from('5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT');
    for (let cut = 0; cut <= body.length; cut++) {
      const s = new BodyScanner({ kind: 'chunked' });
      const a = s.scan(body, 0, cut);
      assert.equal(a, Math.min(cut, body.length - 4));
      const b = s.scan(body, a, body.length);
      assert.ok(s.done && !s.bad, `cut at ${cut}`);
      assert.equal(body.subarray(b).toString(), 'NEXT', `cut at ${cut}`);
    }
    for (const bad of [
      'x\r\n',
      '5\nhello\r\n',
      '5\r\nhelloX\r\n',
      '0\r\n\n',
      'fffffffffffffff\r\n',
      '\r\n',
    ]) {
      const s = new BodyScanner({ kind: 'chunked' });
      s.scan(Buffer.from(bad), 0, bad.length);
      assert.ok(s.bad, JSON.stringify(bad));
    }
    const len = new BodyScanner({ kind: 'length', bytes: 3 });
    assert.equal(len.scan(Buffer.from('abcdef'), 0, 6), 3);
    assert.ok(len.done);
  });
});

describe('plain requests through the proxy', () => {
  let origin: Server;
  let originPort = 0;
  /** What the origin answers to each request head; `nth` counts requests on its connection. */
  let answer: (s: Socket, request: string, nth: number) => void = (s) => s.end();
  let seen = '';
  /** Connections the origin has accepted. */
  let connections = 0;
  let proxy: EgressProxy;
  let close: () => Promise<void>;
  let proxyPort = 0;
  let records: ConnectionRecord[] = [];

  before(async () => {
    origin = createServer({ allowHalfOpen: true }, (s) => {
      connections++;
      let buf = '';
      let nth = 0;
      s.on('error', () => s.destroy());
      s.on('end', () => s.end());
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
          seen = buf.slice(0, end + 4);
          buf = buf.slice(end + 4);
          answer(s, seen, nth++);
        }
      });
    });
    const started = await proxyToOrigin(TOKEN, origin, (r) => records.push(r));
    ({ proxy, port: proxyPort, originPort, close } = started);
  });
  after(() => close());
  beforeEach(() => {
    records = [];
    seen = '';
    // The kill switch also empties the pool of kept-alive connections: each test starts without.
    proxy.setKillSwitch(true);
    proxy.setKillSwitch(false);
    connections = 0;
  });

  /** Sends `data`, returns all the proxy sends back until it closes the connection. */
  function send(data: string, ms = 3000): Promise<string> {
    return new Promise((resolve) => {
      const s = connect(proxyPort, '127.0.0.1');
      let out = '';
      s.on('data', (c: Buffer) => (out += c.toString('latin1')));
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
      setTimeout(() => s.destroy(), ms);
      s.write(data);
    });
  }
  const get = (path = '/', extra = ''): string =>
    `GET http://127.0.0.2:${originPort}${path} HTTP/1.1\r\nHost: elsewhere.test\r\n${AUTH}${extra}\r\n`;

  it("sends the origin the request it should see, and the client the origin's answer, rewritten", async () => {
    answer = (s) =>
      s.end(
        'HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nContent-Length: 5\r\nX-Kept: yes\r\n\r\nhello',
      );
    const out = await send(get('/p?q=1', 'Connection: X-Client-Hop\r\nX-Client-Hop: 2\r\nAccept: */*\r\n'));
    assert.equal(seen, `GET /p?q=1 HTTP/1.1\r\nhost: 127.0.0.2:${originPort}\r\nAccept: */*\r\n\r\n`);
    assert.equal(
      out,
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Kept: yes\r\nconnection: close\r\n\r\nhello',
    );
    await until(() => records.length > 0, 'the exchange on record');
    assert.equal(records.length, 1);
    assert.equal(records[0]!.method, 'HTTP');
    assert.equal(records[0]!.decision, 'allow');
    assert.equal(records[0]!.bytesDown, 5);
  });

  it('passes a chunked body on as it came, which curl decodes, and interim 1xx heads before it', async () => {
    answer = (s) =>
      s.end(
        'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' +
          'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
      );
    const raw = await send(get());
    assert.match(
      raw,
      /^HTTP\/1.1 103 Early Hints\r\nLink: <\/a.css>; rel=preload\r\nconnection: close\r\n\r\nHTTP\/1.1 200 OK/,
    );
    const dir = tempDir();
    try {
      const r = await curlViaProxy(
        `http://127.0.0.1:${proxyPort}`,
        `http://127.0.0.2:${originPort}/`,
        TOKEN,
        dir.dir,
      );
      assert.deepEqual(r, { code: '200', body: 'hello world' });
    } finally {
      dir.cleanup();
    }
  });

  it('answers HEAD, whose response has no body whatever its Content-Length says', async () => {
    answer = (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
    const out = await send(get().replace(/^GET/, 'HEAD'));
    assert.ok(seen.startsWith('HEAD / HTTP/1.1\r\n'));
    assert.equal(out, 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nconnection: close\r\n\r\n');
  });

  it('answers 502 for an origin response that is malformed, too large, ambiguous or missing', async () => {
    for (const [name, reply] of [
      ['malformed', (s: Socket) => s.end('HTTP/1.1 200 OK\r\nx: a\0b\r\n\r\nbody')],
      ['too large', (s: Socket) => s.end(`HTTP/1.1 200 OK\r\nx: ${'a'.repeat(20_000)}\r\n\r\n`)],
      [
        'ambiguous',
        (s: Socket) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 9\r\n\r\nx'),
      ],
      ['missing', (s: Socket) => s.end()],
      ['switching', (s: Socket) => s.end('HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n')],
    ] as const) {
      answer = reply;
      records = [];
      const out = (await send(get())).slice(0, 200);
      assert.match(out, /^HTTP\/1.1 502 /, name);
      // Recorded as an error with the reason, not as an allowed connection.
      await until(() => records.length > 0, `${name}: the exchange on record`);
      assert.equal(records.length, 1, name);
      assert.equal(records[0]!.decision, 'error', name);
      assert.match(records[0]!.reason, /^bad gateway: /, name);
      assert.doesNotMatch(out, /body|200 OK/, name);
    }
  });

  /** A client whose response has begun (the origin's `partial`) and goes on no further. */
  async function inFlight(path: string): Promise<{ s: Socket; closed: Promise<void> }> {
    const s = connect(proxyPort, '127.0.0.1');
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.on('error', () => undefined);
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.write(get(path));
    await until(() => out.includes('partial'), 'the partial answer');
    assert.equal(proxy.openTunnels, 1);
    return { s, closed };
  }

  it('the kill switch cuts a response in flight', async () => {
    answer = (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\npartial');
    const { closed } = await inFlight('/slow');
    assert.equal(proxy.setKillSwitch(true), 1);
    await closed;
    assert.equal(proxy.openTunnels, 0);
  });

  it('leaves a pipelined pair and a request with a NUL in a header to node:http', async () => {
    answer = (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    const two = await send(get('/one') + get('/two', 'connection: close\r\n'));
    assert.equal(two.match(/HTTP\/1.1 200 OK/g)?.length, 2, two);
    const nul = await send(get('/', 'x-nul: a\0b\r\n'));
    assert.match(nul, /^HTTP\/1.1 400 /);
  });

  it('refuses credentials in the URI and unknown callers, and records them', async () => {
    const cred = await send(`GET http://user:pw@127.0.0.2:${originPort}/ HTTP/1.1\r\n${AUTH}\r\n`);
    assert.match(cred, /^HTTP\/1.1 400 [\s\S]*credentials in the URL are refused/);
    const anon = await send(`GET http://127.0.0.2:${originPort}/ HTTP/1.1\r\n\r\n`);
    assert.match(anon, /^HTTP\/1.1 407 [\s\S]*proxy-authenticate: Bearer/);
    assert.deepEqual(
      records.map((r) => [r.method, r.decision]),
      [
        ['HTTP', 'deny'],
        ['HTTP', 'deny'],
      ],
    );
  });

  it("carries a run's next request over the connection the last one left open", async () => {
    answer = (s, _r, nth) => s.write(`HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n${nth}`);
    assert.match(await send(get('/1')), /\r\n\r\n0$/);
    assert.match(await send(get('/2')), /\r\n\r\n1$/);
    answer = (s, _r, nth) =>
      s.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\n${nth}\r\n0\r\n\r\n`);
    assert.match(await send(get('/3')), /\r\n1\r\n2\r\n0\r\n\r\n$/);
    assert.equal(connections, 1);
  });

  it('never reuses a connection whose response it could not follow to its end', async () => {
    for (const [name, reply] of [
      ['close-delimited', (s: Socket) => s.end('HTTP/1.1 200 OK\r\n\r\nuntil close')],
      ['bytes past the end', (s: Socket) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA')],
      [
        'connection: close',
        (s: Socket) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'),
      ],
      ['HTTP/1.0', (s: Socket) => s.write('HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok')],
    ] as const) {
      answer = reply;
      proxy.setKillSwitch(true);
      proxy.setKillSwitch(false);
      connections = 0;
      await send(get());
      await send(get());
      assert.equal(connections, 2, name);
    }
  });

  it('retries on a fresh connection when the kept one was closed by the origin', async () => {
    answer = (s, _r, nth) =>
      nth === 0 ? s.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst') : s.destroy();
    assert.match(await send(get()), /first$/);
    // The kept connection dies at the next request; the proxy asks again on a new one.
    assert.match(await send(get()), /^HTTP\/1.1 200 OK[\s\S]*first$/);
    assert.equal(connections, 2);
  });

  it('cuts the client off when the origin stops in the middle of the body', async () => {
    answer = (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten..');
    const out = await send(get());
    assert.match(out, /content-length: 100\r\nconnection: close\r\n\r\nonly ten\.\.$/);
    assert.doesNotMatch(out, /502/);
  });

  it("holds a slow client's origin back instead of buffering its body, and delivers it whole", async () => {
    const size = 256 * 1024 * 1024;
    const block = Buffer.alloc(1024 * 1024, 0x61);
    let written = 0;
    let originSocket: Socket | undefined;
    answer = (s) => {
      originSocket = s;
      s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`);
      const pump = (): void => {
        while (written < size) {
          written += block.length;
          if (!s.write(block)) return void s.once('drain', pump);
        }
      };
      pump();
    };
    const c = connect(proxyPort, '127.0.0.1');
    c.on('error', () => undefined);
    c.pause(); // reads nothing yet
    c.write(get('/big'));
    await until(() => originSocket !== undefined, 'the origin connection');
    // The origin must come to a stop: held back, it writes nothing more for a while.
    assert.ok(
      await cameToRest(() => written),
      `the origin kept writing (${written} bytes so far) to a client that reads nothing`,
    );
    // What may then be in flight: the kernel's buffers on the way (on Linux a receive buffer
    // that was read fast autotunes up to tcp_rmem's maximum, 32 MiB on the CI machine; send
    // buffers up to 4 MiB), the origin's one pending write, and at most one read the relay
    // holds. That is under 48 MiB, far from the body's 256.
    assert.ok(
      written < 128 * 1024 * 1024,
      `the origin wrote ${written} bytes to a client that reads nothing`,
    );
    let got = 0;
    let tail = '';
    c.on('data', (d: Buffer) => {
      got += d.length;
      tail = d.toString('latin1', Math.max(0, d.length - 4));
    });
    await new Promise<void>((r) => {
      c.on('close', () => r());
      c.resume();
    });
    const headLength = `HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\nconnection: close\r\n\r\n`.length;
    assert.equal(got, headLength + size);
    assert.equal(tail, 'aaaa');
    await until(() => records.at(-1)?.bytesDown === size, 'the exchange on record with every byte');
    assert.equal(records.at(-1)?.bytesDown, size);
  });

  it('drops the exchange when the client goes away in the middle of it, and records the bytes it had', async () => {
    let originClosed: Promise<void> | undefined;
    answer = (s) => {
      originClosed = new Promise((r) => s.on('close', () => r()));
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\npartial');
    };
    const { s } = await inFlight('/left');
    s.resetAndDestroy();
    // A response the client did not take to its end leaves no connection to reuse.
    await originClosed;
    await until(() => proxy.openTunnels === 0, 'every tunnel closed');
    assert.equal(proxy.openTunnels, 0);
    assert.equal(records.at(-1)?.decision, 'allow');
    assert.equal(records.at(-1)?.bytesDown, 'partial'.length);
  });

  it('the kill switch closes kept-alive plain connections too', async () => {
    answer = (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    await send(get());
    proxy.setKillSwitch(true);
    proxy.setKillSwitch(false);
    await send(get());
    assert.equal(connections, 2);
  });
});

// The egress proxy with real sockets: a real origin server on loopback (reachable only through an
// explicit allow-range), curl as a real client, and raw sockets for the attacks.

import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { AddressGuard } from '../../src/egress/address.js';
import { HostMatcher, type HostRule } from '../../src/egress/hosts.js';
import { EgressProxy, type ConnectionRecord, type EgressProfile } from '../../src/egress/proxy.js';
import { curlViaProxy } from '../support/curl.js';
import { tempDir, type TempDir } from '../support/tmp.js';
import { until } from '../support/wait.js';

const TOKEN = 'test-workload-token';
const rules = (patterns: string[], source: string): HostRule[] =>
  patterns.map((pattern) => ({ pattern, source }));

/** Sends raw bytes to the proxy and returns everything it answers until it closes (or ms). */
function raw(port: number, data: string, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (c) => (out += c.toString()));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    setTimeout(() => s.destroy(), ms);
    s.write(data);
  });
}

describe('egress proxy', () => {
  let origin: HttpServer;
  let originPort = 0;
  let proxy: EgressProxy;
  let proxyPort = 0;
  let dir: TempDir;
  let records: ConnectionRecord[] = [];
  let mode: 'enforce' | 'report' = 'enforce';
  let guard: AddressGuard;
  const slow: ServerResponse[] = [];

  before(async () => {
    dir = tempDir();
    origin = createServer((req, res) => {
      // A request to /held is answered only when the test says so (a plain exchange in flight).
      if (req.url === '/held') return void slow.push(res);
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () =>
        res.end(
          `origin saw ${req.method} ${req.url} host=${req.headers.host} auth=${req.headers['proxy-authorization'] ?? 'none'} hop=${String(req.headers['x-hop'] ?? 'none')} body=${body}`,
        ),
      );
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.2', r));
    originPort = (origin.address() as AddressInfo).port;
    guard = new AddressGuard([`127.0.0.2/32`]);
    const profile = (): EgressProfile => ({
      mode,
      allow: new HostMatcher(
        rules(
          [
            `origin.test:${originPort}`,
            `127.0.0.2:${originPort}`,
            `loopback.test:${originPort}`,
            `*.allowed.test`,
          ],
          'test',
        ),
      ),
      deny: new HostMatcher(rules(['blocked.origin.test'], 'test-deny')),
      maxConnections: 3,
    });
    proxy = new EgressProxy({
      guard,
      headersTimeoutMs: 1000,
      deps: {
        authenticate: (t) =>
          t === TOKEN ? { agent: 'agent-1', run: 'run-1', via: 'token' } : 'unknown token',
        profileFor: profile,
        record: (r) => records.push(r),
        // The test's own resolver: origin.test is the origin (via the allowed 127.0.0.2), and
        // loopback.test is a name that resolves to 127.0.0.1.
        resolve: async (h) => {
          if (h === 'mixed.allowed.test')
            return [
              { address: '127.0.0.2', family: 4 },
              { address: '10.0.0.1', family: 4 },
            ];
          if (h === 'origin.test' || h.endsWith('.origin.test') || h.endsWith('.allowed.test'))
            return [{ address: '127.0.0.2', family: 4 }];
          if (h === 'loopback.test') return [{ address: '127.0.0.1', family: 4 }];
          throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
        },
      },
    });
    const s = await proxy.listen(0, '127.0.0.1');
    proxyPort = s.port;
    // The origin listens on 127.0.0.1; 127.0.0.2 reaches it too (all of 127/8 is loopback).
  });
  after(async () => {
    await proxy.close();
    origin.close();
    dir.cleanup();
  });
  beforeEach(() => {
    records = [];
    mode = 'enforce';
    proxy.setKillSwitch(false);
  });

  const curl = (url: string, token: string | null = TOKEN): Promise<{ code: string; body: string }> =>
    curlViaProxy(`http://127.0.0.1:${proxyPort}`, url, token, dir.dir);

  it('reads a plain request one way on every path: what Connection names never reaches the origin', async () => {
    // GET and HEAD are answered through the relay; POST goes through node:http. Both strip the
    // headers the client's Connection header names, and both refuse credentials in the URL.
    const ask = (method: string, extra = ''): Promise<string> =>
      raw(
        proxyPort,
        `${method} http://origin.test:${originPort}/p HTTP/1.1\r\nhost: origin.test\r\nproxy-authorization: Bearer ${TOKEN}\r\n` +
          `connection: close, x-hop\r\nx-hop: secret\r\n${extra}\r\n`,
      );
    const get = await ask('GET');
    const post = await ask('POST', 'content-length: 2\r\n\r\nhi');
    assert.match(get, /origin saw GET \/p host=origin\.test:\d+ auth=none hop=none/);
    assert.match(post, /origin saw POST \/p host=origin\.test:\d+ auth=none hop=none body=hi/);
    for (const method of ['GET', 'POST']) {
      const r = await raw(
        proxyPort,
        `${method} http://user:pw@origin.test:${originPort}/p HTTP/1.1\r\nhost: origin.test\r\nproxy-authorization: Bearer ${TOKEN}\r\n` +
          (method === 'POST' ? 'content-length: 0\r\n\r\n' : '\r\n'),
      );
      assert.match(r, /^HTTP\/1.1 400 [^]*credentials in the URL are refused/, method);
    }
  });

  it('counts a request node:http carries while it lasts, and the kill switch cuts it', async () => {
    const s = connect(proxyPort, '127.0.0.1');
    let out = '';
    s.on('data', (c) => (out += c.toString()));
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.write(
      `POST http://origin.test:${originPort}/held HTTP/1.1\r\nhost: origin.test\r\nproxy-authorization: Bearer ${TOKEN}\r\ncontent-length: 0\r\n\r\n`,
    );
    await until(() => slow.length === 1, 'the request at the origin');
    assert.equal(proxy.openTunnels, 1, 'the exchange is in the open set');
    assert.equal(proxy.setKillSwitch(true), 1);
    await closed;
    assert.equal(out, '', 'nothing of an answer reached the client');
    assert.equal(proxy.openTunnels, 0);
    await until(() => records.some((x) => x.method === 'HTTP'), 'the exchange on record');
    slow.pop()?.destroy();
  });

  it('forwards an allowed HTTP request to the checked address, without the proxy credentials', async () => {
    const r = await curl(`http://origin.test:${originPort}/path?q=1`);
    assert.equal(r.code, '200');
    assert.match(r.body, new RegExp(`origin saw GET /path\\?q=1 host=origin.test:${originPort} auth=none`));
    await until(() => records.some((x) => x.method === 'HTTP'), 'the request on record');
    const rec = records.find((x) => x.method === 'HTTP');
    assert.equal(rec?.decision, 'allow');
    assert.equal(rec?.address, '127.0.0.2');
    assert.equal(rec?.agent, 'agent-1');
    assert.ok(rec.bytesDown > 0);
  });

  it('tunnels CONNECT to an allowed host and counts bytes both ways', async () => {
    const out = await raw(
      proxyPort,
      `CONNECT origin.test:${originPort} HTTP/1.1\r\nhost: origin.test\r\nproxy-authorization: Bearer ${TOKEN}\r\n\r\nGET /tunnel HTTP/1.1\r\nhost: origin.test\r\nconnection: close\r\n\r\n`,
    );
    assert.match(out, /^HTTP\/1.1 200 Connection Established/);
    assert.match(out, /origin saw GET \/tunnel/);
    await until(() => records.some((x) => x.method === 'CONNECT'), 'the tunnel on record');
    const rec = records.find((x) => x.method === 'CONNECT');
    assert.equal(rec?.decision, 'allow');
    assert.ok(rec.bytesUp > 20 && rec.bytesDown > 20, JSON.stringify(rec));
  });

  it('refuses callers without a valid token (407) and records them', async () => {
    assert.equal((await curl(`http://origin.test:${originPort}/`, null)).code, '407');
    assert.equal((await curl(`http://origin.test:${originPort}/`, 'forged')).code, '407');
    assert.equal(records.length, 2);
    assert.ok(records.every((r) => r.decision === 'deny' && r.agent === '?'));
  });

  it('denies hosts no rule allows and hosts a deny rule names, deny first', async () => {
    assert.equal((await curl(`http://example.invalid:${originPort}/`)).code, '403');
    const r = await curl(`http://blocked.origin.test:${originPort}/`);
    assert.equal(r.code, '403');
    assert.match(r.body, /denied by blocked\.origin\.test/);
    assert.equal(records.filter((x) => x.decision === 'deny').length, 2);
  });

  it('report mode lets rule denials through as "would deny", but never the address guard', async () => {
    mode = 'report';
    const r = await raw(
      proxyPort,
      `CONNECT blocked.origin.test:${originPort} HTTP/1.1\r\nproxy-authorization: Bearer ${TOKEN}\r\n\r\n`,
      300,
    );
    assert.match(r, /200 Connection Established/);
    const denied = await raw(
      proxyPort,
      `CONNECT 169.254.169.254:80 HTTP/1.1\r\nproxy-authorization: Bearer ${TOKEN}\r\n\r\n`,
    );
    assert.match(denied, /403/);
    await until(() => records.some((x) => x.decision === 'deny'), 'the refusal on record');
    assert.ok(records.some((x) => x.decision === 'would_deny'));
    assert.ok(records.some((x) => x.decision === 'deny' && /link-local/.test(x.reason)));
  });

  it('refuses a name that resolves to 127.0.0.1, and a name with any private address', async () => {
    const r = await curl(`http://loopback.test:${originPort}/`);
    assert.equal(r.code, '403');
    assert.match(r.body, /address guard: 127\.0\.0\.1 is loopback/);
    const m = await raw(
      proxyPort,
      `CONNECT mixed.allowed.test:443 HTTP/1.1\r\nproxy-authorization: Bearer ${TOKEN}\r\n\r\n`,
    );
    assert.match(m, /403[\s\S]*10\.0\.0\.1 is private/);
  });

  it('refuses every numeric spelling of 127.0.0.1 and 169.254.169.254 even when a rule would allow them', async () => {
    for (const h of [
      '127.0.0.1',
      '127.1',
      '2130706433',
      '0x7f000001',
      '0177.0.0.1',
      '[::ffff:127.0.0.1]',
      '[::1]',
      '169.254.169.254',
      '2852039166',
      '0xa9fea9fe',
      '[::ffff:a9fe:a9fe]',
    ]) {
      mode = 'report'; // so only the address guard can refuse
      const out = await raw(
        proxyPort,
        `CONNECT ${h}:${originPort} HTTP/1.1\r\nproxy-authorization: Bearer ${TOKEN}\r\n\r\n`,
      );
      assert.match(out, /^HTTP\/1.1 403/, h);
    }
  });

  it('bans an address at run time, and unbans it', async () => {
    guard.ban('127.0.0.2');
    assert.equal((await curl(`http://origin.test:${originPort}/`)).code, '403');
    guard.unban('127.0.0.2');
    assert.equal((await curl(`http://origin.test:${originPort}/`)).code, '200');
  });

  it('refuses request smuggling (Content-Length with Transfer-Encoding) and oversized headers', async () => {
    const smuggle = await raw(
      proxyPort,
      `POST http://origin.test:${originPort}/ HTTP/1.1\r\nhost: origin.test\r\nproxy-authorization: Bearer ${TOKEN}\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n`,
    );
    assert.match(smuggle, /^HTTP\/1.1 400/);
    assert.doesNotMatch(smuggle, /smuggled/);
    const big = await raw(
      proxyPort,
      `GET http://origin.test/ HTTP/1.1\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    assert.match(big, /^HTTP\/1.1 431/);
  });

  it('closes a connection that never finishes its headers (slowloris)', async () => {
    const t0 = performance.now();
    const out = await raw(proxyPort, 'CONNECT origin.test:443 HTTP/1.1\r\nx-slow: 1\r\n', 5000);
    assert.ok(performance.now() - t0 < 4500, 'closed by the header timeout');
    assert.doesNotMatch(out, /200/);
  });

  it('refuses a malformed or oversized CONNECT rather than guess at it', async () => {
    const auth = `proxy-authorization: Bearer ${TOKEN}`;
    const target = `origin.test:${originPort}`;
    for (const bad of [
      `CONNECT ${target} HTTP/1.1\r\n${auth}\r\n folded: continuation\r\n\r\n`,
      `CONNECT ${target} HTTP/1.1\r\n${auth}\r\n${auth}\r\n\r\n`,
      `CONNECT ${target} HTTP/1.1\r\nno colon here\r\n\r\n`,
      `CONNECT ${target} HTTP/2.0\r\n${auth}\r\n\r\n`,
      `CONNECT  ${target} HTTP/1.1\r\n${auth}\r\n\r\n`,
      `CONNECT ${target} HTTP/1.1\r\nbad name: x\r\n${auth}\r\n\r\n`,
    ])
      assert.match(await raw(proxyPort, bad), /^HTTP\/1.1 400/, JSON.stringify(bad));
    const big = await raw(proxyPort, `CONNECT ${target} HTTP/1.1\r\nx-big: ${'a'.repeat(20_000)}\r\n`);
    assert.match(big, /^HTTP\/1.1 431 Request Header Fields Too Large\r\n[\s\S]*larger than 16384 bytes/);
  });

  it('reads a request that arrives a byte at a time, CONNECT or not', async () => {
    const send = (text: string): Promise<string> =>
      new Promise((resolve) => {
        const s = connect(proxyPort, '127.0.0.1');
        let out = '';
        s.on('data', (c) => (out += c.toString()));
        s.on('close', () => resolve(out));
        setTimeout(() => s.destroy(), 3000);
        let i = 0;
        const next = (): void => {
          if (i < text.length) s.write(text[i++]!, () => setTimeout(next, 1));
        };
        next();
      });
    const tunnel = await send(
      `CONNECT origin.test:${originPort} HTTP/1.1\r\nproxy-authorization: Bearer ${TOKEN}\r\n\r\nGET /slow HTTP/1.1\r\nhost: o\r\nconnection: close\r\n\r\n`,
    );
    assert.match(tunnel, /^HTTP\/1.1 200 Connection Established[\s\S]*origin saw GET \/slow/);
    const plain = await send(
      `GET http://origin.test:${originPort}/plain HTTP/1.1\r\nhost: origin.test\r\nproxy-authorization: Bearer ${TOKEN}\r\nconnection: close\r\n\r\n`,
    );
    assert.match(plain, /^HTTP\/1.1 200[\s\S]*origin saw GET \/plain/);
  });

  it('handles a CONNECT that follows a request on a kept-alive connection', async () => {
    const s = connect(proxyPort, '127.0.0.1');
    let out = '';
    s.on('data', (c) => (out += c.toString()));
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    // A request with a body goes to node:http, which keeps the connection open for the next.
    s.write(
      `POST http://origin.test:${originPort}/first HTTP/1.1\r\nhost: origin.test\r\nproxy-authorization: Bearer ${TOKEN}\r\ncontent-length: 2\r\n\r\nhi`,
    );
    await until(() => out.includes('origin saw POST /first'), 'the first answer');
    s.write(
      `CONNECT origin.test:${originPort} HTTP/1.1\r\nproxy-authorization: Bearer ${TOKEN}\r\n\r\nGET /second HTTP/1.1\r\nhost: o\r\nconnection: close\r\n\r\n`,
    );
    await closed;
    assert.match(
      out,
      /origin saw POST \/first[\s\S]*200 Connection Established[\s\S]*origin saw GET \/second/,
    );
  });

  it('the kill switch cuts open tunnels and refuses new ones', async () => {
    const s = connect(proxyPort, '127.0.0.1');
    await new Promise<void>((r) => s.on('connect', r));
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.write(`CONNECT origin.test:${originPort} HTTP/1.1\r\nproxy-authorization: Bearer ${TOKEN}\r\n\r\n`);
    await new Promise<void>((r) => s.once('data', () => r()));
    assert.equal(proxy.openTunnels, 1);
    assert.equal(proxy.setKillSwitch(true) > 0, true);
    await closed;
    assert.match(
      await raw(
        proxyPort,
        `CONNECT origin.test:${originPort} HTTP/1.1\r\nproxy-authorization: Bearer ${TOKEN}\r\n\r\n`,
      ),
      /503/,
    );
  });

  it('limits concurrent connections per agent', async () => {
    const sockets = [];
    for (let i = 0; i < 3; i++) {
      const s = connect(proxyPort, '127.0.0.1');
      s.write(`CONNECT origin.test:${originPort} HTTP/1.1\r\nproxy-authorization: Bearer ${TOKEN}\r\n\r\n`);
      await new Promise<void>((r) => s.once('data', () => r()));
      sockets.push(s);
    }
    assert.match(
      await raw(
        proxyPort,
        `CONNECT origin.test:${originPort} HTTP/1.1\r\nproxy-authorization: Bearer ${TOKEN}\r\n\r\n`,
      ),
      /429/,
    );
    for (const s of sockets) s.destroy();
  });
});

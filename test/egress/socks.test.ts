// SOCKS5 through the egress proxy, on a run's channel (a unix socket: the channel says who is
// calling): curl as a real client (socks5h://localhost/PATH), raw handshakes for what curl never
// sends, and the records. The decisions are a CONNECT's, so these check that the same rules and
// address guard stand in front of SOCKS5, and that each refusal gets the reply RFC 1928 gives
// it. On the TCP listener SOCKS5 is refused: a workload token cannot be a SOCKS5 password.

import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { join } from 'node:path';
import type { ConnectionRecord, EgressProxy } from '../../src/egress/proxy.js';
import { parseSocks, SOCKS_REPLY } from '../../src/egress/socks.js';
import { curlViaProxy } from '../support/curl.js';
import { proxyToOrigin } from '../support/egress.js';
import { tempDir } from '../support/tmp.js';
import { until } from '../support/wait.js';

const TOKEN = 'socks-test-token';

/** The greeting and username/password step a client with `token` sends. */
function hello(token: string | undefined): Buffer[] {
  if (token === undefined) return [Buffer.from([5, 1, 0])];
  const t = Buffer.from(token);
  return [
    Buffer.from([5, 2, 0, 2]),
    Buffer.concat([Buffer.from([1, 5]), Buffer.from('agent'), Buffer.from([t.length]), t]),
  ];
}

/** A CONNECT request for an IPv4 address, an IPv6 address or a name. */
function request(host: string, port: number, command = 1): Buffer {
  const p = [port >> 8, port & 255];
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host))
    return Buffer.from([5, command, 0, 1, ...host.split('.').map(Number), ...p]);
  if (host.includes(':')) {
    const groups = host
      .split(':')
      .flatMap((g) => [parseInt(g || '0', 16) >> 8, parseInt(g || '0', 16) & 255]);
    return Buffer.from([5, command, 0, 4, ...groups, ...p]);
  }
  return Buffer.concat([Buffer.from([5, command, 0, 3, host.length]), Buffer.from(host), Buffer.from(p)]);
}

/**
 * Sends each message once the proxy has answered the one before, as a client does; resolves
 * with every byte the proxy sent and whether the connection was left open (a tunnel).
 */
function handshake(
  at: number | string,
  messages: Buffer[],
): Promise<{ bytes: number[]; open: Socket | undefined }> {
  return new Promise((resolve) => {
    const s = typeof at === 'number' ? connect(at, '127.0.0.1') : connect(at);
    const bytes: number[] = [];
    let next = 0;
    let timer: NodeJS.Timeout | undefined;
    const send = (): void => {
      if (next < messages.length) s.write(messages[next++]!);
      clearTimeout(timer);
      // No answer for a while after the last message: the tunnel is up and quiet.
      timer = setTimeout(() => resolve({ bytes, open: s }), 300);
    };
    s.on('data', (d: Buffer) => {
      bytes.push(...d);
      send();
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ bytes, open: undefined });
    });
    s.on('error', () => undefined);
    s.on('connect', send);
  });
}

describe('SOCKS5', () => {
  const records: ConnectionRecord[] = [];
  const origin = createHttpServer((req, res) => res.end(`socks ok ${req.url}`));
  let port = 0;
  let originPort = 0;
  let close: () => Promise<void>;
  const dir = tempDir();
  /** The run's channel, and curl's name for a SOCKS5 proxy on it. */
  const channel = join(dir.dir, 'egress.sock');
  const viaChannel = `socks5h://localhost${channel}`;

  before(async () => {
    let proxy: EgressProxy;
    ({ proxy, port, originPort, close } = await proxyToOrigin(TOKEN, origin, (r) => records.push(r)));
    await proxy.listenChannel(channel, { agent: 'a', run: 'r', via: 'channel' });
  });
  after(async () => {
    await close();
    dir.cleanup();
  });
  beforeEach(() => {
    records.length = 0;
  });

  const recorded = async (): Promise<ConnectionRecord> => {
    await until(() => records.length > 0, 'the connection on record');
    return records[0]!;
  };

  it('carries curl to an allowed origin on a run channel, and records it as SOCKS5 for the run', async () => {
    const r = await curlViaProxy(viaChannel, `http://127.0.0.2:${originPort}/a`, null, dir.dir);
    assert.deepEqual(r, { code: '200', body: 'socks ok /a' });
    const rec = await recorded();
    assert.equal(rec.method, 'SOCKS5');
    assert.equal(rec.decision, 'allow');
    assert.equal(rec.address, '127.0.0.2');
    assert.equal(rec.run, 'r');
    assert.ok(rec.bytesUp > 0 && rec.bytesDown > 0);
  });

  it('refuses SOCKS5 on the TCP listener, token or not, saying why in the record', async () => {
    // A real workload token is about 500 bytes; RFC 1929 passwords end at 255. A caller here
    // cannot say who it is, so it is refused, with the way that works in the reason.
    for (const token of [TOKEN, 'x'.repeat(255), null]) {
      records.length = 0;
      const r = await curlViaProxy(
        `socks5h://127.0.0.1:${port}`,
        `http://127.0.0.2:${originPort}/`,
        token,
        dir.dir,
      );
      assert.notEqual(r.code, '200');
      const rec = await recorded();
      assert.equal(rec.method, 'SOCKS5');
      assert.equal(rec.decision, 'deny');
      assert.match(rec.reason, /run channels only.*HTTP CONNECT with Proxy-Authorization/);
    }
    const raw = await handshake(port, [...hello(undefined), request('127.0.0.2', originPort)]);
    assert.deepEqual(raw.bytes, [5, 0, 5, SOCKS_REPLY.notAllowed, 0, 1, 0, 0, 0, 0, 0, 0]);
  });

  it('keeps the rules and the address guard in front: loopback, metadata and unlisted hosts', async () => {
    // The allow rule names 127.0.0.2 and the origin's port alone: the others are refused by the
    // rules before the guard is asked; test/egress/proxy.test.ts has the guard on every spelling.
    for (const [host, p] of [
      ['127.0.0.1', originPort],
      ['169.254.169.254', 80],
      ['0:0:0:0:0:ffff:7f00:2', originPort],
      ['not-listed.test', 443],
      ['127.0.0.2', 1],
    ] as const) {
      records.length = 0;
      const r = await handshake(channel, [...hello(undefined), request(host, p)]);
      assert.deepEqual(r.bytes.slice(2, 4), [5, SOCKS_REPLY.notAllowed], host);
      assert.equal(r.open, undefined, host);
      const rec = await recorded();
      assert.equal(rec.decision, 'deny', host);
      assert.match(rec.reason, /no rule allows|address guard/, host);
    }
  });

  it('relays bytes both ways once connected, including what the client sent early', async () => {
    const r = await handshake(channel, [...hello(undefined), request('127.0.0.2', originPort)]);
    assert.deepEqual(r.bytes, [5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const s = r.open!;
    const answer = new Promise<string>((resolve) => {
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString()));
      s.on('close', () => resolve(out));
    });
    s.end(`GET /b HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
    assert.match(await answer, /^HTTP\/1.1 200 OK[\s\S]*socks ok \/b$/);
  });

  it('says "connection refused" when the origin refuses, and records an error', async () => {
    // An allowed origin that has gone: its port is in the allow rule, and nothing listens.
    const gone = createHttpServer();
    const mine: ConnectionRecord[] = [];
    const p = await proxyToOrigin(TOKEN, gone, (r) => mine.push(r));
    const goneChannel = join(dir.dir, 'gone.sock');
    await p.proxy.listenChannel(goneChannel, { agent: 'a', run: 'r2', via: 'channel' });
    await new Promise((r) => gone.close(r));
    const r = await handshake(goneChannel, [...hello(undefined), request('127.0.0.2', p.originPort)]);
    await p.close();
    assert.deepEqual(r.bytes.slice(2, 4), [5, SOCKS_REPLY.refused]);
    assert.equal(mine[0]?.decision, 'error');
    assert.match(mine[0]?.reason ?? '', /ECONNREFUSED/);
  });

  it('refuses what it does not serve: no usable method, BIND, an unknown address type', async () => {
    assert.deepEqual((await handshake(channel, [Buffer.from([5, 1, 1])])).bytes, [5, 0xff]);
    const bind = await handshake(channel, [...hello(undefined), request('127.0.0.2', originPort, 2)]);
    assert.deepEqual(bind.bytes.slice(2, 4), [5, SOCKS_REPLY.commandNotSupported]);
    const odd = await handshake(channel, [...hello(undefined), Buffer.from([5, 1, 0, 9, 1, 2, 3, 4, 0, 80])]);
    assert.deepEqual(odd.bytes.slice(2, 4), [5, SOCKS_REPLY.addressTypeNotSupported]);
    assert.equal(odd.open, undefined);
  });
});

describe('parseSocks', () => {
  const withAuth = Buffer.concat([Buffer.from([5, 1, 2]), Buffer.from([1, 1, 0x61, 3]), Buffer.from('tok')]);

  it('reads the target in each address form, and the password as the token', () => {
    const parse = (req: Buffer): ReturnType<typeof parseSocks> =>
      parseSocks(Buffer.concat([withAuth, req]), withAuth.length, 3);
    assert.deepEqual(parse(request('10.1.2.3', 443)), { target: '10.1.2.3:443', token: 'tok' });
    assert.deepEqual(parse(request('github.com', 443)), { target: 'github.com:443', token: 'tok' });
    assert.equal(parse(request('2001:db8:0:0:0:0:0:1', 22)).target, '[2001:db8:0:0:0:0:0:1]:22');
    assert.equal(
      parseSocks(Buffer.concat([Buffer.from([5, 1, 0]), request('a.test', 80)]), 3, 0).token,
      undefined,
    );
  });

  it('refuses a name that is not a host name, port 0 and trailing bytes, never guessing', () => {
    for (const bad of [
      request('a.test:80', 443),
      request('a b', 443),
      request('a.test', 0),
      Buffer.concat([request('a.test', 80), Buffer.from([0])]),
    ])
      assert.throws(() => parseSocks(Buffer.concat([withAuth, bad]), withAuth.length, 3), /SOCKS5|host name/);
  });
});

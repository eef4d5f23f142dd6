// The native relay (src/egress/relay.c) behind the proxy: what only it does. Its tunnels, bounds
// and half-close are also what every other egress test runs through; these are the cases that
// belong to it alone: connect failures, idle tunnels, the run channels it listens on, records
// of tunnels still open at close(), and the caller mistakes it refuses.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AddressGuard } from '../../src/egress/address.js';
import { HostMatcher } from '../../src/egress/hosts.js';
import { NativeRelay, errnoName, type RelayEvents } from '../../src/egress/native.js';
import { EgressProxy, type ConnectionRecord } from '../../src/egress/proxy.js';
import { proxyToOrigin } from '../support/egress.js';
import { until } from '../support/wait.js';

const TOKEN = 'relay-token';

/** Sends a CONNECT and resolves with the socket once the whole answer head is in. */
function connectVia(
  where: { port: number } | { path: string },
  target: string,
  auth = `proxy-authorization: Bearer ${TOKEN}\r\n`,
): Promise<{ socket: Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = 'port' in where ? connect(where.port, '127.0.0.1') : connect(where.path);
    socket.on('error', reject);
    socket.write(`CONNECT ${target} HTTP/1.1\r\n${auth}\r\n`);
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      resolve({ socket, head });
    };
    socket.on('data', onData);
  });
}

describe('the native relay', () => {
  const records: ConnectionRecord[] = [];
  const origin = createServer((s) => s.on('data', (d) => s.write(d)).on('error', () => undefined));
  let port = 0;
  let originPort = 0;
  let proxy: EgressProxy;
  let close: () => Promise<void>;

  before(async () => {
    ({ proxy, port, originPort, close } = await proxyToOrigin(TOKEN, origin, (r) => records.push(r), {
      idleTimeoutMs: 300,
    }));
  });
  after(() => close());

  it('answers 502 when the checked address refuses the connection, and records an error', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.2', r));
    const deadPort = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    // The allow rule names the origin's port only; a second proxy allows any port on 127.0.0.2.
    const p2 = new EgressProxy({
      guard: new AddressGuard(['127.0.0.2/32']),
      deps: {
        authenticate: () => ({ agent: 'a', run: 'r', via: 'token' }),
        profileFor: () => ({
          mode: 'enforce',
          allow: new HostMatcher([{ pattern: '127.0.0.2', source: 'test' }]),
          deny: new HostMatcher([]),
          maxConnections: 10,
        }),
        record: (r) => records.push(r),
      },
    });
    const { port: p2port } = await p2.listen(0, '127.0.0.1');
    const { socket, head } = await connectVia({ port: p2port }, `127.0.0.2:${deadPort}`);
    socket.destroy();
    await p2.close();
    assert.match(head, /^HTTP\/1.1 502 Bad Gateway\r\n[\s\S]*\(127\.0\.0\.2\): ECONNREFUSED\n$/);
    const r = records.find((x) => x.port === deadPort);
    assert.equal(r?.decision, 'error');
    assert.equal(r?.address, '127.0.0.2');
    assert.match(r?.reason ?? '', /cannot connect to 127\.0\.0\.2:\d+ \(127\.0\.0\.2\): ECONNREFUSED/);
  });

  it('closes a tunnel idle for idleTimeoutMs and records it with its bytes; a busy one stays', async () => {
    const idle = await connectVia({ port }, `127.0.0.2:${originPort}`);
    const busy = await connectVia({ port }, `127.0.0.2:${originPort}`);
    assert.match(idle.head, /^HTTP\/1.1 200/);
    idle.socket.write('ping');
    let idleClosed = false;
    idle.socket.on('close', () => (idleClosed = true));
    const timer = setInterval(() => busy.socket.write('x'), 50);
    busy.socket.on('data', () => undefined);
    await until(() => idleClosed, 'the idle tunnel closed', 3000);
    assert.equal(busy.socket.destroyed, false, 'a tunnel that moves bytes is not idle');
    clearInterval(timer);
    busy.socket.destroy();
    await until(
      () => records.filter((r) => r.method === 'CONNECT' && r.port === originPort).length >= 2,
      'both tunnels on record',
    );
    const r = records.find((x) => x.port === originPort && x.bytesUp === 4);
    assert.equal(r?.decision, 'allow');
    assert.equal(r?.bytesDown, 4, 'the echo came back before the tunnel went idle');
  });

  it('answers a CONNECT, GET or HEAD head that never ends with 408, saying how long it waited, and SOCKS5 too', async () => {
    const p = await proxyToOrigin(TOKEN, createServer(), () => undefined, { headersTimeoutMs: 200 });
    for (const start of [
      'CONNECT 127.0.0.2:1 HTTP/1.1',
      'GET http://127.0.0.2:1/ HTTP/1.1',
      'HEAD http://127.0.0.2:1/ HTTP/1.1',
    ]) {
      const s = connect(p.port, '127.0.0.1');
      s.write(`${start}\r\nx-slow: 1\r\n`);
      let out = '';
      s.on('data', (d) => (out += d.toString()));
      await new Promise((r) => s.on('close', r));
      assert.match(out, /^HTTP\/1.1 408 Request Timeout\r\n[\s\S]*did not arrive within 200 ms\n$/, start);
    }
    // A SOCKS5 handshake that stops half-way gets a general failure, within the same deadline.
    const t0 = performance.now();
    const s = connect(p.port, '127.0.0.1');
    s.write(Buffer.from([5, 1, 0, 5, 1, 0]));
    const got: number[] = [];
    s.on('data', (d: Buffer) => got.push(...d));
    await new Promise((r) => s.on('close', r));
    assert.deepEqual(got, [5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert.ok(performance.now() - t0 < 2000);
    await p.close();
  });

  it("serves a run's channel on its unix socket, knows the caller by it, and removes it at the end", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-relay-'));
    const path = join(dir, 'egress.sock');
    try {
      await proxy.listenChannel(path, { agent: 'chan-agent', run: 'chan-run', via: 'channel' });
      // No token: the channel says who is calling.
      const { socket, head } = await connectVia({ path }, `127.0.0.2:${originPort}`, '');
      assert.match(head, /^HTTP\/1.1 200/);
      socket.write('over the channel');
      const echoed = await new Promise<string>((r) => socket.once('data', (d) => r(d.toString())));
      assert.equal(echoed, 'over the channel');
      // SOCKS5 too, with no username and password: the channel is the credential.
      const socks = connect(path);
      socks.write(Buffer.from([5, 1, 0]));
      await new Promise((r) => socks.once('data', r));
      socks.write(Buffer.from([5, 1, 0, 1, 127, 0, 0, 2, originPort >> 8, originPort & 255]));
      const reply = await new Promise<Buffer>((r) => socks.once('data', r));
      assert.deepEqual([...reply.subarray(0, 2)], [5, 0]);
      socks.write('socks over the channel');
      assert.equal(
        await new Promise<string>((r) => socks.once('data', (d) => r(d.toString()))),
        'socks over the channel',
      );
      const ended = Promise.all([
        new Promise((r) => socket.on('close', r)),
        new Promise((r) => socks.on('close', r)),
      ]);
      assert.equal(proxy.closeChannel('chan-run'), true);
      await ended; // the run's tunnels are cut with its channel
      await until(() => records.some((r) => r.agent === 'chan-agent'), 'the channel connection on record');
      assert.equal(records.find((r) => r.agent === 'chan-agent')?.run, 'chan-run');
      await until(
        () => records.some((r) => r.agent === 'chan-agent' && r.method === 'SOCKS5'),
        'the SOCKS5 connection on record',
      );
      assert.equal(existsSync(path), false, 'the socket file is gone');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('records the tunnels still open when the proxy closes, before close() resolves', async () => {
    const mine: ConnectionRecord[] = [];
    const p = await proxyToOrigin(
      TOKEN,
      createServer((s) => s.resume()),
      (r) => mine.push(r),
    );
    const open = await Promise.all(
      [1, 2, 3].map(() => connectVia({ port: p.port }, `127.0.0.2:${p.originPort}`)),
    );
    open.forEach((t) => t.socket.on('error', () => undefined));
    await p.close();
    assert.equal(mine.length, 3);
    assert.ok(mine.every((r) => r.decision === 'allow' && r.method === 'CONNECT'));
  });
});

/** A relay whose events go nowhere, but for those a test asks for: for the calls alone. */
const quietRelay = (events: Partial<RelayEvents> = {}): NativeRelay =>
  new NativeRelay(
    {
      head: () => undefined,
      handoff: () => undefined,
      failed: () => undefined,
      closed: () => undefined,
      drained: () => undefined,
      socks: () => undefined,
      ...events,
    },
    {
      maxHeaderBytes: 1024,
      headersTimeoutMs: 1000,
      idleTimeoutMs: 1000,
      tickMs: 100,
      established: Buffer.from('x'),
      tooLarge: Buffer.from('x'),
      tooSlow: Buffer.from('x'),
    },
  );

describe('NativeRelay: answers written through it', () => {
  it('keeps in order what a client cannot take yet, even from a caller that sends on after false', async () => {
    let id = -1;
    let drained = 0;
    const relay = quietRelay({ head: (i) => (id = i), drained: () => drained++ });
    after(() => relay.close());
    const { port } = relay.listenTcp('127.0.0.1', 0);
    const client = connect(port, '127.0.0.1');
    client.write('GET http://a.test/ HTTP/1.1\r\n\r\n');
    client.pause();
    await until(() => id >= 0, 'the connection id');
    // 32 MiB in numbered blocks: far more than the sockets hold, so most waits in the relay.
    const block = (n: number): Buffer => Buffer.alloc(1024 * 1024, n);
    const sent: boolean[] = [];
    for (let n = 0; n < 32; n++) sent.push(relay.send(id, block(n)));
    assert.equal(sent[31], false, 'the client reads nothing: the relay says to wait');
    relay.end(id, Buffer.from('end'));
    const got: Buffer[] = [];
    client.on('data', (d: Buffer) => got.push(d));
    await new Promise((r) => {
      client.on('close', r);
      client.resume();
    });
    const all = Buffer.concat(got);
    assert.equal(all.length, 32 * 1024 * 1024 + 3);
    for (let n = 0; n < 32; n++)
      assert.equal(all[n * 1024 * 1024 + 1024 * 512], n, `block ${n} in its place`);
    assert.equal(all.subarray(-3).toString(), 'end');
    assert.equal(drained, 0, 'after end() nothing more is heard of it');
  });
});

describe('NativeRelay: caller mistakes', () => {
  const relay = quietRelay();
  after(() => relay.close());

  it('refuses a name where a checked address belongs, and bad ports, as TypeErrors', () => {
    assert.throws(() => relay.tunnel(1, 'example.com', 443, 1000), TypeError);
    assert.throws(() => relay.tunnel(1, '127.0.0.1', 0, 1000), TypeError);
    assert.throws(() => relay.listenTcp('localhost', 0), TypeError);
  });

  it('says which error a failed bind was, as Node does', () => {
    const { port } = relay.listenTcp('127.0.0.1', 0);
    assert.throws(
      () => relay.listenTcp('127.0.0.1', port),
      (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE',
    );
    assert.equal(errnoName(111), 'ECONNREFUSED');
  });

  it('is closed for good once closed; what named its connections does nothing', () => {
    const r = quietRelay();
    r.close();
    assert.throws(() => r.listenTcp('127.0.0.1', 0), /relay: closed/);
    // An admission that finishes after the proxy closed finds nothing to tunnel or refuse.
    assert.doesNotThrow(() => r.tunnel(7, '127.0.0.1', 1, 1000));
    assert.doesNotThrow(() => r.reject(7, Buffer.from('x')));
  });
});

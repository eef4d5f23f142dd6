// The CLI's own HTTP/1.1 client (src/cli/http.ts) against real servers: node:http answering with
// Content-Length, chunked and close-delimited bodies, keep-alive reuse, and raw sockets for the
// failures a client must report instead of hanging or guessing.

import assert from 'node:assert/strict';
import { createServer as createHttp, type Server as HttpServer } from 'node:http';
import { createServer as createTcp, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HttpClientError, HttpConnection } from '../../src/cli/http.js';

const portOf = (s: Server | HttpServer): number => (s.address() as AddressInfo).port;

describe('CLI HTTP client', () => {
  let http: HttpServer;
  const seenSockets = new Set<Socket>();

  before(async () => {
    http = createHttp((req, res) => {
      seenSockets.add(req.socket);
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (req.url === '/chunked') {
          res.write('one,');
          setImmediate(() => res.end('two'));
        } else if (req.url === '/close') {
          res.writeHead(200, { connection: 'close' });
          res.end('closing');
        } else if (req.url === '/empty') {
          res.writeHead(204).end();
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ method: req.method, url: req.url, auth: req.headers.authorization, body }),
          );
        }
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  });
  after(() => http.close());

  it('sends the method, path, headers and body, and reads a Content-Length answer', async () => {
    const c = new HttpConnection('127.0.0.1', portOf(http));
    const { sent, response } = c.request(
      'POST',
      '/v1/runs?x=1',
      { authorization: 'Bearer t' },
      Buffer.from('{"a":1}'),
    );
    await sent;
    const r = await response;
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body.toString()), {
      method: 'POST',
      url: '/v1/runs?x=1',
      auth: 'Bearer t',
      body: '{"a":1}',
    });
    c.close();
  });

  it('reads chunked and empty bodies, and keeps one connection for requests in a row', async () => {
    seenSockets.clear();
    const c = new HttpConnection('127.0.0.1', portOf(http));
    const a = c.request('GET', '/chunked', {}, undefined).response;
    const b = c.request('GET', '/empty', {}, undefined).response;
    const d = c.request('GET', '/json', {}, undefined).response;
    assert.equal((await a).body.toString(), 'one,two');
    assert.equal((await b).status, 204);
    assert.equal((await b).body.length, 0);
    assert.equal((await d).status, 200);
    assert.equal(seenSockets.size, 1, 'one kept-alive connection');
    c.close();
  });

  it('opens a new connection after the server closes one', async () => {
    seenSockets.clear();
    const c = new HttpConnection('127.0.0.1', portOf(http));
    assert.equal((await c.request('GET', '/close', {}, undefined).response).body.toString(), 'closing');
    assert.equal((await c.request('GET', '/json', {}, undefined).response).status, 200);
    assert.equal(seenSockets.size, 2);
    c.close();
  });

  /** A raw server answering every connection with `reply`. */
  async function raw(reply: (s: Socket) => void): Promise<{ port: number; close(): void }> {
    const s = createTcp((sock) => {
      sock.once('data', () => reply(sock));
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return { port: portOf(s), close: () => s.close() };
  }

  it('reads a body delimited by the end of the connection', async () => {
    const srv = await raw((s) => s.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end'));
    const c = new HttpConnection('127.0.0.1', srv.port);
    assert.equal((await c.request('GET', '/', {}, undefined).response).body.toString(), 'until the end');
    srv.close();
  });

  it('reports a connection cut mid-answer, a malformed answer, oversized headers and a refused connection', async () => {
    const cases: [string, (s: Socket) => void, RegExp][] = [
      [
        'cut',
        (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort'),
        /closed before the answer/,
      ],
      ['garbage', (s) => s.end('SSH-2.0-OpenSSH\r\n\r\n'), /not an HTTP response/],
      ['length', (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n'), /invalid Content-Length/],
      ['headers', (s) => s.write('HTTP/1.1 200 OK\r\nx: ' + 'a'.repeat(70_000)), /too large/],
    ];
    for (const [name, reply, message] of cases) {
      const srv = await raw(reply);
      const c = new HttpConnection('127.0.0.1', srv.port);
      await assert.rejects(c.request('GET', '/', {}, undefined).response, (e: unknown) => {
        assert.ok(e instanceof HttpClientError, name);
        assert.match(e.message, message, name);
        return true;
      });
      c.close();
      srv.close();
    }
    const gone = await raw((s) => s.destroy());
    const port = gone.port;
    gone.close(); // closes the listening socket at once (the callback waits for connections)
    const c = new HttpConnection('127.0.0.1', port);
    const { sent, response } = c.request('GET', '/', {}, undefined);
    await assert.rejects(response, (e: unknown) => e instanceof HttpClientError && e.code === 'ECONNREFUSED');
    await sent; // settles even when the request never went out
  });

  it('refuses header injection and malformed methods or paths', async () => {
    const c = new HttpConnection('127.0.0.1', portOf(http));
    await assert.rejects(c.request('GET', '/', { x: 'a\r\nb: c' }, undefined).response, TypeError);
    await assert.rejects(c.request('get', '/', {}, undefined).response, TypeError);
    await assert.rejects(c.request('GET', '/a b', {}, undefined).response, TypeError);
    c.close();
  });
});

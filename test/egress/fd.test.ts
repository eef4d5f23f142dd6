// src/egress/fd.ts reads Node's private `_handle.fd` (the one such read in Rampart). This test is
// its alarm: on a Node where the field moved or means something else, it fails loudly, naming
// the Node version, instead of tunnels quietly refused in production.

import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { it } from 'node:test';
import { socketFd } from '../../src/egress/fd.js';

it(`socketFd returns the descriptor of a CONNECT socket node:http hands over (Node ${process.version})`, async () => {
  const server = createServer();
  const seen = new Promise<Duplex>((resolve) =>
    server.on('connect', (_req, socket: Duplex) => resolve(socket)),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const client = request({ host: '127.0.0.1', port, method: 'CONNECT', path: 'example.test:443' });
  client.on('error', () => undefined);
  client.end();
  const socket = await seen;
  try {
    const fd = socketFd(socket);
    assert.ok(
      fd !== undefined,
      `Node ${process.version} no longer exposes _handle.fd: src/egress/fd.ts must change`,
    );
    // The descriptor is this very socket: its inode is that of the established connection whose
    // local port is the server's (/proc/net/tcp), not some other descriptor of the process.
    const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
    assert.ok(inode, 'the descriptor is a socket');
    const accepted = readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter(
        (f) =>
          f.length > 9 &&
          f[1]!.endsWith(`:${port.toString(16).toUpperCase().padStart(4, '0')}`) &&
          f[3] === '01',
      )
      .map((f) => f[9]);
    assert.deepEqual(accepted, [inode]);
  } finally {
    socket.destroy();
    client.destroy();
    server.close();
  }
});

it('socketFd says undefined, never a wrong number, for a stream without a descriptor', () => {
  assert.equal(socketFd({} as Duplex), undefined);
  assert.equal(socketFd({ _handle: { fd: -1 } } as unknown as Duplex), undefined);
  assert.equal(socketFd({ _handle: { fd: '3' } } as unknown as Duplex), undefined);
});

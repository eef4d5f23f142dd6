// The one read of a private Node field in Rampart. A CONNECT that node:http parsed (one after
// other requests on a kept-alive connection) is handed to the native relay, which needs the
// socket's descriptor; Node exposes none publicly for a net.Socket, only as `_handle.fd`.
// test/egress/fd.test.ts checks, on the Node that runs the tests, that this still returns the
// descriptor of the very socket (by its inode in /proc): a Node that moves the field fails that
// test loudly, and here the tunnel is refused (500), never mishandled.

import type { Duplex } from 'node:stream';

/** The socket's file descriptor, or undefined when Node does not say. */
export function socketFd(socket: Duplex): number | undefined {
  const fd = (socket as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

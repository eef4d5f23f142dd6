// Relaying the bytes of a tunnel: one direction with backpressure and half-close (forward), and
// the origin side's reads into reused buffers (ReadBuffers, relayRead).

import type { Duplex, Writable } from 'node:stream';

/**
 * One direction of a tunnel: what pipe() does for two sockets, with backpressure (a full writer
 * pauses the reader until it drains) and half-close (an end is passed on; the other direction
 * goes on), minus the bookkeeping pipe() carries for streams in general. Tunnels are opened by
 * the thousand per second and most live for one request, so their set-up cost counts.
 */
export function forward(from: Duplex, to: Duplex): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
  // The front door paused the client while the connection was admitted.
  from.resume();
}

/**
 * The buffer the next read from an origin goes into. One JavaScript thread reads one socket at a
 * time, and what is read is written on to the client in the same callback, so one buffer serves
 * every tunnel: a write that completes at once keeps no reference to it (Node sets the write's
 * buffer only for a write that went asynchronous). A write that had to queue does keep it, so the
 * buffer is then lent to that write and the next read gets a fresh one. Memory grows only with
 * tunnels whose clients are slower than their origins, which backpressure bounds (a full client
 * pauses its origin).
 */
export class ReadBuffers {
  private current: Buffer;

  constructor(private readonly size: number) {
    this.current = Buffer.allocUnsafe(size);
  }

  next(): Buffer {
    return this.current;
  }

  /** The current buffer now belongs to a pending write. */
  lend(): void {
    this.current = Buffer.allocUnsafe(this.size);
  }
}

/**
 * The onread callback for an origin socket: writes what was read on to the client and says
 * whether to read more (false pauses the origin until the client drains). A write that could
 * not go out at once still holds `buf`, so the buffer is lent to it.
 */
export function relayRead(to: Writable, reads: ReadBuffers, n: number, buf: Uint8Array): boolean {
  const more = to.write(buf.subarray(0, n));
  if (to.writableLength > 0) reads.lend();
  return more;
}

/**
 * The origin-to-client direction of a tunnel whose origin socket reads through relayRead (its
 * onread callback): what forward() does for the other direction, the reads aside. A client that
 * was full paused the origin; its drain resumes it, and the origin's end is passed on.
 */
export function forwardReads(from: Duplex, to: Duplex): void {
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

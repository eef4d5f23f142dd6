// The origin side's reads of plain exchanges, into reused buffers (ReadBuffers, relayRead).
// Tunnels do not come through here: the native relay (relay.c) moves their bytes.

import type { Writable } from 'node:stream';

/**
 * The buffer the next read from an origin goes into. One JavaScript thread reads one socket at a
 * time, and what is read is written on to the client in the same callback, so one buffer serves
 * every exchange: a write that completes at once keeps no reference to it (Node sets the write's
 * buffer only for a write that went asynchronous). A write that had to queue does keep it, so the
 * buffer is then lent to that write and the next read gets a fresh one. Memory grows only with
 * exchanges whose clients are slower than their origins, which backpressure bounds (a full client
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

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

  // Never from Node's shared pool: `lend` tells the read buffer by the memory it owns alone.
  constructor(private readonly size: number) {
    this.current = Buffer.allocUnsafeSlow(size);
  }

  next(): Buffer {
    return this.current;
  }

  /**
   * A pending write holds `buf`: when it is (part of) the current buffer, that buffer now
   * belongs to the write. A copy (the head path copies what it keeps) takes nothing from here:
   * lending then would allocate a read buffer per exchange, and the external memory it adds up
   * to drives the garbage collector into a full collection every few dozen milliseconds.
   */
  lend(buf: Uint8Array): void {
    if (buf.buffer === this.current.buffer) this.current = Buffer.allocUnsafeSlow(this.size);
  }
}

/**
 * The onread callback for an origin socket: writes what was read on to the client and says
 * whether to read more (false pauses the origin until the client drains). A write that could
 * not go out at once still holds `buf`, so the buffer is lent to it.
 */
export function relayRead(to: Writable, reads: ReadBuffers, n: number, buf: Uint8Array): boolean {
  const more = to.write(buf.subarray(0, n));
  if (to.writableLength > 0) reads.lend(buf);
  return more;
}

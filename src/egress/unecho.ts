// The injected credential's echo in a response body, masked: an origin that reflects what it got
// (a debugging endpoint, an error quoting the request) must not hand the agent the key it never
// held. Same length, so Content-Length holds.

import { Transform, type TransformCallback } from 'node:stream';

/**
 * Masks a value in a stream (same length, so Content-Length holds), across chunk boundaries.
 * Chunks are masked in place and passed on as views: the response's reads are the proxy's own,
 * and joining what was held to every read put 16 KB of fresh memory per read in the heap (the
 * same collections the request side had, bench/egress/inspect.ts). Only the last bytes of a
 * read, fewer than the value's length, are copied and held, since a match may begin there.
 */
export class Unecho extends Transform {
  private held = Buffer.alloc(0);
  private readonly needle: Buffer;
  private readonly masked: Buffer;

  constructor(value: string) {
    super();
    this.needle = Buffer.from(value, 'utf8');
    this.masked = Buffer.alloc(this.needle.length, '*');
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    const keep = this.needle.length - 1;
    if (this.held.length > 0) {
      // A match that begins in what was held ends in this chunk's first bytes: joined, masked,
      // and the chunk's part of it written back (below, unless the chunk is all in the join).
      const edge = Buffer.concat([this.held, chunk.subarray(0, keep)]);
      for (
        let at = edge.indexOf(this.needle);
        at >= 0 && at < this.held.length;
        at = edge.indexOf(this.needle, at + 1)
      )
        this.masked.copy(edge, at);
      if (chunk.length < keep) {
        // Still too short to release anything a later match could not reach.
        const release = Math.max(0, edge.length - keep);
        if (release > 0) this.push(edge.subarray(0, release));
        this.held = Buffer.from(edge.subarray(release));
        return done();
      }
      edge.copy(chunk, 0, this.held.length);
      this.push(edge.subarray(0, this.held.length));
    }
    for (let at = chunk.indexOf(this.needle); at >= 0; at = chunk.indexOf(this.needle, at + 1))
      this.masked.copy(chunk, at);
    const tail = Math.min(chunk.length, keep);
    this.held = Buffer.from(chunk.subarray(chunk.length - tail));
    if (chunk.length > tail) this.push(chunk.subarray(0, chunk.length - tail));
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.held.length > 0) this.push(this.held);
    done();
  }
}

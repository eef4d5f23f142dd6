// Streaming redaction of a byte stream of any length, with bounded memory.
//
// Bytes are handled as latin1 (one character per byte), so binary data and invalid UTF-8 pass
// through unchanged: nothing is dropped or rewritten except a secret. Output is released a line
// at a time; what is held back is the unfinished last line and any private-key block still open
// at the end of the buffer, never more than MAX_HOLD bytes, so a secret split across chunks is
// still found and memory stays flat however long the stream. Bytes without secrets are passed on
// as slices of the buffers they arrived in, never re-encoded.
//
// ChunkRedactor is the logic (push bytes in, get bytes out); RedactStream wraps it as a Transform.

import { Transform, type TransformCallback } from 'node:stream';
import { replacementFor, type Redactor, type SecretMatch } from './engine.js';

/** Longest span a rule can match (a private key body of 32768 units, JSON-escaped), with headroom. */
export const MAX_HOLD = 150_000;
const NEWLINE = 0x0a;

/**
 * Blocks that span lines: while one is open (its opener seen, its closer not yet), output is held
 * from the opener, so a key that arrives a line (or a byte) at a time is redacted whole.
 */
const BLOCKS: readonly { open: Buffer; isOpener: RegExp; close: Buffer }[] = [
  {
    open: Buffer.from('-----BEGIN'),
    isOpener: /^-----BEGIN (?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY/,
    close: Buffer.from('-----END'),
  },
  { open: Buffer.from('Private-Lines:'), isOpener: /^Private-Lines:/, close: Buffer.from('Private-MAC:') },
];

export interface RedactStreamStats {
  bytesIn: number;
  bytesOut: number;
  secrets: number;
  /** Most bytes held back at once (the memory bound in practice). */
  maxHeld: number;
}

/**
 * Held pieces past this are joined into one: a client trickling a long line a byte at a time
 * costs a copy every this many pieces, not a Buffer object per byte.
 */
const MAX_PIECES = 64;

/** A scratch buffer grown past this is let go after the scan that needed it. */
const KEEP_SCRATCH = 4 << 20;

export class ChunkRedactor {
  /**
   * What is held, as views of the chunks it arrived in (never copies): what is released is cut
   * from them too. Joining them into a new buffer per chunk put 16 KB of fresh, in-flight memory
   * per read into the egress proxy's heap, and its major collections cost more than the scan
   * (bench/egress/inspect.ts).
   */
  private pieces: Buffer[] = [];
  private held = 0;
  /** Where held pieces are joined for a scan; reused, and never released (nothing is cut from it). */
  private scratch: Buffer | undefined;
  /** Input bytes before what is held (a match's offset in the whole stream is this plus its own). */
  private consumed = 0;
  readonly stats: RedactStreamStats = { bytesIn: 0, bytesOut: 0, secrets: 0, maxHeld: 0 };

  /**
   * `rewrite` false: matches are reported and the bytes released unchanged, on the same
   * schedule (the egress proxy's outbound inspection forwards only what was cleared, and
   * decides itself what a match means). What is released are views of the pushed chunks: a
   * caller must not reuse a chunk's memory once pushed.
   */
  constructor(
    private readonly redactor: Redactor,
    private readonly onMatch?: (m: SecretMatch, offset: number) => void,
    private readonly rewrite = true,
  ) {}

  /** Takes the next bytes; returns what can be released now (possibly nothing). */
  push(chunk: Buffer): Buffer[] {
    this.stats.bytesIn += chunk.length;
    if (chunk.length === 0) return [];
    this.pieces.push(chunk);
    this.held += chunk.length;
    if (this.pieces.length > MAX_PIECES) this.pieces = [Buffer.concat(this.pieces, this.held)];
    // A long line without a newline is processed in large steps, so the held tail is rescanned rarely.
    if (chunk.indexOf(NEWLINE) < 0 && this.held < 2 * MAX_HOLD) return [];
    return this.process(false);
  }

  /** The end of the stream: releases everything held. */
  end(): Buffer[] {
    return this.process(true);
  }

  private process(final: boolean): Buffer[] {
    const out: Buffer[] = [];
    if (this.held === 0) return out;
    const p = this.joined();
    const text = p.toString('latin1');
    const matches = this.redactor.find(text, 0, text.length, p);
    let hold = p.length;
    if (!final) {
      hold = p.lastIndexOf(NEWLINE) + 1;
      if (p.length - hold > MAX_HOLD) hold = p.length - MAX_HOLD;
      // Only an opener in the last MAX_HOLD bytes can still be open; search just that window.
      const window = Math.max(0, p.length - MAX_HOLD);
      for (const b of BLOCKS) {
        let at = -1;
        for (let i = p.indexOf(b.open, window); i >= 0; i = p.indexOf(b.open, i + 1)) at = i;
        if (at >= 0 && b.isOpener.test(text.slice(at, at + 80)) && p.indexOf(b.close, at) < 0)
          hold = Math.min(hold, at);
      }
    }
    let emitEnd = hold;
    let at = 0;
    for (const m of matches) {
      if (m.start >= hold) break;
      this.onMatch?.(m, this.consumed + m.start);
      this.stats.secrets++;
      if (this.rewrite) {
        this.cut(at, m.start, out);
        out.push(Buffer.from(replacementFor(m), 'latin1'));
        at = m.end;
      }
      emitEnd = Math.max(emitEnd, m.end);
    }
    this.cut(at, emitEnd, out);
    this.drop(emitEnd);
    if (this.scratch && this.scratch.length > KEEP_SCRATCH) this.scratch = undefined;
    for (const b of out) this.stats.bytesOut += b.length;
    this.stats.maxHeld = Math.max(this.stats.maxHeld, this.held);
    return out;
  }

  /** The held bytes as one buffer: the only piece, or the pieces copied into the scratch. */
  private joined(): Buffer {
    if (this.pieces.length === 1) return this.pieces[0]!;
    if (!this.scratch || this.scratch.length < this.held)
      this.scratch = Buffer.allocUnsafeSlow(Math.max(this.held, 2 * (this.scratch?.length ?? 16 * 1024)));
    let at = 0;
    for (const piece of this.pieces) at += piece.copy(this.scratch, at);
    return this.scratch.subarray(0, this.held);
  }

  /** Appends the held bytes [from, to) to `out`, as views of the pieces they are in. */
  private cut(from: number, to: number, out: Buffer[]): void {
    if (to <= from) return;
    let base = 0;
    for (const piece of this.pieces) {
      if (base >= to) break;
      const end = base + piece.length;
      if (end > from) out.push(piece.subarray(Math.max(0, from - base), Math.min(piece.length, to - base)));
      base = end;
    }
  }

  /** Lets go of the first `n` held bytes. */
  private drop(n: number): void {
    this.consumed += n;
    this.held -= n;
    let i = 0;
    while (i < this.pieces.length && n >= this.pieces[i]!.length) n -= this.pieces[i++]!.length;
    this.pieces = this.pieces.slice(i);
    if (n > 0) this.pieces[0] = this.pieces[0]!.subarray(n);
  }
}

export class RedactStream extends Transform {
  private readonly core: ChunkRedactor;

  constructor(redactor: Redactor, onMatch?: (m: SecretMatch) => void) {
    super();
    this.core = new ChunkRedactor(redactor, onMatch);
  }

  get stats(): RedactStreamStats {
    return this.core.stats;
  }

  override _transform(chunk: Buffer | string, _enc: BufferEncoding, done: TransformCallback): void {
    for (const b of this.core.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk))
      this.push(b);
    done();
  }

  override _flush(done: TransformCallback): void {
    for (const b of this.core.end()) this.push(b);
    done();
  }
}

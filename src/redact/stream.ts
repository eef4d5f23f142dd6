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

export class ChunkRedactor {
  private pending: Buffer = Buffer.alloc(0);
  /** Input bytes before `pending` (a match's offset in the whole stream is this plus its own). */
  private consumed = 0;
  readonly stats: RedactStreamStats = { bytesIn: 0, bytesOut: 0, secrets: 0, maxHeld: 0 };

  /**
   * `rewrite` false: matches are reported and the bytes released unchanged, on the same
   * schedule (the egress proxy's outbound inspection forwards only what was cleared, and
   * decides itself what a match means).
   */
  constructor(
    private readonly redactor: Redactor,
    private readonly onMatch?: (m: SecretMatch, offset: number) => void,
    private readonly rewrite = true,
  ) {}

  /** Takes the next bytes; returns what can be released now (possibly nothing). */
  push(chunk: Buffer): Buffer[] {
    this.stats.bytesIn += chunk.length;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    // A long line without a newline is processed in large steps, so the held tail is rescanned rarely.
    if (chunk.indexOf(NEWLINE) < 0 && this.pending.length < 2 * MAX_HOLD) return [];
    return this.process(false);
  }

  /** The end of the stream: releases everything held. */
  end(): Buffer[] {
    return this.process(true);
  }

  private process(final: boolean): Buffer[] {
    const p = this.pending;
    const out: Buffer[] = [];
    if (p.length === 0) return out;
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
    const emit = (b: Buffer): void => {
      if (b.length === 0) return;
      this.stats.bytesOut += b.length;
      out.push(b);
    };
    for (const m of matches) {
      if (m.start >= hold) break;
      this.onMatch?.(m, this.consumed + m.start);
      this.stats.secrets++;
      if (this.rewrite) {
        emit(p.subarray(at, m.start));
        emit(Buffer.from(replacementFor(m), 'latin1'));
        at = m.end;
      }
      emitEnd = Math.max(emitEnd, m.end);
    }
    emit(p.subarray(at, emitEnd));
    this.pending = p.subarray(emitEnd);
    this.consumed += emitEnd;
    this.stats.maxHeld = Math.max(this.stats.maxHeld, this.pending.length);
    return out;
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

// Plain HTTP requests the front door took (a GET or HEAD, see front.ts): the exchange of one
// request with an origin, and the kept-alive origin connections those exchanges share.
//
// The response head is read strictly and rewritten for the client (http1.clientResponseHead);
// the body is passed on as it comes, while BodyScanner follows its framing to find its end. The
// client's side is the native relay's (ClientEnd): it writes what it can at once and copies
// the rest, so every origin read lands in one reused buffer. A connection whose response ended
// exactly where its framing said goes back to the pool of the run it served, keyed by the
// address that was checked: it never carries another run's request, and a response the proxy
// could not follow to its end (closed early, chunked framing it did not expect, bytes past the
// end) is never followed by another.

import type { Socket } from 'node:net';
import { BodyScanner, clientResponseHead, errorResponse } from './http1.js';
import type { Timeouts } from './timeouts.js';

/** The client's connection, which the native relay holds: the answer goes out through it. */
export interface ClientEnd {
  /** Writes bytes (nothing of them is kept); false: wait for `drained` before writing more. */
  send(bytes: Buffer): boolean;
  /** Writes the last bytes; the connection then closes once the client has closed its side. */
  end(last?: Buffer): void;
  /** Cuts the connection at once. */
  destroy(): void;
  /** Ended, cut, or gone: writes do nothing. */
  readonly closed: boolean;
}

/** A connection to an origin, whichever exchange it serves at the moment. */
export interface OriginConn {
  readonly socket: Socket;
  /** Every read from the origin (the socket's onread callback calls this). */
  onread: (n: number, buf: Uint8Array) => boolean;
  /** The origin ended or failed, or the socket closed; may be called more than once. */
  onend: () => void;
  /** Exchanges it has served. */
  uses: number;
}

/** Idle kept-alive connections, by run, checked address and port. */
export class OriginPool {
  private readonly idle = new Map<string, OriginConn[]>();

  constructor(
    private readonly timeouts: Timeouts,
    private readonly perKey: number,
    private readonly idleMs: number,
  ) {}

  static key(run: string, address: string, port: number): string {
    return `${run}\0${address}\0${port}`;
  }

  take(key: string): OriginConn | undefined {
    const list = this.idle.get(key);
    const c = list?.pop();
    if (list?.length === 0) this.idle.delete(key);
    if (c) this.timeouts.clear(c.socket);
    return c;
  }

  put(key: string, c: OriginConn): void {
    const list = this.idle.get(key) ?? [];
    if (c.socket.destroyed || list.length >= this.perKey) return void c.socket.destroy();
    // An idle connection has nothing to say: anything it sends, or its end, closes it.
    c.onread = () => {
      c.socket.destroy();
      return false;
    };
    c.onend = () => {
      const i = list.indexOf(c);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0 && this.idle.get(key) === list) this.idle.delete(key);
      c.socket.destroy();
    };
    list.push(c);
    this.idle.set(key, list);
    this.timeouts.after(c.socket, this.idleMs);
    c.socket.resume();
  }

  /** Closes the idle connections of one run, or of every run. */
  close(run?: string): void {
    for (const [key, list] of this.idle)
      if (run === undefined || key.startsWith(`${run}\0`)) {
        this.idle.delete(key);
        for (const c of list.splice(0)) c.socket.destroy();
      }
  }
}

const HEAD_END = Buffer.from('\r\n\r\n');

export type ExchangeEnd =
  /** The whole response went to the client; `reusable`: the connection can serve another. */
  | { readonly ok: true; readonly reusable: boolean }
  /**
   * It failed: `stale` when a reused connection ended before a single byte of an answer,
   * `byClient` when the client went away (which is the client's business, not an error).
   */
  | { readonly ok: false; readonly reason: string; readonly stale: boolean; readonly byClient: boolean };

/**
 * One request and its response. `done` is called exactly once, when the response has gone to
 * the client, or when either side failed; the exchange then no longer touches `conn`.
 */
export class PlainExchange {
  /** Bytes of the response body passed on. */
  bodyBytes = 0;
  private pending: Buffer | undefined;
  /** Response heads not yet written: they go out with the first body bytes, in one write. */
  private heads: Buffer[] = [];
  private body: BodyScanner | undefined;
  private reusable = false;
  private ended = false;

  constructor(
    private readonly client: ClientEnd,
    private readonly conn: OriginConn,
    private readonly method: string,
    private readonly maxHeaderBytes: number,
    private readonly done: (end: ExchangeEnd) => void,
  ) {
    conn.onread = (n, buf) => this.read(n, buf);
    conn.onend = () => this.originEnded();
  }

  /** The client went away (or was cut): the connection is not reused. */
  abort(): void {
    if (this.ended) return;
    this.conn.socket.destroy();
    this.end({ ok: false, reason: 'the client closed the connection', stale: false, byClient: true });
  }

  /** The client's socket drained: the origin may send again. */
  drained(): void {
    if (!this.ended) this.conn.socket.resume();
  }

  private read(n: number, buf: Uint8Array): boolean {
    if (this.ended) return false;
    if (this.body) return this.relay(buf, 0, n);
    return this.readHead(buf, n);
  }

  private readHead(buf: Uint8Array, n: number): boolean {
    // The read buffer is reused: what is kept of it is copied.
    const chunk = Buffer.from(buf.subarray(0, n));
    let data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      const end = data.indexOf(HEAD_END);
      if (end > this.maxHeaderBytes || (end < 0 && data.length > this.maxHeaderBytes))
        return this.fail('the response head is too large');
      if (end < 0) {
        this.pending = data;
        return true;
      }
      const head = clientResponseHead(data.toString('latin1', 0, end), this.method);
      if (!head) return this.fail('the response head is malformed');
      if (head.status === 101) return this.fail('the origin switched protocols unasked');
      data = data.subarray(end + HEAD_END.length);
      this.heads.push(Buffer.from(head.head, 'latin1'));
      if (head.status >= 200) {
        this.pending = undefined;
        this.body = new BodyScanner(head.framing);
        this.reusable = head.reusable;
        break;
      }
    }
    return this.relay(data, 0, data.length);
  }

  /** Passes body bytes on; finishes once the framing says the body is over. */
  private relay(buf: Uint8Array, from: number, to: number): boolean {
    const body = this.body!;
    const end = body.scan(buf, from, to);
    if (body.bad) return this.fail('the chunked framing is malformed');
    this.bodyBytes += end - from;
    let out = Buffer.from(buf.buffer, buf.byteOffset + from, end - from);
    if (this.heads.length > 0) {
      out = Buffer.concat([...this.heads, out]);
      this.heads = [];
    }
    if (body.done) return this.finish(this.reusable && end === to, out);
    return out.length > 0 ? this.client.send(out) : true;
  }

  private originEnded(): void {
    if (this.ended) return;
    if (this.body?.untilClose) return void this.finish(false);
    // Stopped before the end its framing announced: fail() cuts the client off, so that it
    // cannot take a truncated body for a whole one.
    if (this.body) return void this.fail('the origin closed in the middle of the body');
    if (this.pending) return void this.fail('the origin closed in the middle of its head');
    this.fail('the origin closed without an answer', this.conn.uses > 0);
  }

  /**
   * The response is complete with `last`: the client's connection ends after it. True: a
   * connection kept for another exchange reads on (an idle one notices the origin closing it).
   */
  private finish(reusable: boolean, last?: Buffer): true {
    this.client.end(last);
    if (!reusable) this.conn.socket.destroy();
    this.end({ ok: true, reusable });
    return true;
  }

  /** A 502 while the client has no final head yet; after that the client's connection is cut. */
  private fail(why: string, stale = false): false {
    this.conn.socket.destroy();
    // A stale kept-alive connection is retried on a fresh one: the client hears nothing yet.
    if (!stale) {
      if (this.body) this.client.destroy();
      else if (!this.client.closed) this.client.end(Buffer.from(errorResponse(502, `bad gateway: ${why}`)));
    }
    this.end({ ok: false, reason: why, stale, byClient: false });
    return false;
  }

  private end(e: ExchangeEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.done(e);
  }
}

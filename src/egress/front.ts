// The proxy's front door: the parser for CONNECT heads the native relay reads (parseConnect), and
// for connections that are not a CONNECT, which the relay hands to Node: reads the first request
// itself and, when it is a plain GET or HEAD in the simple form most plain-HTTP clients send,
// parses it here and hands over the socket. Anything else goes to node:http, byte for byte as it
// arrived.
//
// Why: for a plain GET, node:http's server and client halves cost more than everything else the
// proxy does together. The parsing is deliberately strict:
// one request line, `name: value` header lines of token characters and visible values, no
// folding, no duplicate Proxy-Authorization, bounded size and time. A CONNECT this parser does
// not accept is refused, never guessed at. A GET or HEAD it does not take (a body, HTTP/1.0, an
// Upgrade, anything unusual) goes to node:http, whose parser decides.

import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { errorResponse, parseHeaderLines, type HeaderList } from './http1.js';
import type { Timeouts } from './timeouts.js';

export interface ConnectRequest {
  /** The request target (host:port), as written. */
  readonly target: string;
  readonly proxyAuthorization: string | undefined;
}

/** A GET or HEAD with an absolute http:// URI, HTTP/1.1 and no body. */
export interface PlainRequest {
  readonly method: 'GET' | 'HEAD';
  /** The absolute URI, as written. */
  readonly uri: string;
  /** Every header line but Proxy-Authorization, in order, names as written. */
  readonly headers: HeaderList;
  readonly proxyAuthorization: string | undefined;
}

export interface FrontOptions {
  readonly maxHeaderBytes: number;
  readonly headersTimeoutMs: number;
  readonly timeouts: Timeouts;
  /** A plain request the front door took; the socket is paused and carries this one request. */
  readonly onPlain: (req: PlainRequest, socket: Socket) => void;
  /** Everything else. */
  readonly http: HttpServer;
}

const END = Buffer.from('\r\n\r\n');
const REQUEST_LINE = /^(CONNECT|GET|HEAD) ([\x21-\x7e]{1,8192}) HTTP\/1\.([01])$/;
/** Headers that make a GET or HEAD something the front door leaves to node:http. */
const NOT_PLAIN = new Set(['content-length', 'transfer-encoding', 'upgrade', 'expect']);

function refuse(socket: Socket, status: number, message: string): void {
  socket.end(errorResponse(status, message));
}

interface Head {
  readonly method: 'CONNECT' | 'GET' | 'HEAD';
  readonly target: string;
  readonly minor: string;
  readonly headers: [string, string][];
  readonly proxyAuthorization: string | undefined;
}

/** Parses a request header block (without the final CRLF CRLF); undefined when malformed. */
function parseHead(block: string): Head | undefined {
  const lines = block.split('\r\n');
  const m = REQUEST_LINE.exec(lines[0]!);
  if (!m) return undefined;
  const all = parseHeaderLines(lines, 1);
  if (!all) return undefined;
  let auth: string | undefined;
  const headers: [string, string][] = [];
  for (const h of all) {
    if (h[0].length === 19 && h[0].toLowerCase() === 'proxy-authorization') {
      if (auth !== undefined) return undefined;
      auth = h[1];
    } else headers.push(h);
  }
  return { method: m[1] as Head['method'], target: m[2]!, minor: m[3]!, headers, proxyAuthorization: auth };
}

/** Parses a CONNECT header block (without the final CRLF CRLF); undefined when malformed. */
export function parseConnect(block: string): ConnectRequest | undefined {
  const h = parseHead(block);
  if (!h || h.method !== 'CONNECT' || h.target.length > 1024) return undefined;
  return { target: h.target, proxyAuthorization: h.proxyAuthorization };
}

/**
 * A GET or HEAD header block the front door takes itself, or undefined to leave it to node:http:
 * HTTP/1.1, an absolute http:// URI, and no header that brings a body or a protocol change.
 */
export function parsePlain(block: string): PlainRequest | undefined {
  const h = parseHead(block);
  if (!h || h.method === 'CONNECT' || h.minor !== '1' || !/^http:\/\/[^#]*$/.test(h.target)) return undefined;
  for (const [name] of h.headers) if (NOT_PLAIN.has(name.toLowerCase())) return undefined;
  return { method: h.method, uri: h.target, headers: h.headers, proxyAuthorization: h.proxyAuthorization };
}

const PREFIXES = [
  [Buffer.from('GET '), 'plain'],
  [Buffer.from('HEAD '), 'plain'],
] as const;

/** Which request the first bytes begin; 'unknown' while they are a prefix of a method. */
function kind(buf: Buffer): 'plain' | 'other' | 'unknown' {
  for (const [word, k] of PREFIXES) {
    const n = Math.min(buf.length, word.length);
    let i = 0;
    while (i < n && buf[i] === word[i]) i++;
    if (i === n) return n === word.length ? k : 'unknown';
  }
  return 'other';
}

/** Handles one accepted connection; `first` is what was read from it before (by the relay). */
export function acceptConnection(socket: Socket, opts: FrontOptions, first?: Buffer): void {
  let buf: Buffer | undefined;
  /** Stops reading here: the head is someone's, or the connection is answered. */
  const decide = (): void => {
    opts.timeouts.clear(socket);
    socket.off('data', onData);
  };
  opts.timeouts.after(socket, opts.headersTimeoutMs, () => {
    decide();
    if (socket.writable)
      refuse(socket, 408, `the request head did not arrive within ${opts.headersTimeoutMs} ms`);
    socket.destroy();
  });
  const handOff = (): void => {
    decide();
    socket.pause();
    if (buf) socket.unshift(buf);
    opts.http.emit('connection', socket);
    process.nextTick(() => socket.resume());
  };
  const tooLarge = (): void => {
    decide();
    refuse(socket, 431, `the request head is larger than ${opts.maxHeaderBytes} bytes`);
  };
  const onData = (chunk: Buffer): void => {
    buf = buf ? Buffer.concat([buf, chunk]) : chunk;
    const k = kind(buf);
    if (k === 'other') return handOff();
    const end = k === 'unknown' ? -1 : buf.indexOf(END);
    if (end < 0) return void (buf.length > opts.maxHeaderBytes && tooLarge());
    if (end > opts.maxHeaderBytes) return tooLarge();
    // Only a request that is alone so far: bytes after it would be a pipelined request, which
    // node:http answers in turn (this path answers one request per connection).
    const req = end + END.length === buf.length ? parsePlain(buf.toString('latin1', 0, end)) : undefined;
    if (!req) return handOff();
    decide();
    socket.pause();
    opts.onPlain(req, socket);
  };
  socket.on('error', () => socket.destroy());
  socket.on('data', onData);
  if (first && first.length > 0) onData(first);
}

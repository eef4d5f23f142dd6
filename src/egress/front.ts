// The proxy's front door: the strict parser for the heads the native relay reads (a CONNECT, a
// GET, a HEAD), and the way to node:http for every connection the proxy does not answer itself.
// A plain GET or HEAD in the simple form most plain-HTTP clients send is parsed here and
// answered through the relay (plain.ts); anything else goes to node:http, byte for byte as it
// arrived.
//
// Why: for a plain GET, node:http's server and client halves cost more than everything else the
// proxy does together. The parsing is deliberately strict:
// one request line, `name: value` header lines of token characters and visible values, no
// folding, no duplicate Proxy-Authorization; the relay bounds size and time. A CONNECT this
// parser does not accept is refused, never guessed at. A GET or HEAD it does not take (a body,
// HTTP/1.0, an Upgrade, anything unusual) goes to node:http, whose parser decides.

import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { parseHeaderLines, type HeaderList } from './http1.js';

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

const REQUEST_LINE = /^(CONNECT|GET|HEAD) ([\x21-\x7e]{1,8192}) HTTP\/1\.([01])$/;
/** An authority-form target (RFC 9112, 3.2.3): host characters, brackets for IPv6, a port. */
const AUTHORITY = /^[A-Za-z0-9._~!$&'()*+,;=%:@[\]-]+$/;
/** Headers that announce a body. */
const BODY = new Set(['content-length', 'transfer-encoding']);
/** Headers that make a GET or HEAD something the front door leaves to node:http. */
const NOT_PLAIN = new Set(['content-length', 'transfer-encoding', 'upgrade', 'expect']);

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
  if (!h || h.method !== 'CONNECT' || h.target.length > 1024 || !AUTHORITY.test(h.target)) return undefined;
  // llhttp refuses a second "@" in an authority ("double @ in url"); so does the front door, so
  // that no head means one thing here and another to node:http.
  if (h.target.indexOf('@') !== h.target.lastIndexOf('@')) return undefined;
  // A CONNECT has no content (RFC 9110, 9.3.6): one that claims a body is refused, not tunnelled,
  // so no parser downstream can read its first tunnel bytes as something else.
  for (const [name] of h.headers) if (BODY.has(name.toLowerCase())) return undefined;
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

/**
 * Gives node:http a connection the relay read the first bytes of, byte for byte as it arrived:
 * those bytes are put back before node:http's parser reads.
 */
export function toHttp(socket: Socket, http: HttpServer, bytes: Buffer): void {
  socket.pause();
  if (bytes.length > 0) socket.unshift(bytes);
  http.emit('connection', socket);
  process.nextTick(() => socket.resume());
}

// The proxy's front door: reads the first request on each connection itself and, when it is a
// CONNECT (nearly all agent traffic is HTTPS), parses it here and hands over the socket. Anything
// else goes to node:http, byte for byte as it arrived.
//
// Why: a CONNECT is one request line and a few headers with no body, and running it through
// node:http (a parser, an IncomingMessage, a ServerResponse, the 'connect' event) costs about a
// third of what a whole tunnel costs here. The parsing is deliberately strict: one request line,
// `name: value` header lines of token characters, no folding, no duplicate Proxy-Authorization,
// bounded size and time. Anything this parser does not accept is refused, never guessed at.

import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectRequest {
  /** The request target (host:port), as written. */
  readonly target: string;
  readonly proxyAuthorization: string | undefined;
}

export interface FrontOptions {
  readonly maxHeaderBytes: number;
  readonly headersTimeoutMs: number;
  /** A parsed CONNECT; `head` is whatever the client sent after the request. */
  readonly onConnect: (req: ConnectRequest, socket: Socket, head: Buffer) => void;
  /** Everything that is not a CONNECT. */
  readonly http: HttpServer;
}

const CONNECT = Buffer.from('CONNECT ');
const END = Buffer.from('\r\n\r\n');
const REQUEST_LINE = /^CONNECT ([^\s]{1,1024}) HTTP\/1\.[01]$/;
const HEADER = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*?)[ \t]*$/;

function refuse(socket: Socket, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}

/** Parses a CONNECT header block (without the final CRLF CRLF); undefined when malformed. */
export function parseConnect(block: string): ConnectRequest | undefined {
  const lines = block.split('\r\n');
  const m = REQUEST_LINE.exec(lines[0]!);
  if (!m) return undefined;
  let auth: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const h = HEADER.exec(lines[i]!);
    if (!h) return undefined; // folding, bare LF, a header without a colon, bad name characters
    if (h[1]!.length === 19 && h[1]!.toLowerCase() === 'proxy-authorization') {
      if (auth !== undefined) return undefined;
      auth = h[2]!;
    }
  }
  return { target: m[1]!, proxyAuthorization: auth };
}

/** Handles one accepted connection. */
export function acceptConnection(socket: Socket, opts: FrontOptions): void {
  let buf: Buffer | undefined;
  const timer = setTimeout(() => {
    socket.off('data', onData);
    if (socket.writable) refuse(socket, 408, 'Request Timeout');
    socket.destroy();
  }, opts.headersTimeoutMs);
  const handOff = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.pause();
    if (buf) socket.unshift(buf);
    opts.http.emit('connection', socket);
    process.nextTick(() => socket.resume());
  };
  const onData = (chunk: Buffer): void => {
    buf = buf ? Buffer.concat([buf, chunk]) : chunk;
    const n = Math.min(buf.length, CONNECT.length);
    if (buf.compare(CONNECT, 0, n, 0, n) !== 0) return handOff();
    const end = buf.indexOf(END);
    if (end < 0) {
      if (buf.length > opts.maxHeaderBytes) {
        clearTimeout(timer);
        socket.off('data', onData);
        refuse(socket, 431, 'Request Header Fields Too Large');
      }
      return;
    }
    clearTimeout(timer);
    socket.off('data', onData);
    if (end > opts.maxHeaderBytes) return refuse(socket, 431, 'Request Header Fields Too Large');
    const req = parseConnect(buf.toString('latin1', 0, end));
    if (!req) return refuse(socket, 400, 'Bad Request');
    socket.pause();
    opts.onConnect(req, socket, buf.subarray(end + END.length));
  };
  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
}

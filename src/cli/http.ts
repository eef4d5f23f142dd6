// The CLI's HTTP/1.1 client for its own control plane over plain HTTP: one kept-alive connection,
// requests one at a time, bodies framed by Content-Length or chunked (what fastify sends).
// node:http would cost every command about 3 ms to load and start, on top of the `net` module
// it is built on, which `rampart run` needs anyway; a control plane served over HTTPS is spoken
// to with node:https instead (see client.ts).

import { connect, type Socket } from 'node:net';

export interface RawResponse {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** The connection failed or the answer could not be read; `code` is the errno when there is one. */
export class HttpClientError extends Error {
  override readonly name = 'HttpClientError';
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

const MAX_HEAD = 64 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

export class HttpConnection {
  private socket: Socket | undefined;
  /** The request in flight (requests wait for the one before them). */
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  /**
   * Sends a request. `sent` settles once the request has been handed to the kernel (or has
   * failed, which `response` then reports).
   */
  request(
    method: string,
    path: string,
    headers: Readonly<Record<string, string>>,
    body: Buffer | undefined,
  ): { sent: Promise<void>; response: Promise<RawResponse> } {
    let markSent!: () => void;
    const sent = new Promise<void>((resolve) => (markSent = resolve));
    const response = this.last.then(
      () => this.exchange(method, path, headers, body, markSent),
      () => this.exchange(method, path, headers, body, markSent),
    );
    this.last = response.catch(() => undefined);
    response.catch(() => markSent());
    return { sent, response };
  }

  /** Closes the kept-alive connection (the process can exit without waiting for it). */
  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private exchange(
    method: string,
    path: string,
    headers: Readonly<Record<string, string>>,
    body: Buffer | undefined,
    onSent: () => void,
  ): Promise<RawResponse> {
    if (!/^[A-Z]+$/.test(method) || /[\s\0]/.test(path)) throw new TypeError('invalid HTTP method or path');
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\nconnection: keep-alive\r\n`;
    for (const [k, v] of Object.entries(headers)) {
      if (/[\r\n]/.test(k + v)) throw new TypeError(`header ${k} contains a line break`);
      head += `${k}: ${v}\r\n`;
    }
    head += `content-length: ${body?.length ?? 0}\r\n\r\n`;
    const socket = this.connection();
    socket.ref();
    return new Promise<RawResponse>((resolve, reject) => {
      const reader = new ResponseReader();
      const cleanup = (): void => {
        socket.off('data', onData);
        socket.off('error', onError);
        socket.off('end', onEnd);
      };
      const fail = (e: HttpClientError): void => {
        cleanup();
        this.close();
        reject(e);
      };
      const onData = (chunk: Buffer): void => {
        let done: RawResponse | undefined;
        try {
          done = reader.push(chunk);
        } catch (e) {
          return fail(e as HttpClientError);
        }
        if (!done) return;
        cleanup();
        if ((done.headers['connection'] ?? '').toLowerCase() === 'close') this.close();
        // Idle until the next request: the kept-alive connection does not hold the process open.
        else socket.unref();
        resolve(done);
      };
      const onError = (e: NodeJS.ErrnoException): void =>
        fail(new HttpClientError(e.code ?? e.message, e.code));
      const onEnd = (): void => {
        const done = reader.end();
        if (done) {
          cleanup();
          this.close();
          resolve(done);
        } else fail(new HttpClientError('the connection closed before the answer was complete'));
      };
      socket.on('data', onData);
      socket.once('error', onError);
      socket.once('end', onEnd);
      socket.write(body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : head, 'latin1', () =>
        onSent(),
      );
    });
  }

  private connection(): Socket {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const s = connect({ host: this.host, port: this.port, noDelay: true });
    s.on('close', () => {
      if (this.socket === s) this.socket = undefined;
    });
    s.on('error', () => undefined);
    this.socket = s;
    return s;
  }
}

/** Reads one HTTP/1.1 response from the bytes given to it, in order. */
class ResponseReader {
  private buf: Buffer = Buffer.alloc(0);
  private status = 0;
  private headers: Record<string, string> | undefined;
  private length: number | undefined;
  private chunked = false;
  private readonly chunks: Buffer[] = [];

  /** The response once it is complete. */
  push(chunk: Buffer): RawResponse | undefined {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (!this.headers) {
        const end = this.buf.indexOf(CRLF2);
        if (end < 0) {
          if (this.buf.length > MAX_HEAD) throw new HttpClientError('response headers too large');
          return undefined;
        }
        this.readHead(this.buf.subarray(0, end).toString('latin1'));
        this.buf = this.buf.subarray(end + 4);
        // An interim 1xx answer is followed by the real one.
        if (this.status >= 100 && this.status < 200) {
          this.headers = undefined;
          continue;
        }
      }
      if (this.length !== undefined) {
        if (this.buf.length < this.length) return undefined;
        return this.done(this.buf.subarray(0, this.length));
      }
      if (this.chunked) return this.readChunks();
      return undefined; // to the end of the connection
    }
  }

  /** The connection ended: a body framed by the end of the connection is complete now. */
  end(): RawResponse | undefined {
    if (this.headers && this.length === undefined && !this.chunked) return this.done(this.buf);
    return undefined;
  }

  private readHead(head: string): void {
    const [statusLine, ...lines] = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine ?? '');
    if (!m)
      throw new HttpClientError(`not an HTTP response: ${JSON.stringify((statusLine ?? '').slice(0, 80))}`);
    this.status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new HttpClientError('malformed response header');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    this.headers = headers;
    const te = (headers['transfer-encoding'] ?? '').toLowerCase();
    this.chunked = te.split(',').some((t) => t.trim() === 'chunked');
    this.length = undefined;
    if (!this.chunked && headers['content-length'] !== undefined) {
      if (!/^\d{1,15}$/.test(headers['content-length']))
        throw new HttpClientError('invalid Content-Length in the response');
      this.length = Number(headers['content-length']);
    }
    // No body: 204, 304.
    if (this.status === 204 || this.status === 304) this.length = 0;
  }

  private readChunks(): RawResponse | undefined {
    for (;;) {
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return undefined;
      const size = parseInt(this.buf.subarray(0, eol).toString('latin1').split(';')[0]!.trim(), 16);
      if (!Number.isFinite(size) || size < 0) throw new HttpClientError('malformed chunked response');
      if (size === 0) {
        // Trailers (ignored) until an empty line.
        const end = this.buf.indexOf('\r\n\r\n', eol);
        const bare = this.buf.subarray(eol, eol + 4).toString('latin1') === '\r\n\r\n';
        if (!bare && end < 0) return undefined;
        return this.done(Buffer.concat(this.chunks));
      }
      if (this.buf.length < eol + 2 + size + 2) return undefined;
      this.chunks.push(this.buf.subarray(eol + 2, eol + 2 + size));
      this.buf = this.buf.subarray(eol + 2 + size + 2);
    }
  }

  private done(body: Buffer): RawResponse {
    return { status: this.status, headers: this.headers!, body: Buffer.from(body) };
  }
}

// HTTP/1.1 as the proxy writes it: the syntax its own parsers accept (front.ts reads requests
// with it, the plain path reads origins' response heads with it), which headers are the
// connection's own and never passed on, and the two heads the plain path writes: the request to
// the origin and the response to the client.

/**
 * One header line: a name of token characters, a value of visible characters with inner spaces
 * and tabs (RFC 9110 field-value). No control characters: a NUL or a bare CR passed on is how a
 * lenient peer is desynchronised.
 */
const HEADER =
  /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*((?:[\x21-\x7e\x80-\xff](?:[ \t]*[\x21-\x7e\x80-\xff])*)?)[ \t]*$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([\t\x20-\x7e\x80-\xff]*))?$/;

export type HeaderList = readonly (readonly [string, string])[];

/** Header lines as [name, value] pairs; undefined at the first malformed line. */
export function parseHeaderLines(lines: readonly string[], from: number): [string, string][] | undefined {
  const out: [string, string][] = [];
  for (let i = from; i < lines.length; i++) {
    const h = HEADER.exec(lines[i]!);
    if (!h) return undefined; // folding, bare LF, a header without a colon, bad characters
    out.push([h[1]!, h[2]!]);
  }
  return out;
}

/** Headers that belong to one connection (RFC 9110 7.6.1), lower case. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The further headers a Connection header names as the connection's own, lower case. */
export function connectionOptions(values: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const v of values)
    for (const token of v.split(',')) {
      const t = token.trim().toLowerCase();
      if (t) out.add(t);
    }
  return out;
}

function valuesOf(headers: HeaderList, lower: string): string[] {
  const out: string[] = [];
  for (const [n, v] of headers) if (n.toLowerCase() === lower) out.push(v);
  return out;
}

/**
 * The request the plain path sends to the origin: origin-form, Host from the URI (RFC 9112 3.2.2:
 * a proxy ignores the client's Host), and the client's end-to-end headers. HTTP/1.1 keeps the
 * connection open by default, for the next request of the same run (see plain.ts).
 */
export function originRequest(method: string, path: string, host: string, headers: HeaderList): string {
  const own = connectionOptions(valuesOf(headers, 'connection'));
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const [name, value] of headers) {
    const l = name.toLowerCase();
    if (l !== 'host' && !HOP_BY_HOP.has(l) && !own.has(l)) head += `${name}: ${value}\r\n`;
  }
  return head + '\r\n';
}

/** Where a response body ends: at once, after a length, after the last chunk, or at the close. */
export type Framing =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly bytes: number }
  | { readonly kind: 'chunked' }
  | { readonly kind: 'close' };

export interface ResponseHead {
  readonly status: number;
  /** The head as the client gets it: the connection's own headers dropped, `connection: close`. */
  readonly head: string;
  readonly framing: Framing;
  /** The origin lets the connection carry another request (HTTP/1.1, no `connection: close`). */
  readonly reusable: boolean;
}

const NO_BODY: Framing = { kind: 'none' };
const TO_CLOSE: Framing = { kind: 'close' };
const CHUNKED: Framing = { kind: 'chunked' };

/**
 * An origin's response head (without the final CRLF CRLF) to `method`, as it goes to the client;
 * undefined when it is malformed, or ambiguous about where its body ends (Content-Length values
 * that disagree). Transfer-Encoding stays: the body is passed on as it came, so its framing must
 * stay with it; a Content-Length beside it is dropped (RFC 9112 6.3: Transfer-Encoding wins).
 */
export function clientResponseHead(block: string, method: string): ResponseHead | undefined {
  const lines = block.split('\r\n');
  const m = STATUS_LINE.exec(lines[0]!);
  if (!m) return undefined;
  const headers = parseHeaderLines(lines, 1);
  if (!headers) return undefined;
  const own = connectionOptions(valuesOf(headers, 'connection'));
  const codings = valuesOf(headers, 'transfer-encoding');
  const lengths = new Set(valuesOf(headers, 'content-length'));
  if (lengths.size > 1) return undefined;
  for (const n of lengths) if (!/^\d{1,15}$/.test(n)) return undefined;
  let head = `HTTP/1.1 ${m[2]} ${m[3] ?? ''}\r\n`;
  for (const [name, value] of headers) {
    const l = name.toLowerCase();
    if (l === 'transfer-encoding' || (l === 'content-length' && codings.length === 0))
      head += `${name}: ${value}\r\n`;
    else if (l !== 'content-length' && !HOP_BY_HOP.has(l) && !own.has(l)) head += `${name}: ${value}\r\n`;
  }
  const status = Number(m[2]);
  // RFC 9112 6.3, in its order.
  let framing: Framing;
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) framing = NO_BODY;
  else if (codings.length > 0)
    framing = /(?:^|,)[ \t]*chunked[ \t]*$/i.test(codings.join(',')) ? CHUNKED : TO_CLOSE;
  else if (lengths.size === 1) framing = { kind: 'length', bytes: Number([...lengths][0]) };
  else framing = TO_CLOSE;
  const reusable = m[1] === '1' && !own.has('close') && framing !== TO_CLOSE;
  return { status, head: head + 'connection: close\r\n\r\n', framing, reusable };
}

// The states of a chunked body, as BodyScanner reads it.
const enum Chunk {
  Size,
  SizeMore,
  Extension,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerLine,
  TrailerLf,
  FinalLf,
}

const hex = (b: number): number =>
  b >= 0x30 && b <= 0x39
    ? b - 0x30
    : b >= 0x61 && b <= 0x66
      ? b - 0x57
      : b >= 0x41 && b <= 0x46
        ? b - 0x37
        : -1;

/**
 * Follows a response body as its bytes pass, without changing them, to find where it ends: the
 * connection to the origin can carry another request only if the proxy knows exactly where this
 * response stopped. Chunked framing is read strictly (RFC 9112 7.1); anything it does not expect
 * marks the body bad, and a bad body's connection is never used again.
 */
export class BodyScanner {
  done: boolean;
  bad = false;
  private left: number;
  private state = Chunk.Size;
  private digits = 0;

  /** The body ends where the connection does. */
  get untilClose(): boolean {
    return this.framing.kind === 'close';
  }

  constructor(private readonly framing: Framing) {
    this.done = framing.kind === 'none' || (framing.kind === 'length' && framing.bytes === 0);
    this.left = framing.kind === 'length' ? framing.bytes : 0;
  }

  /** One byte of chunked framing outside chunk data. */
  private step(b: number): void {
    const expect = (want: number, next: Chunk): void => {
      if (b !== want) this.bad = true;
      this.state = next;
    };
    switch (this.state) {
      case Chunk.Size:
      case Chunk.SizeMore: {
        const d = hex(b);
        if (d >= 0 && this.digits < 13) {
          this.left = this.left * 16 + d;
          this.digits++;
          this.state = Chunk.SizeMore;
        } else if (this.state === Chunk.SizeMore && b === 0x3b) this.state = Chunk.Extension;
        else if (this.state === Chunk.SizeMore && b === 0x0d) this.state = Chunk.SizeLf;
        else this.bad = true;
        return;
      }
      case Chunk.Extension:
        if (b === 0x0d) this.state = Chunk.SizeLf;
        else if (b === 0x0a || (b < 0x20 && b !== 0x09) || b === 0x7f) this.bad = true;
        return;
      case Chunk.SizeLf:
        this.digits = 0;
        return expect(0x0a, this.left === 0 ? Chunk.TrailerStart : Chunk.Data);
      case Chunk.DataCr:
        return expect(0x0d, Chunk.DataLf);
      case Chunk.DataLf:
        return expect(0x0a, Chunk.Size);
      case Chunk.TrailerStart:
        if (b === 0x0a) this.bad = true;
        this.state = b === 0x0d ? Chunk.FinalLf : Chunk.TrailerLine;
        return;
      case Chunk.TrailerLine:
        if (b === 0x0d) this.state = Chunk.TrailerLf;
        else if (b === 0x0a) this.bad = true;
        return;
      case Chunk.TrailerLf:
        return expect(0x0a, Chunk.TrailerStart);
      case Chunk.FinalLf:
        expect(0x0a, Chunk.FinalLf);
        if (!this.bad) this.done = true;
        return;
      case Chunk.Data:
        return; // scan() passes chunk data over without a step per byte
    }
  }

  /** Reads buf[from, to); returns where the body ended in it (to, when it goes on). */
  scan(buf: Uint8Array, from: number, to: number): number {
    if (this.done || this.bad) return from;
    if (this.framing.kind === 'close') return to;
    if (this.framing.kind === 'length') {
      const n = Math.min(this.left, to - from);
      this.left -= n;
      if (this.left === 0) this.done = true;
      return from + n;
    }
    let i = from;
    while (i < to && !this.done && !this.bad) {
      if (this.state === Chunk.Data) {
        const n = Math.min(this.left, to - i);
        this.left -= n;
        i += n;
        if (this.left === 0) this.state = Chunk.DataCr;
        continue;
      }
      this.step(buf[i++]!);
    }
    return i;
  }
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** The proxy's own answer: `message` as text/plain, and the connection closes after it. */
export function errorResponse(status: number, message: string, headers = ''): string {
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n${headers}content-type: text/plain\r\ncontent-length: ${Buffer.byteLength(message) + 1}\r\nconnection: close\r\n\r\n${message}\n`;
}

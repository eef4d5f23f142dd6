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
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9]\d\d)(?: ([\t\x20-\x7e\x80-\xff]*))?$/;

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
 * a proxy ignores the client's Host), the client's end-to-end headers, and `connection: close`:
 * the origin's end of the response is the response's end, so nothing of it is parsed but its head.
 */
export function originRequest(method: string, path: string, host: string, headers: HeaderList): string {
  const own = connectionOptions(valuesOf(headers, 'connection'));
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const [name, value] of headers) {
    const l = name.toLowerCase();
    if (l !== 'host' && !HOP_BY_HOP.has(l) && !own.has(l)) head += `${name}: ${value}\r\n`;
  }
  return head + 'connection: close\r\n\r\n';
}

export interface ResponseHead {
  readonly status: number;
  /** The head as the client gets it: the connection's own headers dropped, `connection: close`. */
  readonly head: string;
}

/**
 * An origin's response head (without the final CRLF CRLF) as it goes to the client; undefined
 * when it is malformed, or ambiguous about where its body ends (Content-Length values that
 * disagree). Transfer-Encoding stays: the body is passed on as it came, so its framing must stay
 * with it; a Content-Length beside it is dropped (RFC 9112 6.3: Transfer-Encoding wins).
 */
export function clientResponseHead(block: string): ResponseHead | undefined {
  const lines = block.split('\r\n');
  const m = STATUS_LINE.exec(lines[0]!);
  if (!m) return undefined;
  const headers = parseHeaderLines(lines, 1);
  if (!headers) return undefined;
  const own = connectionOptions(valuesOf(headers, 'connection'));
  const chunked = valuesOf(headers, 'transfer-encoding').length > 0;
  const lengths = new Set(valuesOf(headers, 'content-length'));
  if (lengths.size > 1) return undefined;
  for (const n of lengths) if (!/^\d{1,15}$/.test(n)) return undefined;
  let head = `HTTP/1.1 ${m[1]} ${m[2] ?? ''}\r\n`;
  for (const [name, value] of headers) {
    const l = name.toLowerCase();
    if (l === 'transfer-encoding' || (l === 'content-length' && !chunked)) head += `${name}: ${value}\r\n`;
    else if (l !== 'content-length' && !HOP_BY_HOP.has(l) && !own.has(l)) head += `${name}: ${value}\r\n`;
  }
  return { status: Number(m[1]), head: head + 'connection: close\r\n\r\n' };
}

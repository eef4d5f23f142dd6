// The front door's request-head parser (src/egress/front.ts) against Node's own: llhttp, the parser
// node:http runs, driven directly through node:http's HTTPParser binding. For every generated
// head, near-valid and hostile (whitespace and control bytes where they do not belong, folding,
// bare CR or LF, odd versions, duplicate and empty headers, non-ASCII), either the front door
// refuses it (the request goes to node:http or is refused), or both parse it the same: method,
// target, version, and every header name and value in order.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseConnect, parsePlain } from '../../src/egress/front.js';

// node:http's parser binding: the same llhttp build a node:http server runs, strict by default.

const { HTTPParser, methods } = (await import('node:module')).createRequire(import.meta.url)(
  '_http_common',
) as {
  HTTPParser: {
    new (): { initialize(type: number, resource: object): void; execute(b: Buffer): number | Error } & Record<
      symbol,
      unknown
    >;
    REQUEST: number;
    kOnHeadersComplete: symbol;
    kOnHeaders: symbol;
  };
  methods: string[];
};

interface Parsed {
  readonly method: string;
  readonly target: string;
  readonly minor: number;
  readonly headers: readonly string[];
}

function llhttp(head: string): Parsed | undefined {
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {});
  let got: Parsed | undefined;
  let extra: string[] = [];
  p[HTTPParser.kOnHeaders] = (h: string[]) => (extra = extra.concat(h));
  p[HTTPParser.kOnHeadersComplete] = (
    _maj: number,
    min: number,
    headers: string[] | undefined,
    m: number,
    url: string,
  ) => {
    got = { method: methods[m]!, target: url, minor: min, headers: [...extra, ...(headers ?? [])] };
    return 0;
  };
  const r = p.execute(Buffer.from(head, 'latin1'));
  return r instanceof Error ? undefined : got;
}

function frontDoor(block: string): Parsed | undefined {
  const minor = /HTTP\/1\.([01])\r?\n?/.exec(block.split('\r\n')[0] ?? '')?.[1];
  const c = parseConnect(block);
  if (c)
    return {
      method: 'CONNECT',
      target: c.target,
      minor: Number(minor),
      headers: c.proxyAuthorization === undefined ? [] : ['Proxy-Authorization', c.proxyAuthorization],
    };
  const p = parsePlain(block);
  if (p)
    return {
      method: p.method,
      target: p.uri,
      minor: Number(minor),
      headers: [
        ...p.headers.flat(),
        ...(p.proxyAuthorization === undefined ? [] : ['Proxy-Authorization', p.proxyAuthorization]),
      ],
    };
  return undefined;
}

/** Header pairs as [name, value], order kept, Proxy-Authorization last (the front door keeps it apart). */
const normalize = (h: readonly string[]): string[][] => {
  const pairs: string[][] = [];
  for (let i = 0; i < h.length; i += 2) pairs.push([h[i]!, h[i + 1]!]);
  const auth = pairs.filter(([n]) => n!.toLowerCase() === 'proxy-authorization');
  return [...pairs.filter(([n]) => n!.toLowerCase() !== 'proxy-authorization'), ...auth];
};

// Pieces a head is made of: mostly what clients send, now and then what an attacker would.
const mostly = <T>(usual: fc.Arbitrary<T>, rare: fc.Arbitrary<T>, weight = 12): fc.Arbitrary<T> =>
  fc.oneof({ weight, arbitrary: usual }, { weight: 1, arbitrary: rare });
const odd = fc.constantFrom(
  ' ',
  '\t',
  '\r',
  '\n',
  '\0',
  '\x7f',
  '\x0b',
  '\x0c',
  'é',
  '\u00ff',
  ':',
  '"',
  '(',
  '@',
  '/',
  ';',
);
const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const value = mostly(
  fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,20}[\x21-\x7e])?$/),
  fc.oneof(
    fc.tuple(fc.string({ maxLength: 6 }), odd, fc.string({ maxLength: 6 })).map(([a, o, b]) => a + o + b),
    fc.constant(''),
  ),
  6,
);
const headerName = mostly(
  fc.oneof(token, fc.constantFrom('Host', 'Proxy-Authorization', 'Connection', 'Accept', 'User-Agent')),
  fc.oneof(
    fc.constantFrom('Content-Length', 'Transfer-Encoding', 'Upgrade', 'Expect'),
    fc.tuple(token, odd).map(([t, o]) => t + o),
    fc.tuple(odd, token).map(([o, t]) => o + t),
  ),
  6,
);
const sep = mostly(
  fc.constantFrom(':', ': ', ':  ', ':\t'),
  fc.constantFrom(' :', ' : ', '::', ':\r', ':\n'),
);
const eol = mostly(fc.constant('\r\n'), fc.constantFrom('\n', '\r', '\r\r\n', '\r\n ', '\r\n\t'), 30);
const requestLine = fc
  .tuple(
    mostly(
      fc.constantFrom('GET', 'HEAD', 'CONNECT'),
      fc.constantFrom('get', 'POST', 'GET ', ' GET', 'CONNECT\t'),
    ),
    mostly(fc.constant(' '), fc.constantFrom('  ', '\t', '\r', '\0')),
    mostly(
      fc.constantFrom(
        'http://example.com/a?b=c',
        'example.com:443',
        'http://[::1]:80/',
        '[::1]:22',
        '10.0.0.1:8080',
      ),
      fc.oneof(
        fc.constantFrom('http://a/#frag', '/', '*', 'http://a b/', 'a:443"', 'a:443?', ''),
        fc.tuple(fc.constantFrom('http://a/', 'a:443'), fc.string({ maxLength: 8 })).map(([a, b]) => a + b),
      ),
      6,
    ),
    mostly(fc.constant(' '), fc.constantFrom('  ', '\t')),
    mostly(
      fc.constantFrom('HTTP/1.1', 'HTTP/1.0'),
      fc.constantFrom('HTTP/1.2', 'HTTP/2.0', 'http/1.1', 'HTTP/1.1 ', 'HTTP/01.1'),
    ),
  )
  .map(([m, s1, t, s2, v]) => m + s1 + t + s2 + v);
const head = fc
  .tuple(requestLine, fc.array(fc.tuple(headerName, sep, value, eol), { maxLength: 8 }))
  .map(([line, hs]) => line + '\r\n' + hs.map(([n, s, v, e]) => n + s + v + e).join(''));

describe('the front door parses heads as llhttp does, or refuses them', () => {
  it('agrees with llhttp on every head it accepts (property)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(head, (text) => {
        // The relay hands over the block up to its CRLF CRLF (which it found first).
        const end = text.indexOf('\r\n\r\n');
        const block = end >= 0 ? text.slice(0, end) : text.replace(/\r\n$/, '');
        const ours = frontDoor(block);
        if (!ours) return;
        accepted++;
        const theirs = llhttp(block + '\r\n\r\n');
        assert.ok(theirs, `the front door accepted what llhttp refuses: ${JSON.stringify(block)}`);
        assert.equal(ours.method, theirs.method, JSON.stringify(block));
        assert.equal(ours.target, theirs.target, JSON.stringify(block));
        assert.equal(ours.minor, theirs.minor, JSON.stringify(block));
        // A CONNECT is decided on its target and Proxy-Authorization alone: those must agree.
        const theirHeaders =
          ours.method === 'CONNECT'
            ? normalize(theirs.headers).filter(([n]) => n!.toLowerCase() === 'proxy-authorization')
            : normalize(theirs.headers);
        assert.deepEqual(normalize(ours.headers), theirHeaders, JSON.stringify(block));
      }),
      {
        numRuns: Number(process.env['RAMPART_DIFF_RUNS'] ?? 20_000),
        // Found by this property on 2026-12-04: a second "@" in a CONNECT authority.
        examples: [['CONNECT a:443@@ HTTP/1.1\r\n\r\n'], ['CONNECT u@h@x:443 HTTP/1.1\r\nHost: h\r\n\r\n']],
      },
    );
    // The generator reaches the accepting side often enough to mean something.
    assert.ok(accepted > 1000, `only ${accepted} heads accepted`);
  });
});

// SOCKS5 (RFC 1928) with username and password (RFC 1929): the request a client's handshake ends
// with, parsed strictly, and the replies that answer it. The native relay frames the handshake
// and answers its first steps (relay.c); what to connect to, and whether, is decided by the
// proxy exactly as for a CONNECT: the same caller check, rules, policy, DNS and address guard.
//
// Only CONNECT is served. BIND and UDP ASSOCIATE would let an agent accept connections or send
// datagrams past the proxy's per-connection checks; they are refused with "command not
// supported".

/** RFC 1928, section 6. */
export const SOCKS_REPLY = {
  succeeded: 0,
  generalFailure: 1,
  notAllowed: 2,
  networkUnreachable: 3,
  hostUnreachable: 4,
  refused: 5,
  commandNotSupported: 7,
  addressTypeNotSupported: 8,
} as const;

export interface SocksRequest {
  /** host:port as a CONNECT would write it ([address]:port for IPv6). */
  readonly target: string;
  /** The password of the username and password step (a workload token); the username is free. */
  readonly token: string | undefined;
}

/** A request that cannot be served: `reply` is the code the client gets. */
export class SocksRefusal extends Error {
  constructor(
    readonly reply: number,
    message: string,
  ) {
    super(message);
  }
}

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,252})$/;

/**
 * The request of a handshake the relay framed: `bytes` from the greeting on, the request at
 * `requestAt`, the username and password message at `authAt` (0: the client sent none).
 */
export function parseSocks(bytes: Buffer, requestAt: number, authAt: number): SocksRequest {
  let token: string | undefined;
  if (authAt > 0) {
    const ulen = bytes[authAt + 1]!;
    const plen = bytes[authAt + 2 + ulen]!;
    const start = authAt + 3 + ulen;
    token = plen > 0 ? bytes.toString('utf8', start, start + plen) : undefined;
  }
  const r = requestAt;
  if (bytes.length < r + 5 || bytes[r] !== 5 || bytes[r + 2] !== 0)
    throw new SocksRefusal(SOCKS_REPLY.generalFailure, 'malformed SOCKS5 request');
  const command = bytes[r + 1]!;
  const type = bytes[r + 3]!;
  const addressLength = type === 1 ? 4 : type === 4 ? 16 : type === 3 ? 1 + bytes[r + 4]! : 0;
  if (addressLength === 0)
    throw new SocksRefusal(SOCKS_REPLY.addressTypeNotSupported, `SOCKS5 address type ${type} is unknown`);
  if (bytes.length !== r + 4 + addressLength + 2)
    throw new SocksRefusal(SOCKS_REPLY.generalFailure, 'malformed SOCKS5 request');
  if (command !== 1)
    throw new SocksRefusal(
      SOCKS_REPLY.commandNotSupported,
      `SOCKS5 command ${command} is not supported (CONNECT only)`,
    );
  const a = r + 4;
  const port = bytes.readUInt16BE(a + addressLength);
  if (port === 0) throw new SocksRefusal(SOCKS_REPLY.generalFailure, 'SOCKS5 request for port 0');
  let host: string;
  if (type === 1) host = [...bytes.subarray(a, a + 4)].join('.');
  else if (type === 4) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(a + i).toString(16));
    host = `[${groups.join(':')}]`;
  } else {
    host = bytes.toString('latin1', a + 1, a + addressLength);
    if (!HOST_NAME.test(host))
      throw new SocksRefusal(SOCKS_REPLY.generalFailure, `"${host.slice(0, 255)}" is not a host name`);
  }
  return { target: `${host}:${port}`, token };
}

/** A reply without a bound address (the proxy does not say where it connected from). */
export function socksReply(code: number): Buffer {
  return Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
}

/**
 * The reply for a refusal the proxy would answer with an HTTP status: refused by the caller
 * check, rules, guard, limits or the kill switch is "not allowed"; a failed connect says how.
 */
export function socksReplyFor(status: number, errno?: string): number {
  if (status === 502) {
    if (errno === 'ECONNREFUSED') return SOCKS_REPLY.refused;
    if (errno === 'ENETUNREACH') return SOCKS_REPLY.networkUnreachable;
    return SOCKS_REPLY.hostUnreachable;
  }
  if (status === 400 || status === 500) return SOCKS_REPLY.generalFailure;
  return SOCKS_REPLY.notAllowed;
}

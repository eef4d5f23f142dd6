// The egress proxy's shared vocabulary: who calls (EgressCaller), what it may reach
// (EgressProfile), what is recorded (ConnectionRecord), what the proxy is given (EgressDeps), and
// the internal shapes its parts pass between them: a Refusal (an answer and a record in one), a
// Target, what admission let through (Admitted, Passage), and the open set's entries.

import type { AddressGuard, Address } from './address.js';
import { numericHost } from './address.js';
import type { HostMatcher, HostRule } from './hosts.js';
import type { Interceptor } from './intercept.js';
import { normalizeHost } from './hosts.js';
import { errorResponse } from './http1.js';
import { socksReply, socksReplyFor } from './socks.js';

export interface EgressCaller {
  readonly agent: string;
  readonly run: string;
  /** How the proxy knows: a verified workload token, or the run's own channel. */
  readonly via: 'token' | 'channel';
  readonly profile?: string;
}

export interface EgressProfile {
  readonly mode: 'enforce' | 'report';
  readonly allow: HostMatcher;
  readonly deny: HostMatcher;
  /** Concurrent connections per agent. */
  readonly maxConnections: number;
}

export type EgressDecision = 'allow' | 'deny' | 'would_deny' | 'error';

export interface ConnectionRecord {
  readonly id: number;
  readonly agent: string;
  readonly run: string;
  readonly method: 'CONNECT' | 'SOCKS5' | 'HTTP';
  readonly host: string;
  readonly port: number;
  readonly address?: string;
  /** How the caller came: its run's channel, or a token over TCP. */
  readonly via?: 'token' | 'channel';
  /** A plain request's path and query (the first 2048 characters). */
  readonly target?: string;
  readonly decision: EgressDecision;
  readonly rule?: string;
  readonly reason: string;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly durationMs: number;
}

export interface EgressDeps {
  /** Verifies a workload token (from Proxy-Authorization); undefined or a reason when it fails. */
  readonly authenticate: (token: string) => EgressCaller | string;
  readonly profileFor: (caller: EgressCaller) => EgressProfile;
  /** The policy decision point (egress.connect), when present. Throwing denies. */
  readonly decide?: (
    caller: EgressCaller,
    host: string,
    port: number,
  ) => Promise<{ allow: boolean; reason: string }>;
  /**
   * Rampart's own services under the reserved suffix (git.rampart.internal: the git gate): where
   * the proxy takes a request for that name, whatever rule or policy says. A reserved name with
   * no route is refused.
   */
  readonly route?: (host: string) => InternalRoute | undefined;
  /** Milliseconds to wait before another connection is allowed (0: go ahead). */
  readonly rateLimit?: (caller: EgressCaller) => number;
  /** Every connection, allowed or not, once it ends. Must not throw. */
  readonly record: (r: ConnectionRecord) => void;
  /**
   * What a connection says of itself before it is decided: the host (every connection), and a
   * plain request's path and header values. For the honeytoken scan; must not throw.
   */
  readonly inspect?: (caller: EgressCaller, text: string) => void;
  /** Every DNS lookup. */
  readonly onLookup?: (caller: EgressCaller, host: string, addresses: string[] | Error) => void;
  readonly resolve?: (host: string) => Promise<{ address: string; family: number }[]>;
}

export interface EgressOptions {
  readonly guard: AddressGuard;
  readonly deps: EgressDeps;
  /** Terminates the hosts marked inspect (intercept.ts); without it every tunnel is opaque. */
  readonly interceptor?: Interceptor;
  readonly maxHeaderBytes?: number;
  readonly headersTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** Tunnels idle this long are closed. */
  readonly idleTimeoutMs?: number;
}

/** A refusal: the status the client gets, the decision recorded, and why. */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly decision: EgressDecision,
    message: string,
    readonly rule?: string,
    readonly address?: string,
  ) {
    super(message);
  }
}

/** An admitted connection in the open set: the kill switch, bans and a run's end cut it. */
export interface Open {
  readonly run: string;
  readonly address: string;
  cut(): void;
}

/** An admitted CONNECT or SOCKS5 request, tunnelled by the relay. */
export interface Tunnel extends Open {
  readonly passage: Passage;
  readonly dialect: Dialect;
}

export const SOCKS_TOKEN_CALLERS =
  'SOCKS5 is served on run channels only: a workload token does not fit a SOCKS5 password (255 bytes); ' +
  'token callers use HTTP CONNECT with Proxy-Authorization';

/** How a tunnel's client is told no: HTTP CONNECT's status lines, or SOCKS5 replies. */
export interface Dialect {
  readonly method: 'CONNECT' | 'SOCKS5';
  answer(r: Refusal, errno?: string): Buffer;
}

export const CONNECT_DIALECT: Dialect = { method: 'CONNECT', answer: (r) => refusal(r) };
export const SOCKS_DIALECT: Dialect = {
  method: 'SOCKS5',
  answer: (r, errno) => socksReply(socksReplyFor(r.status, errno)),
};

/** Where a reserved name leads: a listener of the control plane's, on loopback. */
export interface InternalRoute {
  readonly address: string;
  readonly port: number;
  /** What serves it, for records (gitgate). */
  readonly name: string;
}

export interface Admitted {
  readonly address: string;
  /** Set for a reserved name's route: its listener's port, not the request's. */
  readonly port?: number;
  readonly rule?: HostRule;
  /** Report mode: why it would have been denied. */
  readonly note?: string;
  /** The policy decision point's reason, when it allowed. */
  readonly allowedBy?: string;
}

/** A connection admission let through: what it is, for whom, to where, since when. */
export interface Passage {
  readonly method: 'CONNECT' | 'SOCKS5' | 'HTTP';
  readonly caller: EgressCaller;
  readonly target: Target;
  readonly admitted: Admitted;
  readonly started: number;
  /** A plain request's target (path and query), for the record. */
  readonly path?: string;
}

export interface Target {
  readonly host: string;
  readonly port: number;
  readonly numeric: Address | undefined;
}

/** host:port of a CONNECT, or of an absolute URI's authority; IPv6 in brackets. */
export function parseTarget(authority: string, defaultPort?: number): Target | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(authority);
  if (!m) return undefined;
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port === undefined || port < 1 || port > 65535) return undefined;
  const raw = m[1]!;
  const numeric = numericHost(raw);
  if (numeric) return { host: numeric.family === 6 ? `[${numeric.text}]` : numeric.text, port, numeric };
  if (raw.startsWith('[')) return undefined;
  const host = normalizeHost(raw);
  return host ? { host, port, numeric: undefined } : undefined;
}

/** The answer to a refusal, on a connection the proxy answers itself. */
export function refusal(r: Refusal): Buffer {
  const headers = r.status === 407 ? 'proxy-authenticate: Bearer realm="rampart"\r\n' : '';
  return Buffer.from(errorResponse(r.status, r.message, headers));
}

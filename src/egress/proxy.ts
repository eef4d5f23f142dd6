// The egress proxy: HTTP absolute-URI requests and CONNECT tunnels, for callers it can name.
//
// Every connection goes through the same steps, in this order, and the first that refuses
// decides: who is calling (a workload token in Proxy-Authorization, or the per-run channel the
// connection arrived on; unknown callers get 407), the kill switch, the agent's connection and
// rate limits, the target's syntax, deny rules, allow rules (nothing is allowed by default), the
// policy decision point when there is one, then DNS: the name is resolved once, every address is
// checked by the address guard, and the proxy connects to an address it checked, never to the
// name again (no DNS rebinding between check and use).
//
// `report` mode lets connections that host rules or policy would deny through and records them as
// "would deny"; the address guard and bans are enforced in every mode: there is no report mode
// for reaching cloud metadata.
//
// Connections: the native relay (relay.c, native.ts) accepts every connection. The head of a
// CONNECT, GET or HEAD is read there, bounded in size and time (slowloris), and parsed here with
// the front door's strict parser (front.ts). A CONNECT is decided here and tunnelled there: the
// relay connects to the address admission checked and moves the bytes (backpressure,
// half-close, idle timeout). A plain GET or HEAD is decided here and exchanged with the origin
// here (plain.ts keeps origin connections per run and checked address); its answer goes to the
// client through the relay, which holds the client's connection throughout. Anything else is
// handed to node:http (llhttp), which bounds headers the same way and refuses conflicting
// Content-Length/Transfer-Encoding. A CONNECT that node:http reads (one after other requests on a
// kept-alive connection) is adopted by the relay and goes the same way as any other.

import { lookup } from 'node:dns/promises';
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { closeSync } from 'node:fs';
import { connect as netConnect, isIP, Socket } from 'node:net';
import { parseConnect, parsePlain, toHttp, type ConnectRequest, type PlainRequest } from './front.js';
import { errorResponse, HOP_BY_HOP, originRequest } from './http1.js';
import { errnoName, NativeRelay, type RelayEvents } from './native.js';
import { OriginPool, PlainExchange, type ClientEnd, type OriginConn } from './plain.js';
import {
  parseSocks,
  SOCKS_REPLY,
  socksReply,
  socksReplyFor,
  type SocksRefusal,
  type SocksRequest,
} from './socks.js';
import type { Duplex } from 'node:stream';
import { Timeouts } from './timeouts.js';
import type { AddressGuard } from './address.js';
import { numericHost, type Address } from './address.js';
import type { HostMatcher } from './hosts.js';
import { normalizeHost, type HostRule } from './hosts.js';
import { messageOf } from '../core/errors.js';

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
  /** Milliseconds to wait before another connection is allowed (0: go ahead). */
  readonly rateLimit?: (caller: EgressCaller) => number;
  /** Every connection, allowed or not, once it ends. Must not throw. */
  readonly record: (r: ConnectionRecord) => void;
  /** Every DNS lookup. */
  readonly onLookup?: (caller: EgressCaller, host: string, addresses: string[] | Error) => void;
  readonly resolve?: (host: string) => Promise<{ address: string; family: number }[]>;
}

export interface EgressOptions {
  readonly guard: AddressGuard;
  readonly deps: EgressDeps;
  readonly maxHeaderBytes?: number;
  readonly headersTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** Tunnels idle this long are closed. */
  readonly idleTimeoutMs?: number;
}

class Refusal extends Error {
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

/** One listening address (in the relay), and node:http for what the front door leaves to it. */
interface Listener {
  readonly id: number;
  readonly http: Server;
  /** A run's channel: the caller is known. */
  readonly channel: EgressCaller | undefined;
}

/** Where a listener is: a TCP port, or a run's channel (unix socket). */
export interface Listening {
  readonly port: number;
}

/** An admitted connection in the open set: the kill switch, bans and a run's end cut it. */
interface Open {
  readonly run: string;
  readonly address: string;
  cut(): void;
}

/** An admitted CONNECT or SOCKS5 request, tunnelled by the relay. */
interface Tunnel extends Open {
  readonly passage: Passage;
  readonly dialect: Dialect;
}

const SOCKS_TOKEN_CALLERS =
  'SOCKS5 is served on run channels only: a workload token does not fit a SOCKS5 password (255 bytes); ' +
  'token callers use HTTP CONNECT with Proxy-Authorization';

/** How a tunnel's client is told no: HTTP CONNECT's status lines, or SOCKS5 replies. */
interface Dialect {
  readonly method: 'CONNECT' | 'SOCKS5';
  answer(r: Refusal, errno?: string): Buffer;
}

const CONNECT_DIALECT: Dialect = { method: 'CONNECT', answer: (r) => refusal(r) };
const SOCKS_DIALECT: Dialect = {
  method: 'SOCKS5',
  answer: (r, errno) => socksReply(socksReplyFor(r.status, errno)),
};

const NOTHING = Buffer.alloc(0);
const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * The client of a plain GET or HEAD, whose connection the relay holds: the answer goes out
 * through it. Registered by its relay id until it ends, for the relay's drained and closed.
 */
class RelayAnswer implements ClientEnd {
  closed = false;
  /** What the relay could not write at once has gone. */
  onDrain: () => void = () => undefined;
  /** The connection went away before its end: cut, failed, or closed by the client. */
  onClose: () => void = () => undefined;

  constructor(
    private readonly relay: NativeRelay,
    private readonly answering: Map<number, RelayAnswer>,
    readonly id: number,
  ) {
    answering.set(id, this);
  }

  send(bytes: Buffer): boolean {
    return !this.closed && this.relay.send(this.id, bytes);
  }

  end(last: Buffer = NOTHING): void {
    if (this.gone()) this.relay.end(this.id, last);
  }

  destroy(): void {
    if (!this.gone()) return;
    this.relay.cut(this.id);
    // After the caller's own steps, as a socket's 'close' comes: a failing exchange records its
    // reason before the close is seen.
    process.nextTick(this.onClose);
  }

  /** The relay reported the connection closed, or closed itself. */
  lost(): void {
    if (this.gone()) this.onClose();
  }

  /** Marks it ended; false when it already was. */
  private gone(): boolean {
    if (this.closed) return false;
    this.closed = true;
    this.answering.delete(this.id);
    return true;
  }
}

interface Admitted {
  readonly address: string;
  readonly rule?: HostRule;
  /** Report mode: why it would have been denied. */
  readonly note?: string;
  /** The policy decision point's reason, when it allowed. */
  readonly allowedBy?: string;
}

/** A connection admission let through: what it is, for whom, to where, since when. */
interface Passage {
  readonly method: 'CONNECT' | 'SOCKS5' | 'HTTP';
  readonly caller: EgressCaller;
  readonly target: Target;
  readonly admitted: Admitted;
  readonly started: number;
}

interface Target {
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

function tokenFrom(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.split(' ', 2);
  if (!value) return undefined;
  if (scheme!.toLowerCase() === 'bearer') return value.trim();
  // curl --proxy-user agent:TOKEN sends Basic; the password is the token.
  if (scheme!.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    return i >= 0 ? decoded.slice(i + 1) : undefined;
  }
  return undefined;
}

export class EgressProxy {
  /** Listeners, by the relay's id for them. */
  private readonly listeners = new Map<number, Listener>();
  /** Per-run channels, by run id. */
  private readonly channels = new Map<string, Listener>();
  /** Admitted connections: tunnels by the relay's id for them, plain exchanges by their client. */
  private readonly open = new Map<number | ClientEnd, Open>();
  /** Plain GETs and HEADs being answered through the relay, by its id for them. */
  private readonly answering = new Map<number, RelayAnswer>();
  /** Tunnels cut and not yet reported closed by the relay (their records are still to come). */
  private readonly cutting = new Map<number, Tunnel>();
  private readonly relay: NativeRelay;
  private readonly perAgent = new Map<string, number>();
  private killed = false;
  /** Kept-alive connections to origins for plain HTTP requests, one pool per run. */
  private readonly pools = new UpstreamPools(1024);
  private nextId = 1;
  /**
   * Where every origin read of a plain exchange lands: what is read is passed to the relay in
   * the same callback, and the relay keeps a copy of whatever it cannot send at once.
   */
  private readonly reads = Buffer.allocUnsafeSlow(256 * 1024);
  readonly stats = { allowed: 0, denied: 0, wouldDeny: 0, bytesUp: 0, bytesDown: 0, lookups: 0 };
  private readonly resolve: (host: string) => Promise<{ address: string; family: number }[]>;
  private readonly timeouts: Timeouts;
  /** Kept-alive origin connections of plain exchanges, per run and checked address. */
  private readonly originPool: OriginPool;
  private readonly maxHeaderBytes: number;
  private readonly headersTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  /** Resolves close() once every cut tunnel has been reported (and recorded). */
  private drained: (() => void) | undefined;

  constructor(private readonly opts: EgressOptions) {
    this.resolve = opts.deps.resolve ?? ((h) => lookup(h, { all: true, verbatim: true }));
    this.maxHeaderBytes = opts.maxHeaderBytes ?? 16 * 1024;
    this.headersTimeoutMs = opts.headersTimeoutMs ?? 10_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    const idleTimeoutMs = opts.idleTimeoutMs ?? 300_000;
    const shortest = Math.min(this.headersTimeoutMs, this.connectTimeoutMs, idleTimeoutMs);
    const tickMs = Math.max(10, Math.min(1_000, Math.floor(shortest / 4)));
    this.timeouts = new Timeouts(tickMs);
    this.originPool = new OriginPool(this.timeouts, 8, 4_000);
    const events: RelayEvents = {
      head: (id, listener, block) => this.onHead(id, listener, block),
      handoff: (_id, listener, fd, bytes) => this.onHandoff(listener, fd, bytes),
      failed: (id, errno) => this.onFailed(id, errno),
      closed: (id, _how, _errno, up, down) => this.onClosed(id, up, down),
      drained: (id) => this.answering.get(id)?.onDrain(),
      socks: (id, listener, bytes, requestAt, authAt) => this.onSocks(id, listener, bytes, requestAt, authAt),
    };
    this.relay = new NativeRelay(events, {
      maxHeaderBytes: this.maxHeaderBytes,
      headersTimeoutMs: this.headersTimeoutMs,
      idleTimeoutMs,
      tickMs,
      established: ESTABLISHED,
      tooLarge: Buffer.from(
        errorResponse(431, `the request head is larger than ${this.maxHeaderBytes} bytes`),
      ),
      tooSlow: Buffer.from(
        errorResponse(408, `the request head did not arrive within ${this.headersTimeoutMs} ms`),
      ),
    });
  }

  /** Listens for callers that authenticate with a workload token. */
  async listen(port: number, host: string): Promise<Listening> {
    const address = isIP(host) ? host : (await lookup(host)).address;
    const { id, port: bound } = this.relay.listenTcp(address, port);
    this.listeners.set(id, this.listener(id, undefined));
    return { port: bound };
  }

  /** Listens on a run's own channel (a unix socket bound into its sandbox): the caller is known. */
  async listenChannel(path: string, caller: EgressCaller): Promise<void> {
    if (this.channels.has(caller.run)) throw new TypeError(`run ${caller.run} already has a channel`);
    const id = this.relay.listenUnix(path);
    const listener = this.listener(id, { ...caller, via: 'channel' });
    this.listeners.set(id, listener);
    this.channels.set(caller.run, listener);
  }

  /** Closes a run's channel and cuts its connections (the run has ended). */
  closeChannel(run: string): boolean {
    const listener = this.channels.get(run);
    if (!listener) return false;
    this.channels.delete(run);
    this.stop(listener);
    for (const [key, o] of this.open) if (o.run === run) this.cut(key, o);
    this.pools.close(run);
    this.originPool.close(run);
    return true;
  }

  get openChannels(): number {
    return this.channels.size;
  }

  private listener(id: number, channel: EgressCaller | undefined): Listener {
    const maxHeaderBytes = this.maxHeaderBytes;
    const http = createServer({
      maxHeaderSize: maxHeaderBytes,
      headersTimeout: this.headersTimeoutMs,
      requestTimeout: 60_000,
      keepAliveTimeout: 5_000,
      // How often those timeouts are enforced (Node's default, 30 s, would let slowloris linger).
      connectionsCheckingInterval: 1_000,
    });
    // A CONNECT after other requests on a kept-alive connection: the relay takes the connection
    // over (its descriptor duplicated; Node's copy closed) and it goes on like any CONNECT.
    http.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const started = performance.now();
      const fd = (socket as { _handle?: { fd?: unknown } })._handle?.fd;
      if (typeof fd !== 'number' || fd < 0)
        return void socket.end(errorResponse(500, 'this connection cannot be tunnelled'));
      let id = -1;
      try {
        id = this.relay.adopt(fd, head);
      } catch {
        // the proxy is closing: the connection goes with it
      }
      socket.destroy();
      if (id < 0) return;
      const auth = req.headers['proxy-authorization'];
      void this.decideConnect(id, { target: req.url ?? '', proxyAuthorization: auth }, channel, started);
    });
    http.on('request', (req: IncomingMessage, res: ServerResponse) => {
      void this.onRequest(req, res, channel);
    });
    http.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (!socket.writable) return void socket.destroy();
      if (err.code === 'HPE_HEADER_OVERFLOW')
        socket.end(errorResponse(431, `the request head is larger than ${maxHeaderBytes} bytes`));
      else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
        socket.end(errorResponse(408, 'the request did not arrive in time'));
      else socket.end(errorResponse(400, `malformed request (${err.code ?? 'unparseable'})`));
    });
    return { id, http, channel };
  }

  private stop(listener: Listener): void {
    this.listeners.delete(listener.id);
    this.relay.unlisten(listener.id);
    listener.http.closeAllConnections();
  }

  /** Cuts an admitted connection; a tunnel's record comes when the relay reports it closed. */
  private cut(key: number | ClientEnd, o: Open): void {
    this.open.delete(key);
    if (typeof key === 'number') this.cutting.set(key, o as Tunnel);
    o.cut();
  }

  /** A connection for node:http: anything but a CONNECT, GET or HEAD, with the bytes read. */
  private onHandoff(listenerId: number, fd: number, bytes: Buffer): void {
    const listener = this.listeners.get(listenerId);
    if (!listener) return closeSync(fd); // its listener closed meanwhile (a run that ended)
    toHttp(new Socket({ fd, readable: true, writable: true, allowHalfOpen: true }), listener.http, bytes);
  }

  /**
   * A head the relay read: a CONNECT, decided here and tunnelled by the relay; or a GET or HEAD
   * with nothing after it, answered here through the relay when the front door's parser takes
   * it, else given to node:http.
   */
  private onHead(id: number, listenerId: number, block: Buffer): void {
    const started = performance.now();
    const listener = this.listeners.get(listenerId);
    if (!listener) return this.relay.reject(id, Buffer.from(errorResponse(503, 'this listener has closed')));
    const text = block.toString('latin1');
    if (text.startsWith('CONNECT ')) {
      const req = parseConnect(text);
      if (!req) return this.relay.reject(id, Buffer.from(errorResponse(400, 'malformed CONNECT request')));
      return void this.decideConnect(id, req, listener.channel, started);
    }
    const req = parsePlain(text);
    if (req) return void this.onPlain(req, new RelayAnswer(this.relay, this.answering, id), listener.channel);
    const fd = this.relay.handoff(id);
    if (fd >= 0) this.onHandoff(listenerId, fd, Buffer.concat([block, HEAD_END]));
  }

  /** The kill switch for external traffic: every tunnel cut, new connections refused. */
  setKillSwitch(on: boolean): number {
    this.killed = on;
    if (!on) return 0;
    const n = this.open.size;
    for (const [key, o] of this.open) this.cut(key, o);
    this.pools.closeAll();
    this.originPool.close();
    return n;
  }

  /**
   * After a ban: cuts every tunnel to an address the guard now refuses, and drops every pooled
   * connection (they are made again, to addresses checked anew). Returns the tunnels cut.
   */
  enforceGuard(): number {
    let cut = 0;
    for (const [key, o] of this.open) {
      const a = numericHost(o.address);
      if (a && !this.opts.guard.check(a).allowed) {
        this.cut(key, o);
        cut++;
      }
    }
    this.pools.closeAll();
    this.originPool.close();
    return cut;
  }

  get killSwitch(): boolean {
    return this.killed;
  }

  /** Open connections: tunnels, and plain exchanges under way. */
  get openTunnels(): number {
    return this.open.size;
  }

  /** Stops listening and cuts everything; resolves once every tunnel's end is recorded. */
  async close(): Promise<void> {
    this.setKillSwitch(true);
    this.channels.clear();
    for (const l of [...this.listeners.values()]) this.stop(l);
    if (this.cutting.size > 0)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2_000);
        this.drained = () => (clearTimeout(t), resolve());
      });
    this.relay.close();
    // Plain answers still being admitted: the relay has closed their connections.
    for (const a of [...this.answering.values()]) a.lost();
    this.timeouts.close();
  }

  private identify(proxyAuthorization: string | undefined, channel: EgressCaller | undefined): EgressCaller {
    if (channel) return channel;
    const token = tokenFrom(proxyAuthorization);
    if (!token) throw new Refusal(407, 'deny', 'a workload token is required (Proxy-Authorization)');
    const who = this.opts.deps.authenticate(token);
    if (typeof who === 'string') throw new Refusal(407, 'deny', `workload token refused: ${who}`);
    return who;
  }

  /** Everything up to and including the address check; returns where to connect. */
  private async admit(caller: EgressCaller, t: Target): Promise<Admitted> {
    if (this.killed) throw new Refusal(503, 'deny', 'egress is switched off (kill switch)');
    const wait = this.opts.deps.rateLimit?.(caller) ?? 0;
    if (wait > 0) throw new Refusal(429, 'deny', `rate limit: retry in ${Math.ceil(wait / 1000)} s`);
    const profile = this.opts.deps.profileFor(caller);
    if ((this.perAgent.get(caller.agent) ?? 0) >= profile.maxConnections)
      throw new Refusal(429, 'deny', `agent ${caller.agent} has ${profile.maxConnections} connections open`);
    const hostKey = t.numeric ? t.numeric.text : t.host;
    // Deny rules first. Then a configured allow rule, or else the policy decision point (the
    // agent's own egress list lives there); with neither, nothing is allowed.
    let wouldDeny: Refusal | undefined;
    let rule: HostRule | undefined;
    let policyReason: string | undefined;
    const deny = profile.deny.match(hostKey, t.port);
    if (deny)
      wouldDeny = new Refusal(403, 'deny', `denied by ${deny.pattern} (${deny.source})`, deny.pattern);
    else rule = profile.allow.match(hostKey, t.port);
    if (!deny && !rule) {
      if (this.opts.deps.decide) {
        let d: { allow: boolean; reason: string };
        try {
          d = await this.opts.deps.decide(caller, hostKey, t.port);
        } catch (e) {
          throw new Refusal(503, 'error', `policy decision failed: ${messageOf(e)}`);
        }
        if (!d.allow) wouldDeny = new Refusal(403, 'deny', `policy: ${d.reason}`);
        else policyReason = `policy: ${d.reason}`;
      } else wouldDeny = new Refusal(403, 'deny', `no rule allows ${hostKey}:${t.port}`);
    }
    if (wouldDeny && profile.mode === 'enforce') throw wouldDeny;
    // The address guard is enforced in every mode.
    let addresses: Address[];
    if (t.numeric) addresses = [t.numeric];
    else {
      this.stats.lookups++;
      let found: { address: string; family: number }[];
      try {
        found = await this.resolve(t.host);
      } catch (e) {
        this.opts.deps.onLookup?.(caller, t.host, e as Error);
        throw new Refusal(
          502,
          'error',
          `cannot resolve ${t.host}: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`,
        );
      }
      this.opts.deps.onLookup?.(
        caller,
        t.host,
        found.map((f) => f.address),
      );
      addresses = found.map((f) => numericHost(f.address)).filter((a): a is Address => a !== undefined);
      if (addresses.length === 0) throw new Refusal(502, 'error', `${t.host} has no usable address`);
    }
    // A name with any forbidden address is refused outright: a resolver answering with a public
    // and a private address is how rebinding starts.
    for (const a of addresses) {
      const v = this.opts.guard.check(a);
      if (!v.allowed) throw new Refusal(403, 'deny', `address guard: ${v.reason}`, undefined, a.text);
    }
    const address = addresses[0]!.text;
    if (wouldDeny) return { address, note: `would deny: ${wouldDeny.message}` };
    return { address, ...(rule ? { rule } : {}), ...(policyReason ? { allowedBy: policyReason } : {}) };
  }

  private finish(
    base: Omit<ConnectionRecord, 'id' | 'decision' | 'reason' | 'durationMs' | 'bytesUp' | 'bytesDown'>,
    started: number,
    outcome: { decision: EgressDecision; reason: string; up?: number; down?: number },
  ): void {
    if (outcome.decision === 'allow') this.stats.allowed++;
    else if (outcome.decision === 'would_deny') this.stats.wouldDeny++;
    else this.stats.denied++;
    this.stats.bytesUp += outcome.up ?? 0;
    this.stats.bytesDown += outcome.down ?? 0;
    this.opts.deps.record({
      id: this.nextId++,
      ...base,
      decision: outcome.decision,
      reason: outcome.reason,
      bytesUp: outcome.up ?? 0,
      bytesDown: outcome.down ?? 0,
      durationMs: Math.round(performance.now() - started),
    });
  }

  /** Records the end of a connection that was let through; `failure` when the origin side failed. */
  private finishAdmitted(p: Passage, up: number, down: number, failure?: string): void {
    const { method, caller, target, admitted, started } = p;
    const { address, rule, note, allowedBy } = admitted;
    this.finish(
      {
        agent: caller.agent,
        run: caller.run,
        method,
        host: target.host,
        port: target.port,
        address,
        ...(rule ? { rule: rule.pattern } : {}),
      },
      started,
      {
        decision: failure ? 'error' : note ? 'would_deny' : 'allow',
        reason:
          failure ??
          note ??
          (rule ? `allowed by ${rule.pattern} (${rule.source})` : (allowedBy ?? 'allowed')),
        up,
        down,
      },
    );
  }

  /** Records a connection that was refused (or failed before it was let through). */
  private refused(
    method: ConnectionRecord['method'],
    caller: EgressCaller | undefined,
    host: string,
    port: number | undefined,
    r: Refusal,
    started: number,
  ): void {
    this.finish(
      {
        agent: caller?.agent ?? '?',
        run: caller?.run ?? '?',
        method,
        host,
        port: port ?? 0,
        ...(r.address ? { address: r.address } : {}),
        ...(r.rule ? { rule: r.rule } : {}),
      },
      started,
      { decision: r.decision, reason: r.message },
    );
  }

  private hold(agent: string, d: number): void {
    const n = (this.perAgent.get(agent) ?? 0) + d;
    if (n <= 0) this.perAgent.delete(agent);
    else this.perAgent.set(agent, n);
  }

  /**
   * Decides a CONNECT (or a SOCKS5 request, `dialect`) the relay holds: a tunnel to the checked
   * address, or a refusal.
   */
  private async decideConnect(
    id: number,
    req: ConnectRequest,
    channel: EgressCaller | undefined,
    started: number,
    dialect: Dialect = CONNECT_DIALECT,
  ): Promise<void> {
    const target = parseTarget(req.target);
    let caller: EgressCaller | undefined;
    try {
      caller = this.identify(req.proxyAuthorization, channel);
      if (!target) throw new Refusal(400, 'deny', `"${req.target}" is not host:port`);
      const admitted = await this.admit(caller, target);
      const passage: Passage = { method: dialect.method, caller, target, admitted, started };
      const tunnel: Tunnel = {
        run: caller.run,
        address: admitted.address,
        passage,
        dialect,
        cut: () => this.relay.cut(id),
      };
      this.open.set(id, tunnel);
      this.hold(caller.agent, 1);
      this.relay.tunnel(id, admitted.address, target.port, this.connectTimeoutMs);
    } catch (e) {
      const r = e instanceof Refusal ? e : new Refusal(500, 'error', messageOf(e));
      this.relay.reject(id, dialect.answer(r));
      this.refused(
        dialect.method,
        caller,
        target?.host ?? req.target.slice(0, 255),
        target?.port,
        r,
        started,
      );
    }
  }

  /** A SOCKS5 handshake the relay framed: its request decided as a CONNECT's is. */
  private onSocks(id: number, listenerId: number, bytes: Buffer, requestAt: number, authAt: number): void {
    const started = performance.now();
    const listener = this.listeners.get(listenerId);
    if (!listener) return this.relay.reject(id, socksReply(SOCKS_REPLY.generalFailure));
    let req: SocksRequest;
    try {
      req = parseSocks(bytes, requestAt, authAt);
    } catch (e) {
      const s = e as SocksRefusal;
      this.relay.reject(id, socksReply(s.reply));
      return this.refused(
        'SOCKS5',
        listener.channel,
        '?',
        undefined,
        new Refusal(400, 'deny', s.message),
        started,
      );
    }
    // SOCKS5 is served on run channels only, where the channel says who is calling. A workload
    // token (about 500 bytes) cannot be a SOCKS5 password (RFC 1929: at most 255), so a caller
    // on the TCP listener has no way to say who it is here: it uses HTTP CONNECT instead.
    if (!listener.channel) {
      this.relay.reject(id, socksReply(SOCKS_REPLY.notAllowed));
      const at = req.target.lastIndexOf(':');
      return this.refused(
        'SOCKS5',
        undefined,
        req.target.slice(0, at),
        Number(req.target.slice(at + 1)),
        new Refusal(407, 'deny', SOCKS_TOKEN_CALLERS),
        started,
      );
    }
    void this.decideConnect(
      id,
      { target: req.target, proxyAuthorization: undefined },
      listener.channel,
      started,
      SOCKS_DIALECT,
    );
  }

  /** The tunnel this relay id is, taken out of the open (or cut) set. */
  private ended(id: number): Tunnel | undefined {
    const t = (this.open.get(id) ?? this.cutting.get(id)) as Tunnel | undefined;
    if (!t) return undefined;
    this.open.delete(id);
    this.cutting.delete(id);
    this.hold(t.passage.caller.agent, -1);
    if (this.cutting.size === 0) this.drained?.();
    return t;
  }

  /** The relay could not connect a tunnel: refused with 502 and recorded as an error. */
  private onFailed(id: number, errno: number): void {
    const t = this.ended(id);
    if (!t) return;
    const { caller, target, admitted, started } = t.passage;
    const name = errnoName(errno);
    const why = name === 'ETIMEDOUT' ? `no answer within ${this.connectTimeoutMs} ms` : name;
    const r = new Refusal(
      502,
      'error',
      `cannot connect to ${target.host}:${target.port} (${admitted.address}): ${why}`,
      admitted.rule?.pattern,
      admitted.address,
    );
    this.relay.reject(id, t.dialect.answer(r, name));
    this.refused(t.dialect.method, caller, target.host, target.port, r, started);
  }

  private onClosed(id: number, up: number, down: number): void {
    const answer = this.answering.get(id);
    if (answer) return answer.lost();
    const t = this.ended(id);
    if (t) this.finishAdmitted(t.passage, up, down);
  }

  /**
   * Connects to the address admission checked, for a plain exchange. `onread` gets every read
   * from the origin (into one reused buffer). Failing to connect is a Refusal (502).
   */
  private openOrigin(
    target: Target,
    admitted: Admitted,
    onread: (n: number, buf: Uint8Array) => boolean,
  ): Promise<Socket> {
    const { address, rule } = admitted;
    const upstream: Socket = netConnect({
      host: address,
      port: target.port,
      allowHalfOpen: true,
      onread: { buffer: this.reads, callback: onread },
    });
    this.timeouts.after(upstream, this.connectTimeoutMs, () =>
      upstream.destroy(new Error('connect timeout')),
    );
    return new Promise<Socket>((resolve, reject) => {
      const failed = (e: Error): void =>
        reject(
          new Refusal(
            502,
            'error',
            `cannot connect to ${target.host}:${target.port} (${address}): ${e.message}`,
            rule?.pattern,
            address,
          ),
        );
      upstream.once('error', failed);
      upstream.once('connect', () => {
        upstream.off('error', failed);
        this.timeouts.clear(upstream);
        resolve(upstream);
      });
    });
  }

  /** A fresh connection for plain exchanges (see plain.ts), whose reads go to its current user. */
  private async connectOrigin(target: Target, admitted: Admitted): Promise<OriginConn> {
    // Reads arrive only after a request has been written, by when `c` exists.
    const socket = await this.openOrigin(target, admitted, (n, buf) => c.onread(n, buf));
    const c: OriginConn = { socket, onread: () => true, onend: () => undefined, uses: 0 };
    const ended = (): void => c.onend();
    socket.on('end', ended);
    socket.on('error', ended);
    socket.on('close', ended);
    socket.setNoDelay(true);
    return c;
  }

  /**
   * A plain GET or HEAD the front door took: admitted like a tunnel, then exchanged with the
   * origin (plain.ts) over a kept-alive connection of the same run to the same checked address
   * when there is one. The client's connection carries this one request and closes after it.
   */
  private async onPlain(
    req: PlainRequest,
    client: RelayAnswer,
    channel: EgressCaller | undefined,
  ): Promise<void> {
    const started = performance.now();
    let caller: EgressCaller | undefined;
    let target: Target | undefined;
    try {
      caller = this.identify(req.proxyAuthorization, channel);
      const rest = req.uri.slice('http://'.length);
      const cut = rest.search(/[/?]/);
      const authority = cut < 0 ? rest : rest.slice(0, cut);
      const path = cut < 0 ? '/' : rest[cut] === '?' ? `/${rest.slice(cut)}` : rest.slice(cut);
      if (authority.includes('@')) throw new Refusal(400, 'deny', 'credentials in the URL are refused');
      target = parseTarget(authority, 80);
      if (!target) throw new Refusal(400, 'deny', `"${authority.slice(0, 255)}" is not a valid host`);
      const admitted = await this.admit(caller, target);
      const host = target.port === 80 ? target.host : `${target.host}:${target.port}`;
      const request = originRequest(req.method, path, host, req.headers);
      await this.exchangePlain(
        { method: 'HTTP', caller, target, admitted, started },
        client,
        req.method,
        request,
      );
    } catch (e) {
      const r = e instanceof Refusal ? e : new Refusal(500, 'error', messageOf(e));
      client.end(refusal(r));
      this.refused('HTTP', caller, target?.host ?? '?', target?.port, r, started);
    }
  }

  /**
   * Sends an admitted plain request (its head already written for the origin) and relays the
   * answer; holds the client's connection in the open set until the exchange has ended.
   */
  private async exchangePlain(
    p: Passage,
    client: RelayAnswer,
    method: string,
    request: string,
  ): Promise<void> {
    const { caller, target, admitted } = p;
    const key = OriginPool.key(caller.run, admitted.address, target.port);
    const maxHeaderBytes = this.maxHeaderBytes;
    this.open.set(client, { run: caller.run, address: admitted.address, cut: () => client.destroy() });
    this.hold(caller.agent, 1);
    let exchange: PlainExchange | undefined;
    let settled = false;
    /** The end of the request, once: recorded as allowed, or as an error with its reason. */
    const settle = (failure?: string): void => {
      if (settled) return;
      settled = true;
      this.open.delete(client);
      this.hold(caller.agent, -1);
      this.finishAdmitted(p, 0, exchange?.bodyBytes ?? 0, failure);
    };
    client.onClose = () => {
      exchange?.abort();
      settle();
    };
    client.onDrain = () => exchange?.drained();
    const failed = (e: Error): void => {
      client.end(refusal(e instanceof Refusal ? e : new Refusal(502, 'error', e.message)));
      settle(e.message);
    };
    // A kept-alive connection of this run to this address when there is one; a fresh one when
    // there is none, or when the kept one turns out to have been closed by the origin.
    const attempt = async (fresh: boolean): Promise<void> => {
      const conn = (!fresh && this.originPool.take(key)) || (await this.connectOrigin(target, admitted));
      if (client.closed) return void conn.socket.destroy();
      exchange = new PlainExchange(client, conn, method, maxHeaderBytes, (end) => {
        if (!end.ok && end.stale) return void attempt(true).catch(failed);
        if (!end.ok) return settle(end.byClient ? undefined : `bad gateway: ${end.reason}`);
        conn.uses++;
        if (end.reusable) this.originPool.put(key, conn);
        settle();
      });
      conn.socket.write(request);
    };
    await attempt(false).catch(failed);
  }

  private async onRequest(
    req: IncomingMessage,
    res: ServerResponse,
    channel: EgressCaller | undefined,
  ): Promise<void> {
    const started = performance.now();
    let caller: EgressCaller | undefined;
    let target: Target | undefined;
    try {
      caller = this.identify(req.headers['proxy-authorization'], channel);
      let url: URL;
      try {
        url = new URL(req.url ?? '');
      } catch {
        throw new Refusal(400, 'deny', 'a proxy request needs an absolute http:// URI');
      }
      if (url.protocol !== 'http:')
        throw new Refusal(400, 'deny', `${url.protocol} is not proxied as a request; use CONNECT`);
      if (url.username || url.password) throw new Refusal(400, 'deny', 'credentials in the URL are refused');
      target = parseTarget(url.host, 80);
      if (!target) throw new Refusal(400, 'deny', `"${url.host}" is not a valid host`);
      const admitted = await this.admit(caller, target);
      const { address } = admitted;
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
      headers['host'] = url.host;
      this.hold(caller.agent, 1);
      let up = 0;
      let down = 0;
      req.on('data', (c: Buffer) => (up += c.length));
      const upstream = httpRequest({
        host: address,
        port: target.port,
        method: req.method,
        path: url.pathname + url.search,
        headers,
        timeout: this.connectTimeoutMs,
        // Connections to a checked address are pooled, keyed by that address (never by name) in
        // a pool of the run's own: a kept-alive connection never carries another run's request,
        // so an origin that sends more than it was asked for cannot answer someone else.
        agent: this.pools.for(caller.run),
      });
      const c = caller;
      const t = target;
      upstream.on('response', (ur) => {
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(ur.headers))
          if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
        res.writeHead(ur.statusCode ?? 502, out);
        ur.on('data', (chunk: Buffer) => (down += chunk.length));
        ur.pipe(res);
      });
      res.on('close', () => {
        upstream.destroy();
        this.hold(c.agent, -1);
        this.finishAdmitted({ method: 'HTTP', caller: c, target: t, admitted, started }, up, down);
      });
      upstream.on('timeout', () => upstream.destroy(new Error('timeout')));
      upstream.on('error', (e) => {
        if (!res.headersSent)
          res.writeHead(502, { 'content-type': 'text/plain' }).end(`upstream error: ${e.message}\n`);
        else res.destroy();
      });
      req.pipe(upstream);
    } catch (e) {
      const r = e instanceof Refusal ? e : new Refusal(500, 'error', messageOf(e));
      res.writeHead(r.status, {
        'content-type': 'text/plain',
        connection: 'close',
        ...(r.status === 407 ? { 'proxy-authenticate': 'Bearer realm="rampart"' } : {}),
      });
      res.end(r.message + '\n');
      this.refused('HTTP', caller, target?.host ?? '?', target?.port, r, started);
    }
  }
}

/**
 * One HTTP agent (pool of kept-alive origin connections) per run, the least recently used
 * dropped past `max`. Idle connections close after a few seconds: an origin that has closed its
 * side is not found out by the next request.
 */
class UpstreamPools {
  private readonly agents = new Map<string, Agent>();

  constructor(private readonly max: number) {}

  for(run: string): Agent {
    let agent = this.agents.get(run);
    if (agent) this.agents.delete(run);
    else agent = new Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 8, timeout: 4_000 });
    this.agents.set(run, agent);
    if (this.agents.size > this.max) {
      const [oldest] = this.agents.keys();
      this.close(oldest!);
    }
    return agent;
  }

  close(run: string): void {
    this.agents.get(run)?.destroy();
    this.agents.delete(run);
  }

  closeAll(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}

/** The answer to a refusal, on a connection the proxy answers itself. */
function refusal(r: Refusal): Buffer {
  const headers = r.status === 407 ? 'proxy-authenticate: Bearer realm="rampart"\r\n' : '';
  return Buffer.from(errorResponse(r.status, r.message, headers));
}

const ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');

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
// Parsing: the front door (front.ts) reads each connection's first request with its own strict
// parser and takes CONNECT and plain GET/HEAD itself; everything else goes to node:http (llhttp).
// Both bound the header size and time (slowloris); node:http refuses conflicting
// Content-Length/Transfer-Encoding. Tunnels relay with backpressure and honour half-close; plain
// exchanges (plain.ts) keep origin connections per run and checked address.

import { lookup } from 'node:dns/promises';
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import {
  connect as netConnect,
  createServer as netServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { acceptConnection, type ConnectRequest, type PlainRequest } from './front.js';
import { errorResponse, HOP_BY_HOP, originRequest } from './http1.js';
import { OriginPool, PlainExchange, type OriginConn } from './plain.js';
import { forward, forwardReads, ReadBuffers, relayRead } from './relay.js';
import type { Duplex } from 'node:stream';
import { Timeouts } from './timeouts.js';
import type { AddressGuard } from './address.js';
import { numericHost, type Address } from './address.js';
import type { HostMatcher } from './hosts.js';
import { normalizeHost, type HostRule } from './hosts.js';

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
  readonly method: 'CONNECT' | 'HTTP';
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

/** One listening address: the front door, and node:http behind it for plain requests. */
interface Listener {
  readonly front: NetServer;
  readonly http: Server;
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
  readonly method: 'CONNECT' | 'HTTP';
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
  private readonly servers = new Set<Listener>();
  /** Per-run channels, by run id. */
  private readonly channels = new Map<string, Listener>();
  /** Open tunnels, by their client socket: the run each belongs to and the address it reaches. */
  private readonly tunnels = new Map<Duplex, { readonly run: string; readonly address: string }>();
  private readonly perAgent = new Map<string, number>();
  private killed = false;
  /** Kept-alive connections to origins for plain HTTP requests, one pool per run. */
  private readonly pools = new UpstreamPools(1024);
  private nextId = 1;
  /** Where every tunnel's origin-side reads land (see ReadBuffers). */
  private readonly reads = new ReadBuffers(256 * 1024);
  readonly stats = { allowed: 0, denied: 0, wouldDeny: 0, bytesUp: 0, bytesDown: 0, lookups: 0 };
  private readonly resolve: (host: string) => Promise<{ address: string; family: number }[]>;
  private readonly timeouts: Timeouts;
  /** Kept-alive origin connections of plain exchanges, per run and checked address. */
  private readonly originPool: OriginPool;

  constructor(private readonly opts: EgressOptions) {
    this.resolve = opts.deps.resolve ?? ((h) => lookup(h, { all: true, verbatim: true }));
    const shortest = Math.min(opts.headersTimeoutMs ?? 10_000, opts.connectTimeoutMs ?? 10_000);
    this.timeouts = new Timeouts(Math.max(10, Math.min(1_000, Math.floor(shortest / 4))));
    this.originPool = new OriginPool(this.timeouts, 8, 4_000);
  }

  /** Listens for callers that authenticate with a workload token. */
  listen(port: number, host: string): Promise<NetServer> {
    return this.serve((s) => s.listen(port, host), undefined);
  }

  /** Listens on a run's own channel (a unix socket bound into its sandbox): the caller is known. */
  async listenChannel(path: string, caller: EgressCaller): Promise<NetServer> {
    if (this.channels.has(caller.run)) throw new TypeError(`run ${caller.run} already has a channel`);
    const listener = this.listener({ ...caller, via: 'channel' });
    this.channels.set(caller.run, listener);
    return this.start(listener, (s) => s.listen(path));
  }

  /** Closes a run's channel and cuts its tunnels (the run has ended). */
  closeChannel(run: string): boolean {
    const listener = this.channels.get(run);
    if (!listener) return false;
    this.channels.delete(run);
    void this.stop(listener);
    for (const [t, { run: r }] of this.tunnels) if (r === run) t.destroy();
    this.pools.close(run);
    this.originPool.close(run);
    return true;
  }

  get openChannels(): number {
    return this.channels.size;
  }

  /** Listens with the front door in front of a node:http server for everything but CONNECT. */
  private serve(start: (s: NetServer) => void, channel: EgressCaller | undefined): Promise<NetServer> {
    return this.start(this.listener(channel), start);
  }

  private listener(channel: EgressCaller | undefined): Listener {
    const maxHeaderBytes = this.opts.maxHeaderBytes ?? 16 * 1024;
    const headersTimeoutMs = this.opts.headersTimeoutMs ?? 10_000;
    const http = createServer({
      maxHeaderSize: maxHeaderBytes,
      headersTimeout: headersTimeoutMs,
      requestTimeout: 60_000,
      keepAliveTimeout: 5_000,
      // How often those timeouts are enforced (Node's default, 30 s, would let slowloris linger).
      connectionsCheckingInterval: 1_000,
    });
    // A CONNECT after other requests on a kept-alive connection reaches node:http.
    http.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const auth = req.headers['proxy-authorization'];
      void this.onConnect({ target: req.url ?? '', proxyAuthorization: auth }, socket, head, channel);
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
    const front = netServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
      acceptConnection(socket, {
        maxHeaderBytes,
        headersTimeoutMs,
        timeouts: this.timeouts,
        http,
        onConnect: (req, sock, head) => void this.onConnect(req, sock, head, channel),
        onPlain: (req, sock) => void this.onPlain(req, sock, channel),
      }),
    );
    return { front, http };
  }

  private start(listener: Listener, start: (s: NetServer) => void): Promise<NetServer> {
    this.servers.add(listener);
    const { front } = listener;
    return new Promise((resolve, reject) => {
      front.once('error', reject);
      front.once('listening', () => resolve(front));
      start(front);
    });
  }

  private stop(listener: Listener): Promise<void> {
    this.servers.delete(listener);
    return new Promise<void>((r) => {
      listener.front.close(() => r());
      listener.http.closeAllConnections();
    });
  }

  /** The kill switch for external traffic: every tunnel cut, new connections refused. */
  setKillSwitch(on: boolean): number {
    this.killed = on;
    if (!on) return 0;
    const n = this.tunnels.size;
    for (const t of this.tunnels.keys()) t.destroy();
    this.tunnels.clear();
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
    for (const [t, { address }] of this.tunnels) {
      const a = numericHost(address);
      if (a && !this.opts.guard.check(a).allowed) {
        t.destroy();
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

  /** Open tunnels (each is two sockets). */
  get openTunnels(): number {
    return this.tunnels.size;
  }

  async close(): Promise<void> {
    this.setKillSwitch(true);
    this.channels.clear();
    await Promise.all([...this.servers].map((l) => this.stop(l)));
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
          throw new Refusal(503, 'error', `policy decision failed: ${(e as Error).message}`);
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
          `cannot resolve ${t.host}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
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
    method: 'CONNECT' | 'HTTP',
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

  private async onConnect(
    req: ConnectRequest,
    client: Duplex,
    head: Buffer,
    channel: EgressCaller | undefined,
  ): Promise<void> {
    const started = performance.now();
    client.on('error', () => client.destroy());
    const target = parseTarget(req.target);
    let caller: EgressCaller | undefined;
    try {
      caller = this.identify(req.proxyAuthorization, channel);
      if (!target) throw new Refusal(400, 'deny', `"${req.target}" is not host:port`);
      const admitted = await this.admit(caller, target);
      // The origin's bytes are read into a reused buffer and written on to the client in the same
      // callback (see ReadBuffers): no allocation per read, and 256 KiB reads instead of 64 KiB.
      const upstream = await this.openOrigin(target, admitted, (n, buf) =>
        relayRead(client, this.reads, n, buf),
      );
      client.write(ESTABLISHED);
      if (head.length > 0) upstream.write(head);
      const p = { method: 'CONNECT' as const, caller, target, admitted, started };
      this.pipeTunnel(p, client as Socket, upstream, head.length);
    } catch (e) {
      const r = e instanceof Refusal ? e : new Refusal(500, 'error', (e as Error).message);
      refuseRaw(client, r);
      this.refused('CONNECT', caller, target?.host ?? req.target.slice(0, 255), target?.port, r, started);
    }
  }

  /**
   * Connects to the address admission checked. `onread` gets every read from the origin (into a
   * reused buffer, see ReadBuffers). Failing to connect is a Refusal (502).
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
      onread: { buffer: () => this.reads.next(), callback: onread },
    });
    this.timeouts.after(upstream, this.opts.connectTimeoutMs ?? 10_000, () =>
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
   * Holds an admitted connection until either side closes: in the open set (the kill switch,
   * bans and a run's end cut it from there), counted against the agent, recorded at its end.
   * `bytes` says, at the end, what went up and what came down.
   */
  private track(p: Passage, client: Socket, upstream: Socket, bytes: () => readonly [number, number]): void {
    const { caller, admitted } = p;
    // Keyed by the client side: destroying it (kill switch, channel closed) ends the connection.
    this.tunnels.set(client, { run: caller.run, address: admitted.address });
    this.hold(caller.agent, 1);
    this.timeouts.watchIdle(client, upstream, this.opts.idleTimeoutMs ?? 300_000);
    let done = false;
    const end = (): void => {
      if (done) return;
      done = true;
      client.destroy();
      upstream.destroy();
      this.timeouts.unwatch(client);
      this.tunnels.delete(client);
      this.hold(caller.agent, -1);
      const [up, down] = bytes();
      this.finishAdmitted(p, up, down);
    };
    client.on('close', end);
    upstream.on('close', end);
  }

  private pipeTunnel(p: Passage, client: Socket, upstream: Socket, headBytes: number): void {
    // Bytes are read off the sockets' own counters at the end: a 'data' listener on each side
    // would cost a callback per chunk on the hot path.
    const readBefore = client.bytesRead; // the CONNECT request itself (and any head)
    this.track(p, client, upstream, () => [headBytes + client.bytesRead - readBefore, upstream.bytesRead]);
    forward(client, upstream);
    forwardReads(upstream, client);
    upstream.on('error', () => client.destroy());
  }

  /**
   * A plain GET or HEAD the front door took: admitted like a tunnel, then exchanged with the
   * origin (plain.ts) over a kept-alive connection of the same run to the same checked address
   * when there is one. The client's connection carries this one request and closes after it.
   */
  private async onPlain(req: PlainRequest, client: Socket, channel: EgressCaller | undefined): Promise<void> {
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
      const r = e instanceof Refusal ? e : new Refusal(500, 'error', (e as Error).message);
      refuseRaw(client, r);
      this.refused('HTTP', caller, target?.host ?? '?', target?.port, r, started);
    }
  }

  /**
   * Sends an admitted plain request (its head already written for the origin) and relays the
   * answer; holds the client's connection in the open set until the exchange has ended.
   */
  private async exchangePlain(p: Passage, client: Socket, method: string, request: string): Promise<void> {
    const { caller, target, admitted } = p;
    const key = OriginPool.key(caller.run, admitted.address, target.port);
    const maxHeaderBytes = this.opts.maxHeaderBytes ?? 16 * 1024;
    this.tunnels.set(client, { run: caller.run, address: admitted.address });
    this.hold(caller.agent, 1);
    let exchange: PlainExchange | undefined;
    let settled = false;
    /** The end of the request, once: recorded as allowed, or as an error with its reason. */
    const settle = (failure?: string): void => {
      if (settled) return;
      settled = true;
      this.tunnels.delete(client);
      this.hold(caller.agent, -1);
      this.finishAdmitted(p, 0, exchange?.bodyBytes ?? 0, failure);
    };
    client.on('close', () => {
      exchange?.abort();
      settle();
    });
    client.on('drain', () => exchange?.drained());
    const failed = (e: Error): void => {
      if (client.writable) refuseRaw(client, e instanceof Refusal ? e : new Refusal(502, 'error', e.message));
      settle(e.message);
    };
    // A kept-alive connection of this run to this address when there is one; a fresh one when
    // there is none, or when the kept one turns out to have been closed by the origin.
    const attempt = async (fresh: boolean): Promise<void> => {
      const conn = (!fresh && this.originPool.take(key)) || (await this.connectOrigin(target, admitted));
      if (client.destroyed) return void conn.socket.destroy();
      exchange = new PlainExchange(client, conn, this.reads, method, maxHeaderBytes, (end) => {
        if (!end.ok && end.stale) return void attempt(true).catch(failed);
        if (!end.ok) return settle(end.byClient ? undefined : `bad gateway: ${end.reason}`);
        conn.uses++;
        if (end.reusable) this.originPool.put(key, conn);
        this.timeouts.after(client, 5_000); // the client's side, once it has it all
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
        timeout: this.opts.connectTimeoutMs ?? 10_000,
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
      const r = e instanceof Refusal ? e : new Refusal(500, 'error', (e as Error).message);
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

/** Answers a refusal on a connection the front door took. */
function refuseRaw(client: Duplex, r: Refusal): void {
  if (!client.writable) return;
  const headers = r.status === 407 ? 'proxy-authenticate: Bearer realm="rampart"\r\n' : '';
  client.end(errorResponse(r.status, r.message, headers));
}

const ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');

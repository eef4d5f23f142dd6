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
import { closeSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Exchanges } from './exchanges.js';
import { socketFd } from './fd.js';
import { parseConnect, parsePlain, toHttp } from './front.js';
import { Gate } from './gate.js';
import { errorResponse } from './http1.js';
import { NativeRelay, type RelayEvents } from './native.js';
import { numericHost } from './address.js';
import { socksReply, SOCKS_REPLY } from './socks.js';
import { Timeouts } from './timeouts.js';
import { Tunnels } from './tunnels.js';
import type { EgressCaller, EgressOptions, Open } from './types.js';

export type {
  ConnectionRecord,
  EgressCaller,
  EgressDecision,
  EgressDeps,
  EgressOptions,
  EgressProfile,
} from './types.js';
export { parseTarget } from './types.js';

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

const ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');
const HEAD_END = Buffer.from('\r\n\r\n');

export class EgressProxy {
  /** Listeners, by the relay's id for them. */
  private readonly listeners = new Map<number, Listener>();
  /** Per-run channels, by run id. */
  private readonly channels = new Map<string, Listener>();
  private readonly relay: NativeRelay;
  private readonly gate: Gate;
  private readonly tunnels: Tunnels;
  private readonly exchanges: Exchanges;
  private readonly timeouts: Timeouts;
  private readonly maxHeaderBytes: number;
  private readonly headersTimeoutMs: number;

  constructor(private readonly opts: EgressOptions) {
    this.maxHeaderBytes = opts.maxHeaderBytes ?? 16 * 1024;
    this.headersTimeoutMs = opts.headersTimeoutMs ?? 10_000;
    const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    const idleTimeoutMs = opts.idleTimeoutMs ?? 300_000;
    const shortest = Math.min(this.headersTimeoutMs, connectTimeoutMs, idleTimeoutMs);
    const tickMs = Math.max(10, Math.min(1_000, Math.floor(shortest / 4)));
    this.timeouts = new Timeouts(tickMs);
    this.gate = new Gate(opts);
    const events: RelayEvents = {
      head: (id, listener, block) => this.onHead(id, listener, block),
      handoff: (_id, listener, fd, bytes) => this.onHandoff(listener, fd, bytes),
      failed: (id, errno) => this.tunnels.failed(id, errno),
      closed: (id, _how, _errno, up, down) => {
        const answer = this.exchanges.answering.get(id);
        if (answer) return answer.lost();
        this.tunnels.closed(id, up, down);
      },
      drained: (id) => this.exchanges.answering.get(id)?.onDrain(),
      socks: (id, listener, bytes, requestAt, authAt) => {
        const l = this.listeners.get(listener);
        if (!l) return this.relay.reject(id, socksReply(SOCKS_REPLY.generalFailure));
        this.tunnels.socks(id, l.channel, bytes, requestAt, authAt);
      },
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
    this.tunnels = new Tunnels(this.gate, this.relay, connectTimeoutMs, opts.interceptor);
    this.exchanges = new Exchanges(this.gate, this.relay, this.timeouts, {
      maxHeaderBytes: this.maxHeaderBytes,
      connectTimeoutMs,
    });
  }

  get stats(): Gate['stats'] {
    return this.gate.stats;
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
    for (const [key, o] of this.gate.open) if (o.run === run) this.cut(key, o);
    this.exchanges.drop(run);
    this.opts.interceptor?.drop(run);
    return true;
  }

  get openChannels(): number {
    return this.channels.size;
  }

  /** The kill switch for external traffic: every connection cut, new ones refused. */
  setKillSwitch(on: boolean): number {
    this.gate.killed = on;
    if (!on) return 0;
    const n = this.gate.open.size;
    for (const [key, o] of this.gate.open) this.cut(key, o);
    this.exchanges.drop();
    return n;
  }

  /**
   * After a ban: cuts every connection to an address the guard now refuses, and drops every
   * pooled connection (they are made again, to addresses checked anew). Returns those cut.
   */
  enforceGuard(): number {
    let cut = 0;
    for (const [key, o] of this.gate.open) {
      const a = numericHost(o.address);
      if (a && !this.opts.guard.check(a).allowed) {
        this.cut(key, o);
        cut++;
      }
    }
    this.exchanges.drop();
    return cut;
  }

  get killSwitch(): boolean {
    return this.gate.killed;
  }

  /** Open connections: tunnels, and plain exchanges under way (relay-answered or node:http). */
  get openTunnels(): number {
    return this.gate.open.size;
  }

  /** Stops listening and cuts everything; resolves once every tunnel's end is recorded. */
  async close(): Promise<void> {
    this.setKillSwitch(true);
    this.channels.clear();
    for (const l of [...this.listeners.values()]) this.stop(l);
    await this.tunnels.settle(2_000);
    this.relay.close();
    // Plain answers still being admitted: the relay has closed their connections.
    for (const a of [...this.exchanges.answering.values()]) a.lost();
    this.opts.interceptor?.close();
    this.timeouts.close();
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
      const fd = socketFd(socket);
      if (fd === undefined) return void socket.end(errorResponse(500, 'this connection cannot be tunnelled'));
      let id = -1;
      try {
        id = this.relay.adopt(fd, head);
      } catch {
        // the proxy is closing: the connection goes with it
      }
      socket.destroy();
      if (id < 0) return;
      const auth = req.headers['proxy-authorization'];
      void this.tunnels.decide(id, { target: req.url ?? '', proxyAuthorization: auth }, channel, started);
    });
    http.on('request', (req: IncomingMessage, res: ServerResponse) => {
      void this.exchanges.request(req, res, channel);
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
  private cut(key: number | object, o: Open): void {
    this.gate.open.delete(key);
    if (typeof key === 'number') this.tunnels.cut(key, o);
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
      return void this.tunnels.decide(id, req, listener.channel, started);
    }
    const req = parsePlain(text);
    if (req) return void this.exchanges.plain(req, this.exchanges.client(id), listener.channel);
    const fd = this.relay.handoff(id);
    if (fd >= 0) this.onHandoff(listenerId, fd, Buffer.concat([block, HEAD_END]));
  }
}

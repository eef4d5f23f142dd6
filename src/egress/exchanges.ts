// Plain HTTP requests: a GET or HEAD the front door parsed, answered through the relay (which
// holds the client's connection) over kept-alive origin connections of the same run and checked
// address (plain.ts); and any other request, which node:http parsed, exchanged through node:http
// with a pool of the run's own. Both read the request with the gate's one decision (plainTarget,
// originHeaders), are admitted by the gate, held in its open set while they last, and recorded.

import { Agent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { messageOf } from '../core/errors.js';
import type { PlainRequest } from './front.js';
import { originHeaders, plainTarget, type Gate } from './gate.js';
import { HOP_BY_HOP, originRequest } from './http1.js';
import type { NativeRelay } from './native.js';
import { OriginPool, PlainExchange, type ClientEnd, type OriginConn } from './plain.js';
import type { Timeouts } from './timeouts.js';
import { Refusal, refusal, type Admitted, type EgressCaller, type Passage, type Target } from './types.js';

const NOTHING = Buffer.alloc(0);

export interface ExchangeOptions {
  readonly maxHeaderBytes: number;
  readonly connectTimeoutMs: number;
}

export class Exchanges {
  /** Plain GETs and HEADs being answered through the relay, by its id for them. */
  readonly answering = new Map<number, RelayAnswer>();
  /** Kept-alive origin connections of relay-answered exchanges, per run and checked address. */
  private readonly originPool: OriginPool;
  /** Kept-alive connections to origins for node:http requests, one pool per run. */
  private readonly pools = new UpstreamPools(1024);
  /**
   * Where every origin read of a plain exchange lands: what is read is passed to the relay in
   * the same callback, and the relay keeps a copy of whatever it cannot send at once.
   */
  private readonly reads = Buffer.allocUnsafeSlow(256 * 1024);

  constructor(
    private readonly gate: Gate,
    private readonly relay: NativeRelay,
    private readonly timeouts: Timeouts,
    private readonly o: ExchangeOptions,
  ) {
    this.originPool = new OriginPool(timeouts, 8, 4_000);
  }

  /** A client the relay holds, for a plain request answered through it. */
  client(id: number): RelayAnswer {
    return new RelayAnswer(this.relay, this.answering, id);
  }

  /** Drops kept-alive origin connections: of one run, or all (they are made again, checked anew). */
  drop(run?: string): void {
    if (run === undefined) {
      this.pools.closeAll();
      this.originPool.close();
    } else {
      this.pools.close(run);
      this.originPool.close(run);
    }
  }

  /**
   * A plain GET or HEAD the front door took: admitted like a tunnel, then exchanged with the
   * origin (plain.ts) over a kept-alive connection of the same run to the same checked address
   * when there is one. The client's connection carries this one request and closes after it.
   */
  async plain(req: PlainRequest, client: RelayAnswer, channel: EgressCaller | undefined): Promise<void> {
    const started = performance.now();
    let caller: EgressCaller | undefined;
    let target: Target | undefined;
    let path: string | undefined;
    try {
      caller = this.gate.identify(req.proxyAuthorization, channel);
      const p = plainTarget(req.uri);
      target = p.target;
      path = p.path;
      const admitted = await this.gate.admit(caller, target, said(p.path, req.headers));
      const request = originRequest(req.method, p.path, p.host, originHeaders(req.headers));
      await this.exchange(
        { method: 'HTTP', caller, target, admitted, started, path },
        client,
        req.method,
        request,
      );
    } catch (e) {
      const r = e instanceof Refusal ? e : new Refusal(500, 'error', messageOf(e));
      client.end(refusal(r));
      this.gate.refused('HTTP', caller, target?.host ?? '?', target?.port, r, started, path);
    }
  }

  /**
   * Sends an admitted plain request (its head already written for the origin) and relays the
   * answer; holds the client's connection in the open set until the exchange has ended.
   */
  private async exchange(p: Passage, client: RelayAnswer, method: string, request: string): Promise<void> {
    const { caller, target, admitted } = p;
    const key = OriginPool.key(caller.run, admitted.address, admitted.port ?? target.port);
    const maxHeaderBytes = this.o.maxHeaderBytes;
    this.gate.hold(
      client,
      { run: caller.run, address: admitted.address, cut: () => client.destroy() },
      caller.agent,
    );
    let exchange: PlainExchange | undefined;
    let settled = false;
    /** The end of the request, once: recorded as allowed, or as an error with its reason. */
    const settle = (failure?: string): void => {
      if (settled) return;
      settled = true;
      this.gate.release(client, caller.agent);
      this.gate.finishAdmitted(p, 0, exchange?.bodyBytes ?? 0, failure);
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
      port: admitted.port ?? target.port,
      allowHalfOpen: true,
      onread: { buffer: this.reads, callback: onread },
    });
    this.timeouts.after(upstream, this.o.connectTimeoutMs, () =>
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
   * A request node:http parsed (anything the front door leaves to it): the same decision and
   * admission, then exchanged through node:http. Held in the open set while it lasts, so the
   * kill switch, bans and a run's end cut it, and counted like every other connection.
   */
  async request(req: IncomingMessage, res: ServerResponse, channel: EgressCaller | undefined): Promise<void> {
    const started = performance.now();
    let caller: EgressCaller | undefined;
    let target: Target | undefined;
    let path: string | undefined;
    try {
      caller = this.gate.identify(req.headers['proxy-authorization'], channel);
      const p = plainTarget(req.url ?? '');
      target = p.target;
      path = p.path;
      const raw: [string, string][] = [];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
        raw.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
      const admitted = await this.gate.admit(caller, target, said(p.path, raw));
      const headers = [['host', p.host], ...originHeaders(raw)].flat();
      let up = 0;
      let down = 0;
      req.on('data', (c: Buffer) => (up += c.length));
      const upstream = httpRequest({
        host: admitted.address,
        port: admitted.port ?? target.port,
        method: req.method,
        path: p.path,
        headers,
        timeout: this.o.connectTimeoutMs,
        // Connections to a checked address are pooled, keyed by that address (never by name) in
        // a pool of the run's own: a kept-alive connection never carries another run's request,
        // so an origin that sends more than it was asked for cannot answer someone else.
        agent: this.pools.for(caller.run),
      });
      const c = caller;
      const passage: Passage = { method: 'HTTP', caller: c, target, admitted, started, path: p.path };
      this.gate.hold(res, { run: c.run, address: admitted.address, cut: () => res.destroy() }, c.agent);
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
        this.gate.release(res, c.agent);
        this.gate.finishAdmitted(passage, up, down);
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
      this.gate.refused('HTTP', caller, target?.host ?? '?', target?.port, r, started, path);
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

/**
 * The client of a plain GET or HEAD, whose connection the relay holds: the answer goes out
 * through it. Registered by its relay id until it ends, for the relay's drained and closed.
 */
export class RelayAnswer implements ClientEnd {
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

/** What a plain request says besides its host: its path and its header values. */
function said(path: string, headers: readonly (readonly [string, string])[]): string {
  return [path, ...headers.map(([, v]) => v)].join('\n');
}

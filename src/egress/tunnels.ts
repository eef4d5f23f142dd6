// Tunnels: CONNECT requests and SOCKS5 handshakes the relay holds, decided by the gate and, when
// let through, connected and relayed by the relay to the address the gate checked. A tunnel is in
// the open set from its admission until the relay reports it closed (or failed), when it is
// recorded with the bytes it carried.

import { messageOf } from '../core/errors.js';
import type { ConnectRequest } from './front.js';
import type { Gate } from './gate.js';
import type { Interceptor } from './intercept.js';
import { errnoName, type NativeRelay } from './native.js';
import { parseSocks, SOCKS_REPLY, socksReply, type SocksRefusal, type SocksRequest } from './socks.js';
import {
  CONNECT_DIALECT,
  parseTarget,
  Refusal,
  SOCKS_DIALECT,
  SOCKS_TOKEN_CALLERS,
  type Dialect,
  type EgressCaller,
  type Open,
  type Passage,
  type Tunnel,
} from './types.js';

export class Tunnels {
  /** Tunnels cut and not yet reported closed by the relay (their records are still to come). */
  private readonly cutting = new Map<number, Tunnel>();
  /** Resolves close() once every cut tunnel has been reported (and recorded). */
  private drained: (() => void) | undefined;

  constructor(
    private readonly gate: Gate,
    private readonly relay: NativeRelay,
    private readonly connectTimeoutMs: number,
    private readonly interceptor?: Interceptor,
  ) {}

  /**
   * An admitted CONNECT to an inspected host: the connection is taken from the relay and its TLS
   * answered here. In the open set until it closes, when it is recorded like a tunnel.
   */
  private intercept(id: number, passage: Passage, interceptor: Interceptor): void {
    const taken = this.relay.take(id);
    if (!taken) return; // the client left while it was decided
    const key = {};
    const agent = passage.caller.agent;
    const open = interceptor.serve(passage, taken.fd, taken.rest, (up, down, failure) => {
      this.gate.release(key, agent);
      this.gate.finishAdmitted(passage, up, down, failure);
    });
    this.gate.hold(key, open, agent);
  }

  /** A tunnel cut by the kill switch, a ban or its run's end: its record comes when it closes. */
  cut(id: number, o: Open): void {
    this.cutting.set(id, o as Tunnel);
  }

  /** Resolves when every cut tunnel has been reported closed, or after `ms`. */
  async settle(ms: number): Promise<void> {
    if (this.cutting.size === 0) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.drained = () => (clearTimeout(t), resolve());
    });
  }

  /**
   * Decides a CONNECT (or a SOCKS5 request, `dialect`) the relay holds: a tunnel to the checked
   * address, or a refusal.
   */
  async decide(
    id: number,
    req: ConnectRequest,
    channel: EgressCaller | undefined,
    started: number,
    dialect: Dialect = CONNECT_DIALECT,
  ): Promise<void> {
    const target = parseTarget(req.target);
    let caller: EgressCaller | undefined;
    try {
      caller = this.gate.identify(req.proxyAuthorization, channel);
      if (!target) throw new Refusal(400, 'deny', `"${req.target}" is not host:port`);
      const admitted = await this.gate.admit(caller, target);
      const passage: Passage = { method: dialect.method, caller, target, admitted, started };
      const interceptor = this.interceptor;
      if (
        admitted.port === undefined &&
        interceptor?.inspects(target.numeric?.text ?? target.host, target.port)
      ) {
        if (dialect !== CONNECT_DIALECT)
          throw new Refusal(
            403,
            'deny',
            `${target.host} is inspected: it is reached over HTTP CONNECT, not SOCKS5`,
          );
        return this.intercept(id, passage, interceptor);
      }
      const tunnel: Tunnel = {
        run: caller.run,
        address: admitted.address,
        passage,
        dialect,
        cut: () => this.relay.cut(id),
      };
      this.gate.hold(id, tunnel, caller.agent);
      this.relay.tunnel(id, admitted.address, admitted.port ?? target.port, this.connectTimeoutMs);
    } catch (e) {
      const r = e instanceof Refusal ? e : new Refusal(500, 'error', messageOf(e));
      this.relay.reject(id, dialect.answer(r));
      this.gate.refused(
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
  socks(
    id: number,
    channel: EgressCaller | undefined,
    bytes: Buffer,
    requestAt: number,
    authAt: number,
  ): void {
    const started = performance.now();
    let req: SocksRequest;
    try {
      req = parseSocks(bytes, requestAt, authAt);
    } catch (e) {
      const s = e as SocksRefusal;
      this.relay.reject(id, socksReply(s.reply));
      return this.gate.refused(
        'SOCKS5',
        channel,
        '?',
        undefined,
        new Refusal(400, 'deny', s.message),
        started,
      );
    }
    // SOCKS5 is served on run channels only, where the channel says who is calling. A workload
    // token (about 500 bytes) cannot be a SOCKS5 password (RFC 1929: at most 255), so a caller
    // on the TCP listener has no way to say who it is here: it uses HTTP CONNECT instead.
    if (!channel) {
      this.relay.reject(id, socksReply(SOCKS_REPLY.notAllowed));
      const at = req.target.lastIndexOf(':');
      return this.gate.refused(
        'SOCKS5',
        undefined,
        req.target.slice(0, at),
        Number(req.target.slice(at + 1)),
        new Refusal(407, 'deny', SOCKS_TOKEN_CALLERS),
        started,
      );
    }
    void this.decide(
      id,
      { target: req.target, proxyAuthorization: undefined },
      channel,
      started,
      SOCKS_DIALECT,
    );
  }

  /** The relay could not connect a tunnel: refused with 502 and recorded as an error. */
  failed(id: number, errno: number): void {
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
    this.gate.refused(t.dialect.method, caller, target.host, target.port, r, started);
  }

  /** The relay closed a tunnel: recorded with its bytes. False when `id` is no tunnel. */
  closed(id: number, up: number, down: number): boolean {
    const t = this.ended(id);
    if (t) this.gate.finishAdmitted(t.passage, up, down);
    return t !== undefined;
  }

  /** The tunnel this relay id is, taken out of the open (or cut) set. */
  private ended(id: number): Tunnel | undefined {
    const t = (this.gate.open.get(id) ?? this.cutting.get(id)) as Tunnel | undefined;
    if (!t) return undefined;
    this.cutting.delete(id);
    this.gate.release(id, t.passage.caller.agent);
    if (this.cutting.size === 0) this.drained?.();
    return t;
  }
}

// Admission of a connection, and its record: the steps every connection goes through, whichever
// path carries it (a tunnel through the relay, a plain request answered through the relay, or a
// request node:http parsed), in this order, the first refusal deciding: who is calling, the kill
// switch, the agent's rate and connection limits, deny rules, allow rules or the policy decision
// point, then DNS once and the address guard on every address. What is let through is held in
// the open set (which the kill switch, bans and a run's end cut) until it is recorded.

import { lookup } from 'node:dns/promises';
import { RESERVED_SUFFIX, tokenFrom } from '../core/claims.js';
import { messageOf } from '../core/errors.js';
import { numericHost, type Address } from './address.js';
import { connectionOptions, HOP_BY_HOP, type HeaderList } from './http1.js';
import type { HostRule } from './hosts.js';
import {
  parseTarget,
  Refusal,
  type Admitted,
  type ConnectionRecord,
  type EgressCaller,
  type EgressDecision,
  type EgressOptions,
  type Open,
  type Passage,
  type Target,
} from './types.js';

/** A plain request, decided: where it goes, what path and Host it carries, what headers. */
export interface PlainTarget {
  readonly target: Target;
  readonly path: string;
  readonly host: string;
}

/**
 * The one reading of a plain request's URI, for every path that carries one: only absolute
 * http:// URIs, no credentials in the authority, a valid host and port. Throws a Refusal.
 */
export function plainTarget(uri: string): PlainTarget {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(uri);
  if (!scheme) throw new Refusal(400, 'deny', 'a proxy request needs an absolute http:// URI');
  const s = scheme[1]!.toLowerCase();
  if (s !== 'http') throw new Refusal(400, 'deny', `${s}: is not proxied as a request; use CONNECT`);
  const rest = uri.slice(scheme[0].length).split('#', 1)[0]!;
  const cut = rest.search(/[/?]/);
  const authority = cut < 0 ? rest : rest.slice(0, cut);
  const path = cut < 0 ? '/' : rest[cut] === '?' ? `/${rest.slice(cut)}` : rest.slice(cut);
  if (authority.includes('@')) throw new Refusal(400, 'deny', 'credentials in the URL are refused');
  const target = parseTarget(authority, 80);
  if (!target) throw new Refusal(400, 'deny', `"${authority.slice(0, 255)}" is not a valid host`);
  return { target, path, host: target.port === 80 ? target.host : `${target.host}:${target.port}` };
}

/**
 * The headers an origin gets from a plain request, for every path: no Host (the proxy writes
 * it from the checked target), no hop-by-hop header, and none the client's Connection names.
 */
export function originHeaders(headers: HeaderList): [string, string][] {
  const own = connectionOptions(headers.filter(([n]) => n.toLowerCase() === 'connection').map(([, v]) => v));
  const out: [string, string][] = [];
  for (const [name, value] of headers) {
    const l = name.toLowerCase();
    if (l !== 'host' && !HOP_BY_HOP.has(l) && !own.has(l)) out.push([name, value]);
  }
  return out;
}

export class Gate {
  /** Admitted connections: tunnels by the relay's id for them, plain exchanges by their client. */
  readonly open = new Map<number | object, Open>();
  readonly stats = { allowed: 0, denied: 0, wouldDeny: 0, bytesUp: 0, bytesDown: 0, lookups: 0 };
  killed = false;
  private readonly perAgent = new Map<string, number>();
  private readonly resolve: (host: string) => Promise<{ address: string; family: number }[]>;
  private nextId = 1;

  constructor(private readonly opts: EgressOptions) {
    this.resolve = opts.deps.resolve ?? ((h) => lookup(h, { all: true, verbatim: true }));
  }

  identify(proxyAuthorization: string | undefined, channel: EgressCaller | undefined): EgressCaller {
    if (channel) return channel;
    const token = tokenFrom(proxyAuthorization);
    if (!token) throw new Refusal(407, 'deny', 'a workload token is required (Proxy-Authorization)');
    const who = this.opts.deps.authenticate(token);
    if (typeof who === 'string') throw new Refusal(407, 'deny', `workload token refused: ${who}`);
    return who;
  }

  /**
   * Everything up to and including the address check; returns where to connect. `said`: what a
   * plain request carries besides its host (its path and header values), for inspection.
   */
  async admit(caller: EgressCaller, t: Target, said?: string): Promise<Admitted> {
    this.opts.deps.inspect?.(caller, said === undefined ? t.host : `${t.host}\n${said}`);
    if (this.killed) throw new Refusal(503, 'deny', 'egress is switched off (kill switch)');
    const wait = this.opts.deps.rateLimit?.(caller) ?? 0;
    if (wait > 0) throw new Refusal(429, 'deny', `rate limit: retry in ${Math.ceil(wait / 1000)} s`);
    // Rampart's own names: routed to their listener, or refused; never resolved, never matched
    // by an allow rule (an operator's `*.internal` cannot reach them by accident).
    if (t.host === RESERVED_SUFFIX.slice(1) || t.host.endsWith(RESERVED_SUFFIX)) {
      const r = this.opts.deps.route?.(t.host);
      if (!r)
        throw new Refusal(
          403,
          'deny',
          `${t.host} is reserved for Rampart's own services, and none serves it here`,
        );
      return { address: r.address, port: r.port, allowedBy: `${t.host} is Rampart's ${r.name}` };
    }
    // A plain request would carry to an inspected host what inspection exists to see.
    if (said !== undefined && this.opts.interceptor?.inspects(t.host, t.port))
      throw new Refusal(403, 'deny', `${t.host} is inspected: it is reached over HTTPS (CONNECT) only`);
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
    const addresses = t.numeric ? [t.numeric] : await this.lookup(caller, t.host);
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

  private async lookup(caller: EgressCaller, host: string): Promise<Address[]> {
    this.stats.lookups++;
    let found: { address: string; family: number }[];
    try {
      found = await this.resolve(host);
    } catch (e) {
      this.opts.deps.onLookup?.(caller, host, e as Error);
      throw new Refusal(
        502,
        'error',
        `cannot resolve ${host}: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`,
      );
    }
    this.opts.deps.onLookup?.(
      caller,
      host,
      found.map((f) => f.address),
    );
    const addresses = found.map((f) => numericHost(f.address)).filter((a): a is Address => a !== undefined);
    if (addresses.length === 0) throw new Refusal(502, 'error', `${host} has no usable address`);
    return addresses;
  }

  /** An admitted connection joins the open set (counted against its agent's limit). */
  hold(key: number | object, o: Open, agent: string): void {
    this.open.set(key, o);
    this.perAgent.set(agent, (this.perAgent.get(agent) ?? 0) + 1);
  }

  /** It has ended (or been cut): no longer counted. */
  release(key: number | object, agent: string): void {
    this.open.delete(key);
    const n = (this.perAgent.get(agent) ?? 0) - 1;
    if (n <= 0) this.perAgent.delete(agent);
    else this.perAgent.set(agent, n);
  }

  /** Records the end of a connection that was let through; `failure` when the origin side failed. */
  finishAdmitted(p: Passage, up: number, down: number, failure?: string): void {
    const { method, caller, target, admitted, started } = p;
    const { address, rule, note, allowedBy } = admitted;
    this.finish(
      {
        agent: caller.agent,
        run: caller.run,
        via: caller.via,
        ...(p.path !== undefined ? { target: p.path.slice(0, 2048) } : {}),
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
  refused(
    method: ConnectionRecord['method'],
    caller: EgressCaller | undefined,
    host: string,
    port: number | undefined,
    r: Refusal,
    started: number,
    path?: string,
  ): void {
    this.finish(
      {
        agent: caller?.agent ?? '?',
        run: caller?.run ?? '?',
        ...(caller ? { via: caller.via } : {}),
        ...(path !== undefined ? { target: path.slice(0, 2048) } : {}),
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
}

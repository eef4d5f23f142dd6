// Interception of the hosts marked inspect. Their CONNECT is admitted as any other (identity,
// rules, policy, DNS, the address guard), but instead of a tunnel the proxy answers the TLS
// handshake itself with a leaf for the host from the installation's CA, reads each request with
// node:http, and sends it on (outbound.ts) over a new TLS connection to the checked address,
// verified against the host's name. No other host is ever terminated: a certificate is asked of
// the CA only for a host the inspect list names.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent } from 'node:https';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createSecureContext, rootCertificates, TLSSocket } from 'node:tls';
import { messageOf } from '../core/errors.js';
import type { CertificateAuthority } from './ca.js';
import type { Scanner } from './dlp.js';
import { errorResponse } from './http1.js';
import type { HostMatcher } from './hosts.js';
import {
  outbound,
  type Credential,
  type Injection,
  type OutboundDeps,
  type RequestRecord,
} from './outbound.js';
import type { EgressCaller, Open, Passage } from './types.js';

export interface InterceptDeps {
  readonly ca: CertificateAuthority;
  /** Hosts marked inspect (the injection rules' hosts among them). */
  readonly hosts: HostMatcher;
  readonly injections: readonly { readonly host: HostMatcher; readonly injection: Injection }[];
  readonly scanner: Scanner;
  /** Trust anchors for origins beyond the system's (an internal service's own CA). */
  readonly originCa?: readonly string[];
  readonly maxBodyBytes: number;
  readonly decide?: OutboundDeps['decide'];
  /** secret.use for a run: the value and its fingerprint. Throwing refuses. */
  readonly credential: (caller: EgressCaller, injection: Injection, host: string) => Promise<Credential>;
  readonly seen?: (caller: EgressCaller, text: string) => void;
  readonly record: (r: RequestRecord) => void;
}

/** How long a run's credential is reused before secret.use is asked (and recorded) again. */
const CREDENTIAL_TTL_MS = 30_000;

interface Cached {
  readonly value: Promise<Credential>;
  readonly until: number;
  resolved?: Credential;
}

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

export interface InterceptStats {
  connections: number;
  requests: number;
  blocked: number;
  injected: number;
  /** Clients that refused the proxy's certificate (the CA is not in their trust store). */
  handshakeFailures: number;
}

export class Interceptor {
  readonly stats: InterceptStats = {
    connections: 0,
    requests: 0,
    blocked: 0,
    injected: 0,
    handshakeFailures: 0,
  };
  private readonly http: Server;
  private readonly agent: Agent;
  private readonly passages = new WeakMap<object, Passage>();
  /** Credentials by run, then by injection source. */
  private readonly credentials = new Map<string, Map<string, Cached>>();
  private readonly outboundDeps: OutboundDeps;

  constructor(private readonly deps: InterceptDeps) {
    // Extra origin CAs as one secure context made here, never as a `ca` option: the agent builds
    // its pool key from its options on every request, and a `ca` of the system's roots (~140
    // PEM certificates) made that key a 200 KB string per request, a third of the proxy's CPU
    // and 3 ms of each inspected request's latency (bench/egress/inspect.ts, profiled).
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 256,
      ...(deps.originCa && deps.originCa.length > 0
        ? { secureContext: createSecureContext({ ca: [...rootCertificates, ...deps.originCa] }) }
        : {}),
    });
    this.outboundDeps = {
      scanner: deps.scanner,
      agent: this.agent,
      maxBodyBytes: deps.maxBodyBytes,
      ...(deps.decide ? { decide: deps.decide } : {}),
      injectionFor: (host, path) =>
        deps.injections.find((i) => i.host.match(host, 443) && path.startsWith(i.injection.pathPrefix))
          ?.injection,
      credential: (caller, injection, host) => this.credential(caller, injection, host),
      literals: (run) => this.literals(run),
      ...(deps.seen ? { seen: deps.seen } : {}),
      record: (r) => {
        this.stats.requests++;
        if (r.injected && r.decision === 'allow') this.stats.injected++;
        if (r.findings.some((f) => f.action === 'blocked')) this.stats.blocked++;
        deps.record(r);
      },
    };
    this.http = createServer({ maxHeaderSize: 64 * 1024, headersTimeout: 30_000, requestTimeout: 0 });
    this.http.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const passage = this.passages.get(req.socket);
      if (!passage) return void res.destroy();
      void outbound(this.outboundDeps, passage, req, res);
    });
    // WebSocket frames are not inspected (nor given a credential): an upgrade to an inspected
    // host is refused, plainly, and recorded. Clients that have an HTTPS transport (Codex) fall
    // back to it.
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
      const passage = this.passages.get(req.socket);
      const why = 'a WebSocket to an inspected host cannot be inspected: refused (use HTTPS requests)';
      socket.end(
        `HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: ${why.length + 10}\r\n\r\nrampart: ${why}\n`,
      );
      if (passage)
        this.outboundDeps.record({
          caller: passage.caller,
          host: passage.target.host,
          method: req.method ?? 'GET',
          path: (req.url ?? '').slice(0, 2048),
          status: 403,
          decision: 'deny',
          reason: why,
          findings: [],
          findingsNotListed: 0,
          bytesUp: 0,
          bytesDown: 0,
          durationMs: 0,
        });
    });
    this.http.on('clientError', (_err, socket) => socket.destroy());
  }

  /** Whether a host is terminated here (marked inspect). */
  inspects(host: string, port: number): boolean {
    return this.deps.hosts.match(host, port) !== undefined;
  }

  /**
   * Serves an admitted CONNECT to an inspected host on `fd` (taken from the relay), with the
   * bytes the client sent after its head. `done` is called once, with the bytes each way, when
   * the connection ends; the returned Open cuts it.
   */
  serve(
    passage: Passage,
    fd: number,
    rest: Buffer,
    done: (up: number, down: number, failure?: string) => void,
  ): Open {
    this.stats.connections++;
    const raw = new Socket({ fd, readable: true, writable: true });
    // A response's head and body are separate writes: without this, Nagle holds the second.
    raw.setNoDelay(true);
    let failure: string | undefined;
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      done(raw.bytesRead, raw.bytesWritten, failure);
    };
    raw.on('close', end);
    raw.on('error', () => raw.destroy());
    const host = passage.target.numeric ? passage.target.numeric.text : passage.target.host;
    this.deps.ca.leaf(host).then(
      (secureContext) => {
        if (raw.destroyed) return;
        raw.write(ESTABLISHED);
        if (rest.length > 0) raw.unshift(rest);
        const tls = new TLSSocket(raw, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
        let secured = false;
        tls.on('secure', () => (secured = true));
        tls.on('error', (e: NodeJS.ErrnoException) => {
          if (!secured) {
            this.stats.handshakeFailures++;
            failure = `the client refused the proxy's certificate for ${host} (${e.code ?? messageOf(e)}): is Rampart's CA in its trust store?`;
          }
          raw.destroy();
        });
        this.passages.set(tls, passage);
        this.http.emit('connection', tls);
      },
      (e: unknown) => {
        failure = `no certificate for ${host}: ${messageOf(e)}`;
        raw.end(errorResponse(502, failure));
      },
    );
    return { run: passage.caller.run, address: passage.admitted.address, cut: () => raw.destroy() };
  }

  /** A run has ended: its credentials are forgotten. */
  drop(run?: string): void {
    if (run === undefined) this.credentials.clear();
    else this.credentials.delete(run);
  }

  close(): void {
    this.credentials.clear();
    this.agent.destroy();
    this.http.closeAllConnections();
  }

  private credential(caller: EgressCaller, injection: Injection, host: string): Promise<Credential> {
    let byRun = this.credentials.get(caller.run);
    if (!byRun) this.credentials.set(caller.run, (byRun = new Map<string, Cached>()));
    const now = Date.now();
    const hit = byRun.get(injection.source);
    if (hit && hit.until > now) return hit.value;
    const value = this.deps.credential(caller, injection, host);
    const entry: Cached = { value, until: now + CREDENTIAL_TTL_MS };
    byRun.set(injection.source, entry);
    value.then(
      (c) => (entry.resolved = c),
      () => byRun.delete(injection.source),
    );
    return value;
  }

  /** The run's injected values, settled ones only (a pending one has not been sent yet). */
  private literals(run: string): { rule: string; value: string }[] {
    const out: { rule: string; value: string }[] = [];
    for (const [, c] of this.credentials.get(run) ?? []) {
      if (c.resolved) out.push({ rule: 'rampart-injected-credential', value: c.resolved.value });
    }
    return out;
  }
}

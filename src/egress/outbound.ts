// One request on an inspected connection, from the agent's side of the proxy's TLS to the
// origin's: decided (egress.request: method and path), given its credential (an injection rule
// for the host and path; whatever the agent put in that header is dropped), inspected (request
// line, headers and body, as a stream: only cleared bytes are forwarded), then sent to the
// address admission checked, over TLS verified against the host's name. The answer comes back
// unchanged but for an echo of the injected credential, which is masked.
//
// Every request is recorded (egress.request): the decision, the injection (the secret's name and
// fingerprint, never its value), the findings (rule, where, offset), the bytes each way.

import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { request as httpsRequest, type Agent } from 'node:https';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { messageOf } from '../core/errors.js';
import { BodyInspector, Findings, inspectHead, type Literals, type Scanner } from './dlp.js';
import { HOP_BY_HOP } from './http1.js';
import { Unecho } from './unecho.js';
import type { EgressCaller, Passage } from './types.js';

/** A credential bound to a host and path prefix, set in one header on the way out. */
export interface Injection {
  /** Where it came from, for records: egress.inject[0]. */
  readonly source: string;
  readonly pathPrefix: string;
  /** Lower-case header name. */
  readonly header: string;
  /** More headers the agent's placeholder may be in: dropped. */
  readonly strip: readonly string[];
  /** The header's value for a secret's value (Bearer ..., Basic ..., the value itself). */
  readonly format: (secret: string) => string;
  /** The secret, as vault/name. */
  readonly secret: string;
}

/** What an injection resolved to for a run: the value and its fingerprint. */
export interface Credential {
  readonly value: string;
  readonly fingerprint: string;
}

export interface RequestRecord {
  readonly caller: EgressCaller;
  readonly host: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly decision: 'allow' | 'deny' | 'error';
  readonly reason: string;
  readonly injected?: { readonly secret: string; readonly fingerprint: string; readonly source: string };
  readonly findings: readonly { rule: string; where: string; offset: number; action: string }[];
  readonly findingsNotListed: number;
  readonly uninspected?: string;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly durationMs: number;
}

export interface OutboundDeps {
  readonly scanner: Scanner;
  readonly agent: Agent;
  readonly maxBodyBytes: number;
  /** egress.request: may this caller send this method to this path of the host? Throwing denies. */
  readonly decide?: (
    caller: EgressCaller,
    host: string,
    method: string,
    path: string,
  ) => Promise<{ allow: boolean; reason: string }>;
  /** The injection rule for a host and path, if any. */
  readonly injectionFor: (host: string, path: string) => Injection | undefined;
  /** The credential for a run (secret.use, decided and recorded). Throwing refuses the request. */
  readonly credential: (caller: EgressCaller, injection: Injection, host: string) => Promise<Credential>;
  /** Credentials already injected for this run: they block wherever the agent sends them. */
  readonly literals: (run: string) => Literals;
  /** What the request carries, for the decoy scan. */
  readonly seen?: (caller: EgressCaller, text: string) => void;
  readonly record: (r: RequestRecord) => void;
}

const DECODERS: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/** Bytes of a body written upstream and not yet sent before the proxy stops reading more. */
const IN_FLIGHT = 1 << 20;

class Refused extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly decision: 'deny' | 'error' = 'deny',
  ) {
    super(message);
  }
}

/** Handles one request of an inspected connection; never throws. */
export async function outbound(
  deps: OutboundDeps,
  passage: Passage,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const started = performance.now();
  const { caller, target, admitted } = passage;
  const host = target.host;
  const method = req.method ?? 'GET';
  const path = req.url ?? '/';
  const findings = new Findings();
  let injected: RequestRecord['injected'];
  let uninspected: string | undefined;
  let bytesUp = 0;
  let bytesDown = 0;
  const record = (status: number, decision: RequestRecord['decision'], reason: string): void =>
    deps.record({
      caller,
      host,
      method,
      path: path.slice(0, 2048),
      status,
      decision,
      reason,
      ...(injected ? { injected } : {}),
      findings: findings.list,
      findingsNotListed: findings.more,
      ...(uninspected ? { uninspected } : {}),
      bytesUp,
      bytesDown,
      durationMs: Math.round(performance.now() - started),
    });
  const refuse = (r: Refused): void => {
    if (!res.headersSent) {
      res.writeHead(r.status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end(`rampart: ${r.message}\n`);
    } else res.destroy();
    req.resume();
    record(r.status, r.decision, r.message);
  };
  try {
    if (!path.startsWith('/')) throw new Refused(400, 'an inspected request needs an origin-form path');
    const named = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
    if (named !== host.toLowerCase())
      throw new Refused(421, `the request names ${named || 'no host'}, but its connection is to ${host}`);
    if (deps.decide) {
      let d: { allow: boolean; reason: string };
      try {
        d = await deps.decide(caller, host, method, path);
      } catch (e) {
        throw new Refused(503, `policy decision failed: ${messageOf(e)}`, 'error');
      }
      if (!d.allow) throw new Refused(403, `policy: ${d.reason}`);
    }
    const injection = deps.injectionFor(host, path);
    const literals = deps.literals(caller.run);
    const headers: [string, string][] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      const l = name.toLowerCase();
      // The agent's own value of the injected header never leaves (it may be the real key).
      if (HOP_BY_HOP.has(l) || l === 'host' || l === injection?.header || injection?.strip.includes(l))
        continue;
      headers.push([name, req.rawHeaders[i + 1]!]);
    }
    inspectHead(deps.scanner, path, headers, literals, findings);
    deps.seen?.(caller, `${path}\n${headers.map(([, v]) => v).join('\n')}`);
    const early = findings.blocking();
    if (early) throw new Refused(403, `blocked: ${early.rule} in ${early.where}`);
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
    const decoder = encoding === 'identity' ? undefined : DECODERS[encoding];
    if (encoding !== 'identity' && !decoder) {
      if (injection) throw new Refused(415, `a body in content-encoding "${encoding}" cannot be inspected`);
      uninspected = `content-encoding ${encoding}`;
    }
    let credential: Credential | undefined;
    if (injection) {
      try {
        credential = await deps.credential(caller, injection, host);
      } catch (e) {
        throw new Refused(403, `the credential for ${host} is not available to this run: ${messageOf(e)}`);
      }
      injected = { secret: injection.secret, fingerprint: credential.fingerprint, source: injection.source };
    }
    const out: OutgoingHttpHeaders = {};
    for (const [n, v] of headers) {
      const l = n.toLowerCase();
      if (decoder && (l === 'content-encoding' || l === 'content-length')) continue;
      const prev = out[n];
      out[n] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [String(prev), v];
    }
    out['host'] = req.headers.host!;
    if (credential) {
      out[injection!.header] = injection!.format(credential.value);
      // An echo can be masked only in a body the proxy can read.
      out['accept-encoding'] = 'identity';
    }
    const bodyless =
      (method === 'GET' || method === 'HEAD') &&
      !req.headers['content-length'] &&
      !req.headers['transfer-encoding'];
    const upstream = httpsRequest({
      host: admitted.address,
      port: target.port,
      ...(target.numeric ? {} : { servername: host }),
      method,
      path,
      headers: out,
      agent: deps.agent,
      setHost: false,
    });
    const answered = new Promise<void>((resolve) => {
      upstream.on('response', (up) => {
        const back: OutgoingHttpHeaders = {};
        for (let i = 0; i < up.rawHeaders.length; i += 2) {
          const l = up.rawHeaders[i]!.toLowerCase();
          if (HOP_BY_HOP.has(l) && l !== 'transfer-encoding') continue;
          let v = up.rawHeaders[i + 1]!;
          if (credential) v = v.split(credential.value).join(mask(credential.value));
          const prev = back[up.rawHeaders[i]!];
          back[up.rawHeaders[i]!] =
            prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [String(prev), v];
        }
        delete back['transfer-encoding'];
        res.writeHead(up.statusCode ?? 502, up.statusMessage, back);
        const body = credential ? up.pipe(new Unecho(credential.value)) : up;
        body.on('data', (c: Buffer) => (bytesDown += c.length));
        body.pipe(res);
        res.on('close', resolve);
        up.on('error', () => res.destroy());
      });
    });
    const failed = new Promise<never>((_, reject) =>
      upstream.on('error', (e: NodeJS.ErrnoException) =>
        reject(new Refused(502, originProblem(host, admitted.address, e), 'error')),
      ),
    );
    failed.catch(() => undefined);
    if (bodyless) {
      upstream.end();
    } else {
      await sendBody(
        deps,
        caller,
        req,
        upstream,
        decoder,
        findings,
        (n) => (bytesUp += n),
        (why) => {
          if (injection) throw new Refused(413, why);
          uninspected = why;
        },
      );
      const late = findings.blocking();
      if (late) {
        upstream.destroy();
        throw new Refused(403, `blocked: ${late.rule} in ${late.where} at byte ${late.offset}`);
      }
    }
    await Promise.race([answered, failed]);
    record(res.statusCode, 'allow', injected ? `injected ${injected.secret}` : 'inspected');
  } catch (e) {
    refuse(e instanceof Refused ? e : new Refused(502, messageOf(e), 'error'));
  }
}

/**
 * The body, through the inspector, to the origin: only cleared bytes are written. Past the bound,
 * `tooLarge` decides (refuse where a credential is injected, else pass the rest uninspected).
 */
async function sendBody(
  deps: OutboundDeps,
  caller: EgressCaller,
  req: IncomingMessage,
  upstream: ReturnType<typeof httpsRequest>,
  decoder: (() => Transform) | undefined,
  findings: Findings,
  counted: (n: number) => void,
  tooLarge: (why: string) => void,
): Promise<void> {
  // Asked again, not reused from the head's: this request's own credential is settled by now.
  const seen = deps.seen;
  const inspector = new BodyInspector(
    deps.scanner,
    deps.literals(caller.run),
    findings,
    seen ? (t) => seen(caller, t) : undefined,
  );
  const source = decoder ? req.pipe(decoder()) : req;
  let total = 0;
  let inspecting = true;
  // What a chunk releases (whole lines, often many, in views of one or two chunks) goes out as
  // one write of the socket: corked, its pieces reach TLS together, which joins them outside the
  // JS heap. One TLS record per line made the origin's side decrypt thousands of tiny records and
  // halved an upload's rate; joining them here put a fresh buffer per read in the heap.
  const write = async (parts: Buffer[]): Promise<void> => {
    if (parts.length === 0) return;
    if (parts.length > 1) upstream.cork();
    for (const part of parts) {
      counted(part.length);
      upstream.write(part);
    }
    if (parts.length > 1) upstream.uncork();
    // Backpressure past 1 MiB in flight rather than at the socket's 16 KiB mark: waiting for
    // 'drain' after every chunk made reading and writing take turns (both ends mostly idle).
    if (upstream.writableLength > IN_FLIGHT) await new Promise((r) => upstream.once('drain', r));
  };
  for await (const chunk of source as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (inspecting && total > deps.maxBodyBytes) {
      tooLarge(`the body is larger than ${deps.maxBodyBytes} bytes`);
      await write(inspector.end());
      inspecting = false;
    }
    if (!inspecting) {
      await write([chunk]);
      continue;
    }
    const cleared = inspector.push(chunk);
    if (findings.blocking()) return;
    await write(cleared);
  }
  if (inspecting) {
    const rest = inspector.end();
    if (findings.blocking()) return;
    await write(rest);
  }
  upstream.end();
}

function mask(value: string): string {
  return '*'.repeat(value.length);
}

function originProblem(host: string, address: string, e: NodeJS.ErrnoException): string {
  const code = e.code ?? '';
  if (/CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|HOSTNAME|ALTNAME/.test(code))
    return `the certificate of ${host} (${address}) does not verify (${code}): refused, never passed through`;
  return `cannot reach ${host} (${address}): ${code || messageOf(e)}`;
}

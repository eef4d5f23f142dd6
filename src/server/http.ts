// The HTTP layer: fastify with authentication, coded errors, metrics and audited actions. Routes
// declare what they need in their config ({ scope } or { public: true }); a route that declares
// neither is refused at registration, so an endpoint cannot be exposed without a decision.

import type { RefusalLog } from './refusals.js';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from '../config/load.js';
import {
  ERRORS,
  RampartError,
  isRampartError,
  messageOf,
  type ErrorCode,
  RampartErrorList,
  formatLocation,
} from '../core/errors.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log/logger.js';
import type { RateClass } from '../core/ratelimit.js';
import type { WorkloadClaims } from '../identity/token.js';
import { allows, type AuthFailure, type Authenticator, type Principal, type RouteScope } from './auth.js';
import type { Metrics } from './metrics.js';
import type { CookieRefusal, CookieRequest } from '../console/sessions.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Scope the caller needs: a client scope, 'agent' (workload tokens only), or 'any' API client. */
    scope?: RouteScope;
    /** Rate-limit class applied to agents on this route (default 'api'). */
    rateClass?: RateClass;
    /** No credential needed (liveness, JWKS, the docker plugin handshake). */
    public?: boolean;
    /** OPA-compatible route: errors in OPA's shape {code, message}. */
    opa?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

export interface HttpDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly auth: Authenticator;
  readonly metrics: Metrics;
  readonly bus: EventBus;
  /** HMAC fingerprint of a refused credential, so its attempts correlate in the audit log without it. */
  readonly fingerprint: (credential: string) => string;
  /** Per-agent and per-token limits: 0 when allowed, else ms to wait. */
  readonly rateLimit?: ((cls: RateClass, claims: WorkloadClaims) => number) | undefined;
  /** Refusals recorded once per source and reason and window, then counted (refusals.ts). */
  readonly refusals: RefusalLog;
  readonly https?: { key: Buffer; cert: Buffer } | undefined;
  /** Told of every request a break-glass credential makes (counted, and the first one announced). */
  readonly breakglassUsed?: ((p: Principal, method: string, route: string) => void) | undefined;
  /**
   * The console's sessions: a request with a session cookie and no Authorization header is
   * authenticated here (undefined: it carries no session cookie). Absent: cookies are ignored.
   */
  readonly cookieAuth?: ((req: CookieRequest) => Promise<Principal | CookieRefusal> | undefined) | undefined;
}

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

export function createHttpApp(deps: HttpDeps): FastifyInstance {
  const { config } = deps;
  const app = Fastify({
    bodyLimit: config.server.bodyLimit,
    requestTimeout: config.server.requestTimeoutMs,
    keepAliveTimeout: 5000,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    exposeHeadRoutes: false,
    ...(deps.https ? { https: deps.https } : {}),
  }) as unknown as FastifyInstance;

  app.decorateRequest('principal', undefined);

  app.addHook('onRoute', (route) => {
    const cfg = route.config as { scope?: unknown; public?: unknown } | undefined;
    if (!cfg || (cfg.public !== true && cfg.scope === undefined)) {
      throw new TypeError(
        `route ${String(route.method)} ${route.url} declares neither a scope nor public: true`,
      );
    }
  });

  // What the onRequest hook does with a credential's result: defined once, not per request.
  function decide(
    req: FastifyRequest,
    reply: FastifyReply,
    done: () => void,
    result: Principal | AuthFailure | CookieRefusal,
  ): unknown {
    const cfg = req.routeOptions.config;
    const scope = cfg.scope ?? 'admin';
    if (!('reason' in result) && allows(result, scope)) {
      req.principal = result;
      if (result.breakglass) deps.breakglassUsed?.(result, req.method, req.routeOptions.url ?? req.url);
      if (result.workload && deps.rateLimit) {
        const wait = deps.rateLimit(cfg.rateClass ?? 'api', result.workload);
        if (wait > 0) {
          // Counted, and reported as an event when an agent keeps at it; not audited one by one.
          void reply.header('retry-after', String(Math.ceil(wait / 1000)));
          return sendError(
            reply,
            new RampartError(
              'RAMPART_E_RATE_LIMITED',
              `${result.actor} is over its rate limit; retry in ${wait} ms`,
            ),
            cfg.opa,
          );
        }
      }
      return done();
    }
    const refusal =
      'reason' in result
        ? {
            failure: result,
            actor: undefined,
            error:
              'code' in result
                ? new RampartError(
                    result.code,
                    result.code === 'RAMPART_E_CSRF'
                      ? `refused: ${result.reason}`
                      : `authentication required: ${result.reason}`,
                  )
                : new RampartError(
                    // Stale revocations are the control plane's problem, not the token's: 503, not 401.
                    result.token?.kind === 'revocations_stale'
                      ? 'RAMPART_E_IDENTITY_UNAVAILABLE'
                      : result.token
                        ? 'RAMPART_E_TOKEN_INVALID'
                        : 'RAMPART_E_UNAUTHENTICATED',
                    `authentication required: ${result.reason}`,
                  ),
          }
        : {
            failure: { reason: `missing scope ${scope}` },
            actor: result.actor,
            error: new RampartError(
              'RAMPART_E_FORBIDDEN',
              `${result.actor} lacks the ${scope} scope for this route`,
            ),
          };
    // The reason as a bounded label: a workload token's rejection kind, else the authenticator's
    // fixed wording (no credentials, unknown token, missing scope X), never the request's text.
    const label =
      ('token' in refusal.failure ? refusal.failure.token?.kind : undefined) ?? refusal.failure.reason;
    if (deps.refusals.refuse(req.ip, label) === 'count') return sendError(reply, refusal.error, cfg.opa);
    void rejectAuth(deps, req, refusal.failure, refusal.actor).then(() =>
      sendError(reply, refusal.error, cfg.opa),
    );
    return undefined;
  }

  // Callback-style hooks: the accepted path is synchronous, so no promise is made per request
  // (this is the decision point's hot path). Only a refusal, which is audited, goes async.
  app.addHook('onRequest', (req, reply, done) => {
    const cfg = req.routeOptions.config;
    if (cfg.public === true) return done();
    if (deps.refusals.throttled(req.ip))
      return sendError(
        reply.header('retry-after', String(Math.ceil(config.auth.refusalWindowMs / 1000))),
        new RampartError(
          'RAMPART_E_RATE_LIMITED',
          `too many refused requests from ${req.ip}; retry in ${config.auth.refusalWindowMs} ms`,
        ),
        cfg.opa,
      );
    // No Authorization header but a console session cookie: the console says whose session it is
    // (a store lookup on a replica that has not seen it yet, hence the promise) and checks CSRF.
    const authorization = req.headers.authorization;
    const viaCookie =
      authorization === undefined && req.headers.cookie !== undefined
        ? deps.cookieAuth?.({
            cookie: req.headers.cookie,
            method: req.method,
            origin: one(req.headers.origin),
            host: one(req.headers.host),
            fetchSite: one(req.headers['sec-fetch-site']),
            csrf: one(req.headers['x-rampart-csrf']),
          })
        : undefined;
    if (viaCookie === undefined) return decide(req, reply, done, deps.auth.authenticate(authorization));
    return void viaCookie.then(
      (r) => decide(req, reply, done, r),
      (e: unknown) => {
        deps.logger.error({ err: messageOf(e) }, 'console session lookup failed');
        sendError(
          reply,
          new RampartError(
            'RAMPART_E_INTERNAL',
            'the console session could not be checked; nothing was done',
          ),
          cfg.opa,
        );
      },
    );
  });

  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    deps.metrics.httpDuration.observe(
      { method: req.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    deps.logger.debug(
      { method: req.method, route, status: reply.statusCode, ms: reply.elapsedTime },
      'request',
    );
    done();
  });

  app.setNotFoundHandler((req, reply) =>
    sendError(
      reply,
      new RampartError('RAMPART_E_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`),
    ),
  );

  app.setErrorHandler((err: unknown, req, reply) => {
    const opa = req.routeOptions.config.opa === true;
    if (isRampartError(err)) return sendError(reply, err, opa);
    const e = err as { code?: string; statusCode?: number; validation?: unknown; message?: string };
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const tooLarge = new RampartError(
        'RAMPART_E_BODY_TOO_LARGE',
        `request body exceeds ${config.server.bodyLimit} bytes`,
      );
      return sendError(reply, tooLarge, opa);
    }
    if (
      e.validation !== undefined ||
      (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)
    ) {
      return sendError(reply, new RampartError('RAMPART_E_BAD_REQUEST', e.message ?? 'bad request'), opa);
    }
    // Anything else is a bug. Say so without detail (the log has it), and deny.
    deps.logger.error({ err: messageOf(err), route: req.routeOptions.url }, 'internal error');
    return sendError(
      reply,
      new RampartError('RAMPART_E_INTERNAL', 'internal error; the request was not performed'),
      opa,
    );
  });

  return app;
}

async function rejectAuth(
  deps: HttpDeps,
  req: FastifyRequest,
  failure: AuthFailure,
  actor?: string,
): Promise<void> {
  const t = failure.token;
  const credential = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  try {
    await deps.bus.publish({
      type: 'auth.rejected',
      severity: 'medium',
      outcome: 'denied',
      source: 'server',
      data: {
        route: req.routeOptions.url ?? req.url.split('?')[0] ?? '',
        method: req.method,
        reason: failure.reason,
        remote: req.ip,
        ...(actor ? { actor } : {}),
        ...(t ? { kind: t.kind } : {}),
        ...(t?.kid ? { kid: t.kid } : {}),
        ...(t?.sub ? { sub: t.sub } : {}),
        ...(t?.jti ? { jti: t.jti } : {}),
        ...(credential ? { fingerprint: deps.fingerprint(credential) } : {}),
      },
    });
  } catch (e) {
    // The request is refused either way; a failing audit log shows in /v1/health.
    deps.logger.error({ err: messageOf(e), actor }, 'could not audit an authentication failure');
  }
}

export interface Problem {
  readonly code: ErrorCode;
  readonly message: string;
  /** file:line:col, when the problem is in a file. */
  readonly location?: string;
}

/**
 * The error body every route answers with. A request (a policy set, a configuration) with several
 * problems lists every one, each with its code and file:line:col: "2 problems found" alone tells
 * the caller nothing it can fix.
 */
export function errorBody(err: RampartError): {
  error: { code: ErrorCode; message: string; details?: unknown; hint?: string; problems?: Problem[] };
} {
  const list = err instanceof RampartErrorList ? err.errors : err.location ? [err] : [];
  const problems = list.map((e) => ({
    code: e.code,
    message: e.message,
    ...(e.location ? { location: formatLocation(e.location) } : {}),
  }));
  return {
    error: {
      code: err.code,
      message: err instanceof RampartErrorList ? `${err.message}:\n${err.describe()}` : err.message,
      ...(err.details ? { details: err.details } : {}),
      ...(err.hint ? { hint: err.hint } : {}),
      ...(problems.length > 0 ? { problems } : {}),
    },
  };
}

/** OPA's error codes by status, for OPA-compatible routes. */
function opaCode(status: number): string {
  if (status === 401 || status === 403) return 'unauthorized';
  if (status === 404) return 'resource_not_found';
  if (status >= 400 && status < 500) return 'invalid_parameter';
  return 'internal_error';
}

export function sendError(reply: FastifyReply, err: RampartError, opa = false): FastifyReply {
  const status = ERRORS[err.code].status;
  const body = opa ? { code: opaCode(status), message: `${err.code}: ${err.message}` } : errorBody(err);
  return reply.code(status).type('application/json').send(body);
}

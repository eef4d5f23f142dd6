// The one shape of a component. Every component (src/<name>/) has one door: a module whose start
// function takes its dependencies as interfaces and returns a Component: the routes it serves,
// its health, the metrics it owns, the events it subscribes to, and how it stops. Only the
// control plane (src/server/) composes components, and it does so generically: registering a
// route, a health check, a metric or a subscription is the same for every component, so a new
// component changes the control plane by a line or two.
//
// Routes are described here, not registered with the HTTP framework: a component does not depend
// on fastify, and the server's one adapter applies authentication, scopes, schemas, body limits
// and coded errors to every route alike.

import type { EventType, StreamEvent } from './events.js';
import type { Scope } from './scopes.js';
import type { ComponentHealth, HealthCheck } from './types.js';
import type { WorkloadClaims } from './claims.js';
import type { RateClass } from './ratelimit.js';

/** Who is calling: the admin, a configured client, or an agent with a workload token. */
export interface Principal {
  /** As audited: "admin", "client:<name>" or "agent:<id>". */
  readonly actor: string;
  readonly scopes: ReadonlySet<Scope | 'agent'>;
  /** For workload tokens: the verified claims. */
  readonly workload?: WorkloadClaims;
  /** For break-glass credentials: the grant's id (its actor says so too). */
  readonly breakglass?: string;
}

/** What a route may require: a client scope, "agent" (a workload token), or "any" valid credential. */
export type RouteScope = Scope | 'agent' | 'any';

/** A request, as a route handler sees it (validated against the route's schema first). */
export interface ApiRequest<B = unknown, P = Record<string, string>, Q = Record<string, unknown>> {
  readonly body: B;
  readonly params: P;
  readonly query: Q;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly ip: string;
  /** Set on every route that is not public. */
  readonly principal: Principal | undefined;
  /** Resolves when the client goes away (for streams). */
  readonly raw: { on(event: 'close', fn: () => void): unknown };
}

/** How a handler answers, when returning a JSON value is not enough. */
export interface ApiReply {
  code(status: number): ApiReply;
  header(name: string, value: string): ApiReply;
  type(contentType: string): ApiReply;
  send(payload?: unknown): ApiReply;
  /** The raw response, for a stream a handler writes itself (server-sent events). */
  readonly raw: NodeJS.WritableStream & {
    writeHead(status: number, headers: Record<string, string>): unknown;
  };
  hijack(): void;
}

export interface Route<B = unknown, P = Record<string, string>, Q = Record<string, unknown>> {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';
  readonly url: string;
  /** Who may call: a scope, or 'public' for the few routes that need no credential. */
  readonly scope: RouteScope | 'public';
  /** JSON schemas (body, params, querystring): checked before the handler, 400 naming the field. */
  readonly schema?: {
    readonly body?: object;
    readonly params?: object;
    readonly querystring?: object;
    /** Response schemas by status: fastify serializes with them (faster than JSON.stringify). */
    readonly response?: Readonly<Record<number, object>>;
  };
  readonly bodyLimit?: number;
  /** Rate-limit class applied to agents on this route (default 'api'). */
  readonly rateClass?: RateClass;
  /** Errors in OPA's shape {code, message} (the OPA-compatible API). */
  readonly opa?: boolean;
  /** Returns the JSON body, or answers through `reply` and returns it. */
  handler(req: ApiRequest<B, P, Q>, reply: ApiReply): Promise<unknown>;
}

/** A metric: a counter or gauge read at scrape time, or a histogram the component observes into. */
export type MetricSpec = ReadMetric | HistogramMetric;

/**
 * A histogram (latencies): the control plane creates it and hands the component the function
 * that observes a value, so components never depend on the metrics library.
 */
export interface HistogramMetric {
  readonly kind: 'histogram';
  /** rampart_<component>_..._seconds */
  readonly name: string;
  readonly help: string;
  /** Upper bounds of the buckets, in seconds. */
  readonly buckets: readonly number[];
  attach(observe: (seconds: number) => void): void;
}

/** A metric read from a component's own counters at scrape time. */
export interface ReadMetric {
  readonly kind: 'counter' | 'gauge';
  /** rampart_<component>_..., snake case, with _total for counters. */
  readonly name: string;
  readonly help: string;
  /** The value, or values by one label. */
  read(): number | Readonly<Record<string, number>>;
  readonly label?: string;
}

/**
 * A subscription to the event stream (events/stream.ts): events of these types, after they are on
 * record, in the log's order, from every replica; the next waits until `handle` resolves.
 */
export interface Subscription {
  /** Unique across components: its name in health, metrics and its stored cursor. */
  readonly name: string;
  readonly types: readonly EventType[] | '*';
  /** 'now' (default): events from start-up on. 'stored': resume where it stopped last time. */
  readonly from?: 'now' | 'stored';
  handle(e: StreamEvent): void | Promise<void>;
}

export interface Component {
  /** Its name in /v1/health and the log. */
  readonly name: string;
  readonly routes: readonly Route<never, never, never>[];
  readonly health?: HealthCheck;
  readonly metrics: readonly MetricSpec[];
  readonly subscriptions: readonly Subscription[];
  /** Stops it: timers, listeners, connections; idempotent. Called newest-started first. */
  stop(): Promise<void>;
}

/**
 * Per-run egress channels: what the egress component offers and the sandbox component takes (the
 * sandbox picks the socket's path; egress listens there for the run's uid alone).
 */
export interface ChannelListener {
  /**
   * Listens on a run's own channel: a unix socket at `path` that only `owner` (the sandbox's host
   * uid) may connect to. Whoever connects there is that run; nothing it says can change that.
   */
  openChannel(
    path: string,
    caller: { run: string; agent: string },
    owner: { uid: number; gid: number },
  ): Promise<void>;
  /** Closes a run's channel and cuts its connections. */
  closeChannel(run: string): void;
}

/** A route typed for its own body, params and query, stored among others. */
export function route<B = unknown, P = Record<string, string>, Q = Record<string, unknown>>(
  r: Route<B, P, Q>,
): Route<never, never, never> {
  return r;
}

/** A component with nothing but a name and a stop, for the parts that only start and stop. */
export function healthOnly(
  name: string,
  health: () => ComponentHealth | Promise<ComponentHealth>,
): Component {
  return { name, routes: [], health, metrics: [], subscriptions: [], stop: async () => undefined };
}

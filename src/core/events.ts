// The catalogue of security events: every type a component may publish, with the shape of its
// data. Detection and response subscribe by type, so a type is a contract: add fields, never
// change or remove one.

import type { Outcome, Severity } from './types.js';

export interface EventMap {
  /** A request reached the API without valid credentials. */
  'auth.rejected': {
    route: string;
    method: string;
    reason: string;
    remote: string;
    actor?: string;
    /** For workload tokens: why, as a stable label, and what the token claimed (unverified). */
    kind?: string;
    kid?: string;
    sub?: string;
    jti?: string;
    /** HMAC of the presented credential, to correlate attempts without recording it. */
    fingerprint?: string;
    /**
     * A window's summary: refusals from this source for this reason after the first (which has
     * its own record), of which `throttled` were answered 429 unauthenticated.
     */
    count?: number;
    throttled?: number;
    windowMs?: number;
  };
  /** A component changed health status. */
  'health.changed': { component: string; from: string; to: string; detail?: string };
  /** The control plane started or stopped. */
  'controlplane.lifecycle': {
    phase: 'start' | 'stop';
    pid: number;
    version: string;
    role?: 'full' | 'proxy';
  };
  /** A policy set became the one deciding. */
  'policy.activated': { version: string; previous: string; dir: string; files: number; rules: number };
  /** A policy directory change did not load; the previous set keeps serving. */
  'policy.load_failed': { dir: string; serving: string; errors: string[] };
  /** The external OPA stopped answering; the built-in engine decides until it is back. */
  'policy.opa_unavailable': { url: string; error: string };
  /** The external OPA answers again. */
  'policy.opa_recovered': { url: string; downForMs: number };
  /** Workload tokens were revoked (by jti, agent, run, namespace, or all). */
  'identity.revoked': { kind: string; value: string; reason: string; revocation: number; by: string };
  /**
   * A signing key in the store is not certified by this installation's key: it was written by
   * someone with database access, or by another installation. Tokens it signed are refused.
   */
  'identity.key_untrusted': { kid: string; reason: string };
  /** A replica's token-signing key was replaced. */
  'identity.key_rotated': { kid: string; previous: string; why: 'scheduled' | 'requested' };
  /** An agent keeps hitting its rate limit (the response engine may act on it). */
  'identity.rate_limited': { agent: string; class: string; rejections: number; windowMs: number };
  /** Revocations could not be refreshed for too long: every workload token is refused until they can. */
  'identity.revocations_stale': { since: number; error: string };
  /** A sandboxed run started. */
  'sandbox.run_started': {
    run: string;
    agent: string;
    profile: string;
    workspace: string;
    command: string;
    limits: { memory: number; pids: number; cpus: number; timeoutMs: number };
  };
  /** A sandboxed run ended (exited, timed out, killed, quarantined). */
  'sandbox.run_ended': {
    run: string;
    agent: string;
    reason: string;
    exitCode: number | null;
    signal: string | null;
    durationMs: number;
    peakMemory: number;
  };
  /** A run hit a limit: memory, pids or its deadline. */
  'sandbox.limit_hit': {
    run: string;
    agent: string;
    limit: 'memory' | 'pids' | 'timeout';
    oomKilled: boolean;
  };
  /** An operator (or the response engine) killed a run. */
  'sandbox.killed': { run: string; by: string };
  /** A run was frozen, its evidence captured, then killed. */
  'sandbox.quarantined': {
    run: string;
    by: string;
    archive: string;
    sha256: string;
    bytes: number;
    processes: number;
    /** Workspace files archived (each hashed in the manifest) and listed but left out. */
    kept?: number;
    skipped?: number;
    /** The capture stopped at sandbox.evidence.timeout: the manifest says how far it got. */
    incomplete?: boolean;
  };
  /** A connection through the egress proxy ended, or was refused. */
  'egress.connection': {
    agent: string;
    run: string;
    method: string;
    host: string;
    port: number;
    address?: string;
    decision: string;
    rule?: string;
    reason: string;
    bytesUp: number;
    bytesDown: number;
    durationMs: number;
  };
  /** The egress kill switch was turned on (every tunnel cut) or off. */
  'egress.kill_switch': { on: boolean; by: string; tunnelsCut: number };
  /** A host address or range was banned or unbanned at the egress proxy. */
  'egress.ban': {
    target: string;
    action: 'ban' | 'unban';
    by: string;
    /** Open tunnels to the banned addresses, cut. */ tunnelsCut: number;
  };
  /** The kill switch: every run on the host killed at once. */
  'sandbox.destroyed_all': { runs: string[]; by: string; ms: number };
}

export type EventType = keyof EventMap;

export interface BusEvent<K extends EventType = EventType> {
  readonly type: K;
  readonly severity: Severity;
  readonly source: string;
  readonly subject?: { readonly agent?: string; readonly run?: string };
  /** How the audit record of this event reads: a refused request is "denied". Default "success". */
  readonly outcome?: Outcome;
  readonly data: EventMap[K];
}

/** What components get to publish events (the server passes the bus). */
export interface EventPublisher {
  publish<K extends EventType>(event: BusEvent<K>): Promise<unknown>;
}

// Shared vocabulary. Components talk to each other only through these shapes and the interfaces
// below, which the server wires together; no component imports another's internals.

import type { SourceLocation } from './errors.js';

export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';

export const SEVERITIES: readonly Severity[] = ['info', 'low', 'medium', 'high', 'critical'];

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

export function isSeverity(s: string): s is Severity {
  return (SEVERITIES as readonly string[]).includes(s);
}

/**
 * The result of one check against one subject, kyverno-style. "error" is distinct from "fail": the
 * check could not be evaluated (and the caller denies), which is not the same as a violation.
 */
export type Verdict = 'pass' | 'fail' | 'error' | 'skip';

/** A located problem: a leaked secret, an insecure container setting, a policy test failure. */
export interface Finding {
  readonly ruleId: string;
  readonly severity: Severity;
  readonly message: string;
  readonly location?: FindingLocation;
  /** Stable identity of the finding across runs (for baselines), never the secret itself. */
  readonly fingerprint?: string;
  /** Why it matters and how to fix it, for humans. */
  readonly help?: string;
  readonly properties?: Readonly<Record<string, unknown>>;
}

export interface FindingLocation extends SourceLocation {
  readonly endLine?: number;
  readonly endColumn?: number;
}

/** The outcome of an audited action. */
export type Outcome = 'success' | 'denied' | 'failure' | 'error';

/** What a component asks the audit log to record. Never carries a secret value. */
export interface AuditEntryInput {
  /** Who did it: "admin", "agent:<id>", "system", "client:<name>". */
  readonly actor: string;
  /** What was done, dotted: "policy.activate", "auth.reject", "run.start". */
  readonly action: string;
  /** What it was done to: a run id, a policy version, a route. */
  readonly target: string;
  readonly outcome: Outcome;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface AuditReceipt {
  readonly seq: number;
  readonly time: string;
}

/**
 * The one thing every component may do with the audit log: append to it, durably. A rejected
 * promise means the record is not on disk, and the caller must not perform the action.
 */
export interface Auditor {
  record(entry: AuditEntryInput): Promise<AuditReceipt>;
  /** HMAC-SHA256 fingerprint of a secret under the installation's key, for records that must refer to one. */
  fingerprint(secret: string | Uint8Array): string;
}

export type HealthStatus = 'ok' | 'degraded' | 'failing';

export interface ComponentHealth {
  readonly status: HealthStatus;
  readonly detail?: string;
  /** Epoch ms when the component entered this status. */
  readonly since?: number;
}

/** Components register one of these with the server; /v1/health asks each. */
export type HealthCheck = () => ComponentHealth | Promise<ComponentHealth>;

/** A security-relevant event: published on the bus, written to the audit log, read by detection. */
export interface SecurityEvent<T extends string = string, D = Readonly<Record<string, unknown>>> {
  readonly type: T;
  readonly severity: Severity;
  /** The component that saw it: "identity", "egress", "sandbox", ... */
  readonly source: string;
  /** The agent and run it concerns, when known. */
  readonly subject?: { readonly agent?: string; readonly run?: string };
  readonly data: D;
}

/** The logging a component needs (pino's logger satisfies it; the server passes one in). */
export interface Log {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

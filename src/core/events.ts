// The catalogue of security events: every type a component may publish, with the shape of its
// data. Detection and response subscribe by type, so a type is a contract: add fields, never
// change or remove one.

import type { Outcome, Severity } from './types.js';

export interface EventMap {
  /** A request reached the API without valid credentials. */
  'auth.rejected': { route: string; method: string; reason: string; remote: string; actor?: string };
  /** A component changed health status. */
  'health.changed': { component: string; from: string; to: string; detail?: string };
  /** The control plane started or stopped. */
  'controlplane.lifecycle': { phase: 'start' | 'stop'; pid: number; version: string };
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

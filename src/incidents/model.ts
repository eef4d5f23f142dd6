// An incident as people work it: what happened (detections, actions, evidence, observables), where
// it stands (status, NIST SP 800-61's phase, assignee, verdict), what to do (runbook tasks) and
// who did what (notes, history). Pure: what an event or a person's command does to an incident is
// a function of the incident and the input, so every replica that applies the same recorded event
// computes the same record, and the store's compare-and-set keeps one of them.

import type { Severity } from '../core/types.js';

export const PHASES = [
  'detection',
  'analysis',
  'containment',
  'eradication',
  'recovery',
  'lessons_learned',
] as const;
export type Phase = (typeof PHASES)[number];

export const VERDICTS = ['true_positive', 'benign_true_positive', 'false_positive'] as const;
export type Verdict = (typeof VERDICTS)[number];

export type Status = 'open' | 'acknowledged' | 'resolved';

/** What opened it. */
export type IncidentKind = 'detection' | 'action' | 'manual' | 'breakglass' | 'breaker' | 'drill';

/** Response actions that contain (time to contain ends at the first one done). */
export const CONTAINING: ReadonlySet<string> = new Set([
  'freeze',
  'quarantine',
  'kill',
  'revoke_tokens',
  'cut_egress',
  'ban_destination',
  'block_agent',
  'revoke_secrets',
  'sever_external',
  'destroy_all',
]);

/** Lists kept on the record are bounded; counts say how many there were in all. */
export const MAX_ITEMS = 200;
const MAX_OBSERVABLES = 100;

export interface Observables {
  agents: string[];
  runs: string[];
  hosts: string[];
  destinations: string[];
  tokens: string[];
  /** SHA-256 of files: quarantine archives, executables named by detections. */
  files: string[];
}

export interface DetectionRef {
  readonly seq: number;
  readonly time: string;
  readonly rule: string;
  readonly priority: Severity;
  readonly count: number;
  readonly output: string;
}

export interface ActionRef {
  readonly seq: number;
  readonly time: string;
  readonly action: string;
  readonly outcome: string;
  readonly target: string;
  readonly by: string;
  readonly playbook?: string;
}

export interface Evidence {
  readonly seq: number;
  readonly kind: 'quarantine';
  readonly run: string;
  readonly archive: string;
  readonly sha256: string;
  readonly bytes: number;
}

export interface Task {
  readonly runbook: string;
  readonly text: string;
  done: boolean;
  by?: string;
  at?: string;
}

export interface Note {
  readonly at: string;
  readonly by: string;
  readonly text: string;
}

export interface Change {
  readonly at: string;
  readonly by: string;
  readonly change: string;
  readonly from?: string;
  readonly to?: string;
}

export interface Incident {
  readonly id: string;
  /** The last recorded event applied (so a replayed or second replica's event changes nothing). */
  seq: number;
  /** Which replica created it (only that one announces it). */
  readonly creator: string;
  readonly kind: IncidentKind;
  title: string;
  severity: Severity;
  status: Status;
  phase: Phase;
  assignee?: string;
  tags: string[];
  observables: Observables;
  detections: DetectionRef[];
  /** Detections grouped into it, with repeats counted (more than `detections` holds). */
  detectionCount: number;
  actions: ActionRef[];
  evidence: Evidence[];
  tasks: Task[];
  runbooks: string[];
  notes: Note[];
  verdict?: { value: Verdict; by: string; at: string; reason?: string };
  history: Change[];
  /** Group keys it answers for ("run:ID", "agent:ID", "breakglass:ID"). */
  keys: string[];
  /** The drill whose runs it is about: such an incident is kept out of the statistics. */
  drill?: string;
  /** Break-glass: the request it is about, and whether its post-use review is recorded. */
  breakglass?: { id: string; reviewed: boolean };
  times: {
    /** The first triggering event's record time (time to detect starts here). */
    firstEvent: string;
    opened: string;
    /** The last event grouped into it: the grouping window runs from here. */
    lastActivity: string;
    acknowledged?: string;
    contained?: string;
    resolved?: string;
  };
}

export function emptyObservables(): Observables {
  return { agents: [], runs: [], hosts: [], destinations: [], tokens: [], files: [] };
}

/** Adds to a bounded set-like list; true when it was new. */
export function addTo(list: string[], value: string | undefined, max = MAX_OBSERVABLES): boolean {
  if (value === undefined || value === '' || list.includes(value) || list.length >= max) return false;
  list.push(value);
  return true;
}

/** Appends to a bounded list, dropping the oldest past MAX_ITEMS. */
export function keep<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > MAX_ITEMS) list.splice(0, list.length - MAX_ITEMS);
}

const RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

/** Incidents are never "info": the least is low. */
export function incidentSeverity(s: Severity): Severity {
  return s === 'info' ? 'low' : s;
}

export function higher(a: Severity, b: Severity): Severity {
  return RANK[b] > RANK[a] ? b : a;
}

export function atLeast(s: Severity, min: Severity): boolean {
  return RANK[s] >= RANK[min];
}

/** The time between two ISO times, in ms; undefined unless both are there and in order. */
export function between(from: string | undefined, to: string | undefined): number | undefined {
  if (from === undefined || to === undefined) return undefined;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

export interface IncidentTimes {
  readonly detectMs?: number;
  readonly acknowledgeMs?: number;
  readonly containMs?: number;
  readonly resolveMs?: number;
}

/** Time to detect, acknowledge, contain and resolve: each from the detection (detect: to it). */
export function timesOf(i: Incident): IncidentTimes {
  const t = i.times;
  const out: Record<string, number> = {};
  const put = (k: keyof IncidentTimes, v: number | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  put('detectMs', between(t.firstEvent, t.opened));
  put('acknowledgeMs', between(t.opened, t.acknowledged));
  put('containMs', between(t.opened, t.contained));
  put('resolveMs', between(t.opened, t.resolved));
  return out;
}

export interface IncidentStats {
  readonly since: string;
  readonly opened: number;
  readonly resolved: number;
  readonly open: number;
  readonly bySeverity: Readonly<Record<string, number>>;
  /** Means in seconds over the incidents that have each time (undefined when none). */
  readonly mttdSeconds?: number;
  readonly mttaSeconds?: number;
  readonly mttcSeconds?: number;
  readonly mttrSeconds?: number;
  /** Verdicts given, and the share that were true (true positive or benign true positive). */
  readonly verdicts: Readonly<Record<Verdict, number>>;
  readonly accuracy?: number;
  /** Resolved of opened in the period. */
  readonly closureRate?: number;
}

/** Statistics over the incidents opened at or after `since` (epoch ms). */
export function statsOf(incidents: Iterable<Incident>, since: number): IncidentStats {
  const sums = { d: [0, 0], a: [0, 0], c: [0, 0], r: [0, 0] };
  const add = (k: keyof typeof sums, v: number | undefined): void => {
    if (v === undefined) return;
    sums[k][0]! += v;
    sums[k][1]! += 1;
  };
  const verdicts: Record<Verdict, number> = { true_positive: 0, benign_true_positive: 0, false_positive: 0 };
  const bySeverity: Record<string, number> = {};
  let opened = 0;
  let resolved = 0;
  let open = 0;
  for (const i of incidents) {
    // A drill's incidents measure the drill, not the team: never in the figures.
    if (i.drill) continue;
    if (i.status !== 'resolved') {
      open++;
      bySeverity[i.severity] = (bySeverity[i.severity] ?? 0) + 1;
    }
    if (Date.parse(i.times.opened) < since) continue;
    opened++;
    if (i.status === 'resolved') resolved++;
    if (i.verdict) verdicts[i.verdict.value]++;
    const t = timesOf(i);
    add('d', t.detectMs);
    add('a', t.acknowledgeMs);
    add('c', t.containMs);
    add('r', t.resolveMs);
  }
  const mean = (k: keyof typeof sums): number | undefined =>
    sums[k][1]! > 0 ? sums[k][0]! / sums[k][1]! / 1000 : undefined;
  const judged = verdicts.true_positive + verdicts.benign_true_positive + verdicts.false_positive;
  const out: Record<string, unknown> = {
    since: new Date(since).toISOString(),
    opened,
    resolved,
    open,
    bySeverity,
    verdicts,
  };
  const put = (k: string, v: number | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  put('mttdSeconds', mean('d'));
  put('mttaSeconds', mean('a'));
  put('mttcSeconds', mean('c'));
  put('mttrSeconds', mean('r'));
  put('accuracy', judged > 0 ? (verdicts.true_positive + verdicts.benign_true_positive) / judged : undefined);
  put('closureRate', opened > 0 ? resolved / opened : undefined);
  return out as unknown as IncidentStats;
}

/** A new incident, before anything has joined it. */
export function blankIncident(
  creator: string,
  id: string,
  kind: IncidentKind,
  title: string,
  severity: Severity,
  opened: string,
  firstEvent: string,
  keys: readonly string[],
): Incident {
  return {
    id,
    seq: -1,
    creator,
    kind,
    title,
    severity,
    status: 'open',
    phase: 'detection',
    tags: [],
    observables: emptyObservables(),
    detections: [],
    detectionCount: 0,
    actions: [],
    evidence: [],
    tasks: [],
    runbooks: [],
    notes: [],
    history: [],
    keys: [...keys],
    times: { firstEvent, opened, lastActivity: opened },
  };
}

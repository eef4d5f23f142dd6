// The response actions: what each acts on, whether it is destructive (the circuit breaker stops
// those first), what "fail closed" turns it into, and its parameters, checked at load. One table,
// so the loader, the engine, the docs and the CLI cannot disagree.

import { parseDuration } from '../core/units.js';
import { isSeverity, type Severity } from '../core/types.js';

export type ActionName =
  | 'notify'
  | 'freeze'
  | 'quarantine'
  | 'kill'
  | 'revoke_tokens'
  | 'cut_egress'
  | 'ban_destination'
  | 'block_agent'
  | 'revoke_secrets'
  | 'rotate_secrets'
  | 'sever_external'
  | 'destroy_all'
  | 'thaw';

export interface ActionSpec {
  /** What it acts on: the detection's run, its agent, its destination, or everything. */
  readonly target: 'run' | 'agent' | 'destination' | 'secrets' | 'all' | 'none';
  /** Stopped by a tripped breaker (the scope's runs are frozen instead). */
  readonly destructive: boolean;
  /** Containment of the detection's own run: keeps running under a tripped breaker, once per run. */
  readonly containment: boolean;
  /** Only a person may take it (never a playbook's step). */
  readonly manual?: boolean;
  /** What `on_failure: fail_closed` does instead when this fails, and with what parameters. */
  readonly closed?: ActionName;
  readonly closedParams?: Params;
  readonly summary: string;
  /** Checks the parameters; returns problems as [key, message]. */
  check(params: Record<string, unknown>): [string, string][];
}

export type Params = Readonly<Record<string, unknown>>;

const only =
  (allowed: Record<string, (v: unknown) => string | undefined>) =>
  (p: Record<string, unknown>): [string, string][] => {
    const out: [string, string][] = [];
    for (const [k, v] of Object.entries(p)) {
      const check = allowed[k];
      if (!check) {
        const names = Object.keys(allowed);
        out.push([
          k,
          `unknown parameter "${k}"${names.length ? ` (expected ${names.join(', ')})` : ' (it takes none)'}`,
        ]);
        continue;
      }
      const problem = check(v);
      if (problem) out.push([k, `${k}: ${problem}`]);
    }
    return out;
  };

const scope = (v: unknown): string | undefined =>
  v === 'run' || v === 'agent' ? undefined : 'is run or agent';
const bool = (v: unknown): string | undefined => (typeof v === 'boolean' ? undefined : 'is true or false');
const duration = (v: unknown): string | undefined =>
  typeof v === 'string' && (parseDuration(v) ?? 0) > 0 ? undefined : 'is a duration like 30m';
const severity = (v: unknown): string | undefined =>
  typeof v === 'string' && isSeverity(v) ? undefined : 'is info, low, medium, high or critical';
const text = (v: unknown): string | undefined =>
  typeof v === 'string' && v.length > 0 && v.length <= 500 ? undefined : 'is text of 1 to 500 characters';
const secretRefs = (v: unknown): string | undefined =>
  Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && /^[^/\s]+\/[^/\s]+$/.test(x))
    ? undefined
    : 'is a list of vault/name';

export const ACTIONS: Readonly<Record<ActionName, ActionSpec>> = {
  notify: {
    target: 'none',
    destructive: false,
    containment: false,
    summary: 'a respond.notify event for the notification channels (severity, message)',
    check: only({ severity, message: text }),
  },
  freeze: {
    target: 'run',
    destructive: false,
    containment: true,
    closed: 'kill',
    summary: "freeze the run's cgroup: every process stops where it is, evidence kept, reversible",
    check: only({}),
  },
  quarantine: {
    target: 'run',
    destructive: true,
    containment: false,
    closed: 'kill',
    summary: 'freeze, capture the evidence (processes, sockets, workspace, memory images), kill',
    check: only({ memory: bool }),
  },
  kill: {
    target: 'run',
    destructive: true,
    containment: false,
    summary: 'SIGKILL every process of the run, no grace',
    check: only({}),
  },
  revoke_tokens: {
    target: 'run',
    destructive: false,
    containment: true,
    closed: 'kill',
    summary: "revoke the run's tokens (scope: run) or every token of its agent (scope: agent)",
    check: only({ scope }),
  },
  cut_egress: {
    target: 'run',
    destructive: false,
    containment: true,
    closed: 'kill',
    summary: "close the run's egress channel and cut its connections; the run goes on offline",
    check: only({}),
  },
  ban_destination: {
    target: 'destination',
    destructive: false,
    containment: false,
    closed: 'cut_egress',
    summary: "ban the detection's destination address for a time (for: 1h), on every replica",
    check: only({ for: duration }),
  },
  block_agent: {
    target: 'agent',
    destructive: false,
    containment: false,
    closed: 'revoke_tokens',
    closedParams: { scope: 'agent' },
    summary: 'no new run or token for the agent until a person unblocks it',
    check: only({}),
  },
  revoke_secrets: {
    target: 'run',
    destructive: false,
    containment: false,
    summary: "revoke the leases of the run's secrets (scope: run) or its agent's (scope: agent)",
    check: only({ scope }),
  },
  rotate_secrets: {
    target: 'secrets',
    destructive: true,
    containment: false,
    summary: 'rotate the named secrets (secrets: [vault/name]) through the broker',
    check: only({ secrets: secretRefs }),
  },
  sever_external: {
    target: 'all',
    destructive: true,
    containment: false,
    summary: 'the panic button: every egress connection cut and refused; API, audit and evidence stay up',
    check: only({}),
  },
  destroy_all: {
    target: 'all',
    destructive: true,
    containment: false,
    summary: 'SIGKILL every run of this installation',
    check: only({}),
  },
  thaw: {
    target: 'run',
    destructive: false,
    containment: false,
    manual: true,
    summary: 'thaw a frozen run (a person decides: never a playbook step)',
    check: only({}),
  },
};

/** The actions a playbook may take. */
export const ACTION_NAMES = (Object.keys(ACTIONS) as ActionName[]).filter((a) => !ACTIONS[a].manual);

/** Whether a playbook may take it. */
export function isAction(name: unknown): name is ActionName {
  return typeof name === 'string' && Object.hasOwn(ACTIONS, name) && !ACTIONS[name as ActionName].manual;
}

/** The notify action's severity parameter, defaulting to the detection's priority. */
export function notifySeverity(params: Params, fallback: Severity): Severity {
  const s = params['severity'];
  return typeof s === 'string' && isSeverity(s) ? s : fallback;
}

// The admission gate in front of every container or service Rampart starts itself: the
// same checks `rampart check` and the Docker authorization plugin apply, on the exact create body
// the Engine will receive. A run whose container would be refused by the plugin is refused here
// first, and the verdict goes on the run's record.
//
// Rampart's own binds (the workspace, the run's secret and token files, its egress channel and
// bridge) and the run's own cgroup parent are what a Rampart container is, not findings: they
// are excepted by value, so a bind of anything else, or any other setting, is still judged.

import type { SourceLocation } from '../core/errors.js';
import { severityRank, type Severity } from '../core/types.js';
import { checkAll, EMPTY_POLICY, workloadsFrom, type AdmissionPolicy, type Exception } from './engine.js';

export interface ContainerVerdict {
  readonly allowed: boolean;
  /** Every finding not excepted, worst first: check id, severity, message. */
  readonly findings: readonly {
    readonly check: string;
    readonly severity: Severity;
    readonly message: string;
  }[];
}

const HERE: SourceLocation = { file: '<rampart>', line: 1, column: 1 };

export function admitContainer(
  body: Record<string, unknown>,
  opts: { profile: 'default' | 'vm-runner'; denyOn: Severity; policy?: AdmissionPolicy },
): ContainerVerdict {
  const hc = (body['HostConfig'] ?? {}) as { Binds?: string[]; CgroupParent?: string };
  // A Swarm service's binds are its ContainerSpec's bind mounts.
  const cs = (
    (body['TaskTemplate'] ?? {}) as { ContainerSpec?: { Mounts?: { Type?: string; Source?: string }[] } }
  ).ContainerSpec;
  const sources = [
    ...(hc.Binds ?? []).map((b) => b.split(':')[0]!),
    ...(cs?.Mounts ?? []).filter((m) => m.Type === 'bind' && m.Source).map((m) => m.Source!),
  ];
  const own = (
    check: string,
    value?: string,
    justification = "Rampart's own: the run's workspace, files, channel and cgroup",
  ): Exception => ({
    check,
    target: '*',
    ...(value !== undefined ? { value } : {}),
    justification,
    approver: 'rampart',
    expires: '9999-12-31',
    loc: HERE,
  });
  const policy = opts.policy ?? EMPTY_POLICY;
  const exceptions = [
    ...policy.exceptions,
    ...sources.map((source) => own('no-host-mounts', source)),
    ...(hc.CgroupParent ? [own('no-cgroup-parent')] : []),
    // A service cannot say it (Engine 20.10); the Swarm runtime requires it of the node's daemon
    // and reads it off the task's process before releasing it (sandbox/swarm/run.ts).
    ...(cs
      ? [
          own(
            'no-new-privileges',
            undefined,
            "the node's daemon default, verified on the task's process before it runs",
          ),
        ]
      : []),
  ];
  const findings = checkAll(
    workloadsFrom([{ file: 'container', text: JSON.stringify(body) }]),
    { profile: opts.profile },
    { ...policy, exceptions },
  )
    .filter((f) => !f.suppressed)
    .map((f) => ({ check: f.ruleId, severity: f.severity, message: f.message }))
    .sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
  return {
    allowed: !findings.some((f) => severityRank(f.severity) >= severityRank(opts.denyOn)),
    findings,
  };
}

// Custom checks: CEL expressions over the normalized workload model, written in the admission
// policy file, as Kubernetes ValidatingAdmissionPolicy and Kyverno write theirs. An expression
// that is true is a violation. Expressions are parsed and type-checked once, at load; one that
// fails to evaluate on a workload is a finding of its own (`custom-check-error`), never a pass.

import { Environment } from '@marcbachmann/cel-js';
import type { SourceLocation } from '../core/errors.js';
import { isSeverity } from '../core/types.js';
import type { CheckInfo, Violation } from './catalogue.js';
import type { Container, Workload } from './model.js';
import { InputError, toPlain } from './tree.js';

export interface CustomCheck extends CheckInfo {
  /** container: evaluated once per container, with `container` and `workload`; workload: once, with `workload`. */
  readonly scope: 'container' | 'workload';
  readonly message: string;
  readonly when: string;
  readonly loc: SourceLocation;
  readonly evaluate: (vars: Record<string, unknown>) => unknown;
}

/** The id every custom check error is reported under. */
export const CUSTOM_ERROR: CheckInfo = {
  id: 'custom-check-error',
  severity: 'high',
  title: 'Custom check failed to evaluate',
  why: 'A check that cannot be evaluated has not passed: the workload is treated as failing it.',
  fix: 'Guard the expression with has() for fields that may be missing, or fix the workload.',
};

const ID = /^[a-z][a-z0-9-]{2,62}$/;

export interface CustomCheckSpec {
  readonly id: unknown;
  readonly severity: unknown;
  readonly title: unknown;
  readonly message: unknown;
  readonly why: unknown;
  readonly fix: unknown;
  readonly scope: unknown;
  readonly when: unknown;
  /** Where the check is written, and where its `when` value starts. */
  readonly loc: SourceLocation;
  readonly whenLoc: SourceLocation;
}

function environment(): Environment {
  return new Environment({ limits: { maxAstNodes: 2000, maxDepth: 48 } })
    .registerVariable('workload', 'map<string, dyn>')
    .registerVariable('container', 'map<string, dyn>');
}

/** Compiles custom checks; throws InputError naming the check and position of the first problem. */
export function compileCustomChecks(
  specs: readonly CustomCheckSpec[],
  builtIn: ReadonlySet<string>,
): CustomCheck[] {
  const env = environment();
  const seen = new Set<string>();
  return specs.map((s) => {
    const text = (v: unknown, key: string, required: boolean): string => {
      if (v === undefined && !required) return '';
      if (typeof v !== 'string' || v.trim() === '')
        throw new InputError(`custom check ${String(s.id)}: ${key} must be a non-empty string`, s.loc);
      return v;
    };
    if (typeof s.id !== 'string' || !ID.test(s.id))
      throw new InputError('a custom check needs an id: lower case letters, digits and dashes', s.loc);
    if (builtIn.has(s.id) || seen.has(s.id))
      throw new InputError(`custom check id ${s.id} is already taken`, s.loc);
    seen.add(s.id);
    if (typeof s.severity !== 'string' || !isSeverity(s.severity))
      throw new InputError(
        `custom check ${s.id}: severity must be info, low, medium, high or critical`,
        s.loc,
      );
    const scope = s.scope ?? 'container';
    if (scope !== 'container' && scope !== 'workload')
      throw new InputError(`custom check ${s.id}: scope must be container or workload`, s.loc);
    const when = text(s.when, 'when', true);
    let evaluate: CustomCheck['evaluate'];
    try {
      const parsed = env.parse(when);
      const checked = parsed.check();
      if (!checked.valid)
        throw Object.assign(new Error(checked.error?.message ?? 'invalid'), { range: checked.error?.range });
      if (checked.type !== 'bool' && checked.type !== 'dyn')
        throw new Error(`when must be a boolean expression, not ${checked.type ?? 'unknown'}`);
      if (scope === 'workload' && /\bcontainer\b/.test(when))
        throw new Error('a workload-scoped check cannot read container; use workload.containers');
      evaluate = parsed;
    } catch (e) {
      const m = (e instanceof Error ? e.message : String(e))
        .split('\n')[0]!
        .replace(/^(?:TypeError|ParseError):\s*/, '');
      const offset = (e as { range?: { start?: number } }).range?.start ?? 0;
      throw new InputError(`custom check ${s.id}: when: ${m}`, {
        ...s.whenLoc,
        ...(s.whenLoc.column !== undefined ? { column: s.whenLoc.column + offset } : {}),
      });
    }
    const title = text(s.title, 'title', false) || s.id;
    return {
      id: s.id,
      severity: s.severity,
      title,
      message: text(s.message, 'message', true),
      why: text(s.why, 'why', false) || title,
      fix: text(s.fix, 'fix', false) || 'See the policy that defines this check.',
      scope,
      when,
      loc: s.loc,
      evaluate,
    };
  });
}

const orEmpty = <T>(v: { value: T } | undefined, empty: T): T => v?.value ?? empty;

/** The container as CEL sees it: every field present, with an empty value when unset. */
function containerVars(c: Container): Record<string, unknown> {
  return {
    name: c.name,
    role: c.role,
    image: orEmpty(c.image, ''),
    privileged: orEmpty(c.privileged, false),
    capAdd: c.capAdd.map((x) => x.value),
    capDrop: c.capDrop.map((x) => x.value),
    readOnlyRootfs: orEmpty(c.readOnlyRootfs, false),
    runAsUser: String(orEmpty(c.runAsUser, '')),
    runAsGroup: String(orEmpty(c.runAsGroup, '')),
    runAsNonRoot: orEmpty(c.runAsNonRoot, false),
    noNewPrivileges: orEmpty(c.noNewPrivileges, false),
    seccomp: orEmpty(c.seccomp, ''),
    apparmor: orEmpty(c.apparmor, ''),
    devices: c.devices.map((d) => d.value),
    mounts: c.mounts.map((m) => ({
      type: m.type,
      source: m.source ?? '',
      target: m.target ?? '',
      readOnly: m.readOnly,
    })),
    ports: c.ports.map((p) => ({
      hostIp: p.hostIp ?? '',
      published: p.published ?? 0,
      target: p.target ?? 0,
      mode: p.mode ?? '',
    })),
    env: c.env.map((e) => ({ name: e.name, value: e.value ?? '' })),
    memory: String(orEmpty(c.memory, '')),
    cpus: String(orEmpty(c.cpus, '')),
    pids: orEmpty(c.pids, 0),
    healthcheck: orEmpty(c.healthcheck, false),
    spec: toPlain(c.node),
  };
}

function workloadVars(w: Workload, containers: Record<string, unknown>[]): Record<string, unknown> {
  return {
    platform: w.platform,
    kind: w.kind,
    name: w.name,
    namespace: w.namespace ?? '',
    hostNetwork: orEmpty(w.hostNetwork, false),
    hostPid: orEmpty(w.hostPid, false),
    hostIpc: orEmpty(w.hostIpc, false),
    hostUts: orEmpty(w.hostUts, false),
    containers,
    spec: toPlain(w.node),
  };
}

/** Runs custom checks on one workload. */
export function runCustomChecks(w: Workload, checks: readonly CustomCheck[]): Violation[] {
  if (checks.length === 0) return [];
  const containers = w.containers.map(containerVars);
  const workload = workloadVars(w, containers);
  const out: Violation[] = [];
  const run = (
    c: CustomCheck,
    vars: Record<string, unknown>,
    loc: SourceLocation,
    container?: string,
  ): void => {
    const where = container === undefined ? w.name : `${w.name}/${container}`;
    let hit: unknown;
    try {
      hit = c.evaluate(vars);
    } catch (e) {
      hit = e;
    }
    if (hit === true)
      out.push({
        check: c.id,
        severity: c.severity,
        message: `${where}: ${c.message}`,
        loc,
        workload: w.name,
        ...(container ? { container } : {}),
      });
    else if (hit !== false)
      out.push({
        check: CUSTOM_ERROR.id,
        severity: CUSTOM_ERROR.severity,
        message: `${where}: custom check ${c.id} could not be evaluated (${hit instanceof Error ? hit.message.split('\n')[0] : `it gave ${typeof hit}, not a bool`})`,
        loc,
        workload: w.name,
        ...(container ? { container } : {}),
      });
  };
  for (const c of checks) {
    if (c.scope === 'workload') run(c, { workload, container: {} }, w.loc);
    else w.containers.forEach((ct, i) => run(c, { workload, container: containers[i]! }, ct.loc, ct.name));
  }
  return out;
}

// Reading specs and policy files, and turning violations into findings: input detection (Compose
// or Swarm stack, Kubernetes, Docker Engine body), bounded reads, exceptions with justification,
// approver and expiry (an exception missing either, or past its expiry, is itself a finding).

import { hash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { RampartError, type SourceLocation } from '../core/errors.js';
import type { Finding } from '../core/types.js';
import {
  CHECK_BY_ID,
  type CheckContext,
  type CheckInfo,
  type Violation,
  PSS_CHECKS,
  VALUED_CHECKS,
} from './catalogue.js';
import { checkWorkload } from './checks.js';
import { compileCustomChecks, CUSTOM_ERROR, runCustomChecks, type CustomCheck } from './custom.js';
import type { Workload } from './model.js';
import { fromCompose, mergeCompose } from './formats/compose.js';
import { engineBodyKind, fromDockerCreate, fromServiceSpec } from './formats/engine.js';
import { fromKubernetes } from './formats/kubernetes.js';
import { get, InputError, items, keyLoc, parseTrees, str, type LNode } from './tree.js';
import { daemonFindings, isDaemonConfig } from './formats/daemon.js';

const CUSTOM_KEYS = ['id', 'severity', 'title', 'message', 'why', 'fix', 'scope', 'when'];

/** Larger inputs are refused with a clear error (a 50 MB "spec" is an attack, not a spec). */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;

export interface Exception {
  readonly check: string;
  /** Workload name (or kind/name); `*` for every workload. */
  readonly target: string;
  /** For checks about values: the one value it allows (NET_ADMIN, /dev/net/tun, 6080), or `*`. */
  readonly value?: string;
  readonly justification: string;
  readonly approver: string;
  readonly expires: string;
  readonly loc: SourceLocation;
}

export interface AdmissionPolicy {
  readonly registries: readonly string[];
  readonly distroless: readonly string[];
  readonly exceptions: readonly Exception[];
  /** Custom CEL checks, compiled. */
  readonly checks: readonly CustomCheck[];
}

export const EMPTY_POLICY: AdmissionPolicy = { registries: [], distroless: [], exceptions: [], checks: [] };

const POLICY_KEYS = ['registries', 'distroless', 'exceptions', 'checks'];

/** A check's id, severity, why and fix: built in or custom. */
export function checkInfo(policy: AdmissionPolicy, id: string): CheckInfo | undefined {
  return (
    CHECK_BY_ID.get(id) ??
    policy.checks.find((c) => c.id === id) ??
    (id === CUSTOM_ERROR.id ? CUSTOM_ERROR : undefined)
  );
}

export interface CheckedFinding extends Finding {
  /** Set when an exception covers it: reported, not counted. */
  readonly suppressed?: {
    readonly justification: string;
    readonly approver: string;
    readonly expires: string;
  };
}

export function readBounded(file: string): string {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (e) {
    throw new RampartError(
      'RAMPART_E_ADMISSION_INPUT',
      `${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  if (size > MAX_INPUT_BYTES)
    throw new RampartError(
      'RAMPART_E_ADMISSION_INPUT',
      `${file}: ${(size / 1048576).toFixed(1)} MiB is larger than the ${MAX_INPUT_BYTES / 1048576} MiB limit for a spec`,
    );
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    // A directory, a FIFO, no permission: unreadable input (exit 2), never an internal error.
    throw new RampartError(
      'RAMPART_E_ADMISSION_INPUT',
      `${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

/**
 * The Compose project a file belongs to: its directory and name without `.override` and the
 * extension, so compose.yaml and compose.override.yaml (docker-compose.yml and
 * docker-compose.override.yml) are one project and merged, as docker compose merges them; any
 * other Compose file is a project of its own.
 */
export function composeProject(file: string): string {
  return file.replace(/(\.override)?\.(ya?ml|json)$/i, '');
}

/** Parses a spec's documents, with errors as RAMPART_E_ADMISSION_INPUT. */
export function parseSpec(text: string, file: string): LNode[] {
  try {
    return parseTrees(text, file);
  } catch (e) {
    inputError(e);
  }
}

function inputError(e: unknown): never {
  if (e instanceof InputError)
    throw new RampartError('RAMPART_E_ADMISSION_INPUT', e.message, { location: e.location });
  throw e;
}

/** What kind of spec a parsed document is. */
function detect(doc: LNode): 'compose' | 'kubernetes' | 'docker' | 'service' | 'daemon' | 'unknown' {
  if (get(doc, 'services')) return 'compose';
  if (isDaemonConfig(doc)) return 'daemon';
  if (get(doc, 'apiVersion') && get(doc, 'kind')) return 'kubernetes';
  const engine = engineBodyKind(doc);
  return engine === 'service' ? 'service' : engine === 'container' ? 'docker' : 'unknown';
}

/** Whether a Compose file is deployed as a Swarm stack: any service has a deploy section with mode, replicas or placement, or a network is overlay. */
function looksLikeStack(doc: LNode): boolean {
  const services = get(doc, 'services');
  if (services?.kind === 'map')
    for (const s of services.entries.values()) {
      const d = get(s, 'deploy');
      if (get(d, 'mode') || get(d, 'replicas') || get(d, 'placement')) return true;
    }
  const nets = get(doc, 'networks');
  return nets?.kind === 'map' && [...nets.entries.values()].some((n) => str(get(n, 'driver')) === 'overlay');
}

export interface LoadOptions {
  /** Force Compose files to be read as Swarm stacks (true) or plain Compose (false). */
  readonly swarm?: boolean;
  /** Files found by walking a directory: a document that is no spec is skipped, not an error. */
  readonly skipUnknown?: boolean;
  /** Told of every file skipped that way. */
  readonly onSkipped?: (file: string) => void;
}

/** A spec to read; Compose files of one `project` are merged in order (default: composeProject). */
export interface SpecSource {
  readonly file: string;
  readonly text: string;
  readonly project?: string;
  /** Found by walking a directory: a document that is no spec is skipped (see LoadOptions). */
  readonly found?: boolean;
}

/**
 * Reads specs: Compose files named together are merged in order (as `-f a -f b`), every other
 * file stands alone.
 */
export function loadWorkloads(
  files: readonly (string | { readonly file: string; readonly project?: string; readonly found?: boolean })[],
  opts: LoadOptions = {},
): Workload[] {
  return workloadsFrom(
    files.map((f) =>
      typeof f === 'string' ? { file: f, text: readBounded(f) } : { ...f, text: readBounded(f.file) },
    ),
    opts,
  );
}

/** As loadWorkloads, from texts already read (`file` names each in findings). */
export function workloadsFrom(sources: readonly SpecSource[], opts: LoadOptions = {}): Workload[] {
  const out: Workload[] = [];
  // Compose files by project, merged in the order given, base files before their overrides.
  const projects = new Map<string, { root: LNode; file: string }>();
  const isOverride = (x: SpecSource): boolean => x.project === undefined && /\.override\./i.test(x.file);
  const ordered = [...sources.filter((x) => !isOverride(x)), ...sources.filter(isOverride)];
  for (const { file, text, project, found } of ordered) {
    if (text.length > MAX_INPUT_BYTES)
      throw new RampartError(
        'RAMPART_E_ADMISSION_INPUT',
        `${file}: larger than the ${MAX_INPUT_BYTES / 1048576} MiB limit for a spec`,
      );
    let docs: LNode[];
    try {
      docs = parseTrees(text, file);
    } catch (e) {
      // A file found in a directory that does not parse (a Helm template, say) is no spec to
      // check: skipped and counted. A file named on the command line is input, and must parse.
      if (opts.skipUnknown && found) {
        opts.onSkipped?.(file);
        continue;
      }
      inputError(e);
    }
    for (const doc of docs) {
      const kind = detect(doc);
      try {
        if (kind === 'compose') {
          const key = project ?? composeProject(file);
          const seen = projects.get(key);
          projects.set(
            key,
            seen ? { root: mergeCompose(seen.root, doc), file: seen.file } : { root: doc, file },
          );
        } else if (kind === 'kubernetes') out.push(...fromKubernetes(doc, file));
        else if (kind === 'docker') out.push(fromDockerCreate(doc, file));
        else if (kind === 'service') out.push(fromServiceSpec(doc, file));
        else if (kind === 'daemon')
          continue; // the Engine's own configuration: daemonChecks
        else if (opts.skipUnknown && found) {
          opts.onSkipped?.(file);
          break;
        } else
          throw new InputError(
            'not a Compose file (services:), a Kubernetes manifest (apiVersion, kind), a Docker Engine container-create body (Image, HostConfig) or a Swarm ServiceSpec (TaskTemplate)',
            doc.loc,
          );
      } catch (e) {
        inputError(e);
      }
    }
  }
  const composed: Workload[] = [];
  for (const c of projects.values()) {
    try {
      composed.push(...fromCompose(c.root, c.file, opts.swarm ?? looksLikeStack(c.root)));
    } catch (e) {
      inputError(e);
    }
  }
  return [...composed, ...out];
}

/**
 * The findings of every daemon.json among the files (the Engine's own configuration, CIS Docker
 * Benchmark section 2); files that are specs give none here.
 */
export function daemonChecks(
  files: readonly string[],
  found: ReadonlySet<string> = new Set(),
): CheckedFinding[] {
  const out: CheckedFinding[] = [];
  for (const file of files) {
    let docs: LNode[];
    try {
      docs = parseTrees(readBounded(file), file);
    } catch (e) {
      if (found.has(file)) continue; // skipped by loadWorkloads, and counted there
      inputError(e);
    }
    for (const doc of docs) if (isDaemonConfig(doc)) out.push(...daemonFindings(doc, file));
  }
  return out;
}

/** Reads an admission policy file (registries, distroless, exceptions). */
export function loadAdmissionPolicy(file: string): AdmissionPolicy {
  const text = readBounded(file);
  let doc: LNode | undefined;
  try {
    doc = parseTrees(text, file)[0];
  } catch (e) {
    inputError(e);
  }
  if (!doc) return EMPTY_POLICY;
  if (doc.kind !== 'map')
    throw new RampartError('RAMPART_E_ADMISSION_INPUT', 'an admission policy must be a mapping', {
      location: doc.loc,
    });
  for (const k of doc.entries.keys())
    if (!POLICY_KEYS.includes(k))
      throw new RampartError(
        'RAMPART_E_ADMISSION_INPUT',
        `unknown key "${k}" (known: ${POLICY_KEYS.join(', ')})`,
        {
          location: doc.keys.get(k)!,
        },
      );
  const list = (k: string): string[] => items(get(doc, k)).map((i) => str(i) ?? '');
  let checks: CustomCheck[];
  try {
    checks = compileCustomChecks(
      items(get(doc, 'checks')).map((c) => {
        const v = (k: string): unknown => {
          const n = get(c, k);
          return n?.kind === 'scalar' ? (n.value ?? undefined) : n === undefined ? undefined : null;
        };
        for (const k of c.kind === 'map' ? c.entries.keys() : [])
          if (!CUSTOM_KEYS.includes(k))
            throw new InputError(
              `unknown key "${k}" in a custom check (known: ${CUSTOM_KEYS.join(', ')})`,
              keyLoc(c, k),
            );
        return {
          id: v('id'),
          severity: v('severity'),
          title: v('title'),
          message: v('message'),
          why: v('why'),
          fix: v('fix'),
          scope: v('scope'),
          when: v('when'),
          loc: c.loc,
          whenLoc: get(c, 'when')?.loc ?? c.loc,
        };
      }),
      new Set([...CHECK_BY_ID.keys(), CUSTOM_ERROR.id, 'exception-invalid']),
    );
  } catch (e) {
    inputError(e);
  }
  const exceptions = items(get(doc, 'exceptions')).map((e) => {
    const check = str(get(e, 'check')) ?? '';
    if (!CHECK_BY_ID.has(check) && !checks.some((c) => c.id === check))
      throw new RampartError('RAMPART_E_ADMISSION_INPUT', `exception for unknown check "${check}"`, {
        location: e.loc,
      });
    const expires = get(e, 'expires');
    const value = str(get(e, 'value'));
    return {
      check,
      target: str(get(e, 'target')) ?? '*',
      ...(value !== undefined ? { value } : {}),
      justification: (str(get(e, 'justification')) ?? '').trim(),
      approver: (str(get(e, 'approver')) ?? '').trim(),
      expires: expires?.kind === 'scalar' && expires.value !== null ? String(expires.value) : '',
      loc: e.loc,
    };
  });
  return { registries: list('registries'), distroless: list('distroless'), exceptions, checks };
}

function fingerprint(v: Violation): string {
  return hash(
    'sha256',
    `${v.check}\0${v.loc.file}\0${v.workload}\0${v.container ?? ''}\0${v.message}`,
    'hex',
  ).slice(0, 32);
}

/** Checks workloads and applies the policy's exceptions. */
export function checkAll(
  workloads: readonly Workload[],
  ctx: Omit<CheckContext, 'registries' | 'distroless'>,
  policy: AdmissionPolicy,
  now: Date = new Date(),
): CheckedFinding[] {
  const out: CheckedFinding[] = [];
  const today = now.toISOString().slice(0, 10);
  const valid: Exception[] = [];
  for (const x of policy.exceptions) {
    const problems: string[] = [];
    if (!x.justification) problems.push('has no justification');
    if (!x.approver) problems.push('has no approver');
    if (!/^\d{4}-\d{2}-\d{2}/.test(x.expires)) problems.push('has no expiry date (YYYY-MM-DD)');
    // An exception allows one value; covering every value of the check must be said.
    if (VALUED_CHECKS.has(x.check) && x.value === undefined)
      problems.push(
        'names no value: give the one it allows (value: NET_ADMIN), or value: "*" for the whole check',
      );
    else if (x.expires.slice(0, 10) < today) problems.push(`expired on ${x.expires.slice(0, 10)}`);
    if (problems.length > 0)
      out.push({
        ruleId: 'exception-invalid',
        severity: 'high',
        message: `exception for ${x.check} on ${x.target} ${problems.join(', ')}: it does not apply`,
        location: x.loc,
      });
    else valid.push(x);
  }
  for (const w of workloads) {
    for (const v of [
      ...checkWorkload(w, { ...ctx, registries: policy.registries, distroless: policy.distroless }),
      ...runCustomChecks(w, policy.checks),
    ]) {
      const info = checkInfo(policy, v.check)!;
      const x = valid.find(
        (e) =>
          e.check === v.check &&
          (e.target === '*' || e.target === w.name || e.target === `${w.kind}/${w.name}`) &&
          (v.value === undefined ||
            e.value === '*' ||
            e.value?.toUpperCase().replace(/^CAP_/, '') === v.value.toUpperCase().replace(/^CAP_/, '')),
      );
      out.push({
        ruleId: v.check,
        severity: v.severity,
        message: v.message,
        location: v.loc,
        fingerprint: fingerprint(v),
        help: `${info.why} Fix: ${v.fix ?? info.fix}`,
        properties: {
          workload: w.name,
          kind: w.kind,
          platform: w.platform,
          ...(v.host ? { host_setting: true } : {}),
          ...(PSS_CHECKS.has(v.check) ? { pss: true } : {}),
          ...(v.container ? { container: v.container } : {}),
        },
        ...(x
          ? { suppressed: { justification: x.justification, approver: x.approver, expires: x.expires } }
          : {}),
      });
    }
  }
  // In file order, as a compiler reports (stable: equal positions keep the order checks ran in).
  return out.sort((a, b) => {
    const x = a.location;
    const y = b.location;
    if (!x || !y) return x ? 1 : y ? -1 : 0;
    if (x.file !== y.file) return x.file < y.file ? -1 : 1;
    return (x.line ?? 0) - (y.line ?? 0) || (x.column ?? 0) - (y.column ?? 0);
  });
}

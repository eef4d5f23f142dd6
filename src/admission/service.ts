// Admission served from the control plane: Kubernetes validating and mutating webhooks
// (AdmissionReview v1) and the Docker Engine authorization plugin protocol, both answered with the
// same checks `rampart check` runs. Every decision is audited. Anything that goes wrong while
// deciding (a body that cannot be read, an internal error, a record that cannot be written)
// denies: Kubernetes gets `allowed: false` with the reason, Docker gets `Allow: false`.

import { posix } from 'node:path';
import { RecordBacklog } from '../core/backlog.js';
import type { Clock } from '../core/clock.js';
import { messageOf } from '../core/errors.js';
import { severityRank, type Auditor, type ComponentHealth, type Severity } from '../core/types.js';
import { checkAll, type AdmissionPolicy, type CheckedFinding } from './engine.js';
import { hardenEdits, toJsonPatch } from './harden.js';
import type { Workload } from './model.js';
import { fromDockerCreate, fromServiceSpec, runClaim } from './formats/engine.js';
import { LABEL_RUN, LABEL_SIGNATURE, verifyBody } from '../core/provenance.js';
import { AUTHZ_REQUEST, CONTAINER_UPDATE, EXEC_CONFIG } from './formats/engine-types.js';
import { decodeEngineBody, parseJsonPairs, type PNode } from './formats/gojson.js';
import { fromKubernetes } from './formats/kubernetes.js';
import { fromPlain, InputError } from './tree.js';

export interface AdmissionServiceOptions {
  readonly profile: 'default' | 'vm-runner';
  readonly policy: AdmissionPolicy;
  readonly denyOn: Severity;
  readonly decisionLog: 'async' | 'durable';
  readonly auditor: Auditor;
  readonly clock: Clock;
  /** The redaction rules' verdict on an environment value (the label), for no-secrets-in-env. */
  readonly secretValue?: (value: string) => string | undefined;
  readonly onRecordFailure: (error: string) => void;
  /**
   * The provisioning key: a container or service that claims to be a Rampart run is admitted
   * only with a valid signature by it (core/provenance.ts); without the key, no claim is.
   */
  readonly provisionKey?: Buffer;
}

export interface Verdict {
  readonly allowed: boolean;
  /** Findings at or above deny_on, not excepted. */
  readonly denied: readonly CheckedFinding[];
  /** Findings below deny_on, not excepted. */
  readonly warnings: readonly CheckedFinding[];
}

/** Most findings named in one answer; the audit record has them all. */
const MAX_LISTED = 20;
/** Records queued behind answers at most (see RecordBacklog). */
const MAX_BACKLOG = 10_000;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
/** A string or number field of untrusted input as text; anything else as ''. */
const text = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');

export interface KubernetesResponse {
  readonly apiVersion: 'admission.k8s.io/v1';
  readonly kind: 'AdmissionReview';
  readonly response: {
    readonly uid: string;
    readonly allowed: boolean;
    readonly status?: { readonly code: number; readonly message: string };
    readonly warnings?: readonly string[];
    readonly patchType?: 'JSONPatch';
    readonly patch?: string;
  };
}

export interface DockerAuthzResponse {
  readonly Allow: boolean;
  readonly Msg?: string;
  readonly Err?: string;
}

export class AdmissionService {
  private readonly records: RecordBacklog;
  /** Signatures of Rampart's bodies already admitted, until they expire (no replay). */
  private readonly seenSignatures = new Map<string, number>();
  /** Decisions by verdict (Kubernetes and Docker together); `observe` takes their latency. */
  readonly stats = { decisions: { allow: 0, deny: 0, error: 0 } };
  observe: (seconds: number) => void = () => undefined;

  constructor(private readonly opts: AdmissionServiceOptions) {
    this.records = new RecordBacklog({
      max: MAX_BACKLOG,
      clock: opts.clock,
      onFailure: opts.onRecordFailure,
    });
  }

  health(): ComponentHealth {
    const f = this.records.failing;
    return f
      ? {
          status: 'failing',
          detail: `admission records cannot be written (${f.error}): answers wait for them and fail closed`,
          since: f.since,
        }
      : {
          status: 'ok',
          detail: `profile ${this.opts.profile}, denying at ${this.opts.denyOn}, ${this.opts.policy.checks.length} custom check(s)`,
        };
  }

  /** Checks workloads: denied when a finding at or above deny_on is not excepted. */
  review(workloads: readonly Workload[]): Verdict {
    const findings = checkAll(
      workloads,
      {
        profile: this.opts.profile,
        ...(this.opts.secretValue ? { secretValue: this.opts.secretValue } : {}),
      },
      this.opts.policy,
      new Date(this.opts.clock.now()),
    ).filter((f) => !f.suppressed);
    const rank = severityRank(this.opts.denyOn);
    const denied = findings.filter((f) => severityRank(f.severity) >= rank);
    return {
      allowed: denied.length === 0,
      denied,
      warnings: findings.filter((f) => severityRank(f.severity) < rank),
    };
  }

  /** A Kubernetes AdmissionReview (validating, or mutating: the hardening edits as a JSONPatch). */
  async kubernetes(body: unknown, mode: 'validate' | 'mutate', actor: string): Promise<KubernetesResponse> {
    const started = performance.now();
    const request = isObj(body) && isObj(body['request']) ? body['request'] : undefined;
    const uid = typeof request?.['uid'] === 'string' ? request['uid'] : '';
    const res = (r: Omit<KubernetesResponse['response'], 'uid'>): KubernetesResponse => ({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid, ...r },
    });
    const op = typeof request?.['operation'] === 'string' ? request['operation'] : '';
    const kindOf = isObj(request?.['kind']) ? text(request['kind']['kind']) : '';
    const target = `kubernetes:${text(request?.['namespace'])}/${kindOf}/${text(request?.['name'])}`;
    const action = `admission.kubernetes.${mode}`;
    let answer: KubernetesResponse;
    let details: Record<string, unknown> = { uid, operation: op };
    try {
      if (!request || uid === '')
        throw new InputError('not an AdmissionReview: request.uid is missing', REVIEW_AT);
      const object = checkReview(body as Obj, request, op);
      // DELETE and CONNECT carry no object to check; nothing to harden either.
      if (object === undefined) {
        answer = res({ allowed: true });
      } else {
        const workloads = fromKubernetes(fromPlain(object, { file: target, line: 1, column: 1 }), target);
        if (mode === 'mutate') {
          const ops = toJsonPatch(object, hardenEdits(object));
          details = { ...details, patched: ops.length };
          answer = res(
            ops.length === 0
              ? { allowed: true }
              : {
                  allowed: true,
                  patchType: 'JSONPatch',
                  patch: Buffer.from(JSON.stringify(ops)).toString('base64'),
                },
          );
        } else {
          const v = this.review(workloads);
          details = { ...details, ...summary(v) };
          answer = res({
            allowed: v.allowed,
            ...(v.allowed ? {} : { status: { code: 403, message: denial(v.denied) } }),
            ...(v.warnings.length > 0 ? { warnings: v.warnings.slice(0, MAX_LISTED).map(line) } : {}),
          });
        }
      }
    } catch (e) {
      details = { ...details, error: messageOf(e) };
      answer = res({
        allowed: false,
        status: { code: e instanceof InputError ? 400 : 500, message: `rampart: denied: ${messageOf(e)}` },
      });
      return this.recorded(answer, { actor, action, target, outcome: 'error', details }, started);
    }
    return this.recorded(
      answer,
      {
        actor,
        action,
        target,
        outcome: answer.response.allowed ? 'success' : 'denied',
        details,
      },
      started,
    );
  }

  /**
   * The Docker authorization plugin: /AuthZPlugin.AuthZReq. Container and service creation and
   * updates are checked; a create that arrives without a body is denied (CVE-2024-41110: the
   * engine once forwarded such requests with the body stripped). Everything else is allowed
   * here, and recorded.
   */
  async dockerRequest(raw: string): Promise<DockerAuthzResponse> {
    const started = performance.now();
    let req: AuthzRequest = { method: '', uri: '', user: 'anonymous', body: undefined };
    let details: Record<string, unknown> = {};
    let target = 'docker:?';
    let answer: DockerAuthzResponse;
    try {
      // The engine's own request is Go-encoded JSON too: read it the way the engine wrote it.
      req = authzRequest(raw);
      const path = dockerApiPath(req.uri);
      target = `docker:${req.method} ${path ?? req.uri}`;
      details = { uri: req.uri };
      if (path === undefined)
        throw new InputError(
          `RequestUri ${JSON.stringify(req.uri.slice(0, 200))} is not a valid URI path`,
          PLUGIN_AT,
        );
      const kind = classify(req.method, path);
      if (kind === undefined) answer = { Allow: true };
      else if (!req.body || req.body.length === 0)
        answer = {
          Allow: false,
          Msg: `rampart: ${req.method} ${path} arrived without a body: denied (the engine sends none above 1 MiB, and CVE-2024-41110 stripped it)`,
        };
      else {
        // Decoded exactly as the engine will decode it (formats/gojson.ts): keys in any case,
        // repeated keys merged, null and wrong types as Go treats them.
        const body = parseJsonPairs(req.body.toString('utf8'), target);
        if (kind === 'exec') answer = execAnswer(body, target);
        else if (kind === 'update') answer = updateAnswer(body, target);
        else {
          const claim = this.provenance(req.body, body, kind);
          if (claim) {
            details = { ...details, ...claim.details };
            answer = claim.answer;
          } else {
            const name = new URLSearchParams(req.uri.split('?')[1] ?? '').get('name') ?? undefined;
            const workload =
              kind === 'container'
                ? fromDockerCreate(body, target, name ?? 'container')
                : fromServiceSpec(body, target);
            const v = this.review([workload]);
            details = { ...details, ...summary(v) };
            answer = v.allowed ? { Allow: true } : { Allow: false, Msg: denial(v.denied) };
          }
        }
      }
    } catch (e) {
      return this.recorded(
        { Allow: false, Msg: `rampart: denied: ${messageOf(e)}` },
        {
          actor: `docker:${req.user}`,
          action: 'admission.docker',
          target,
          outcome: 'error',
          details: { ...details, error: messageOf(e) },
        },
        started,
      );
    }
    return this.recorded(
      answer,
      {
        actor: `docker:${req.user}`,
        action: 'admission.docker',
        target,
        outcome: answer.Allow ? 'success' : 'denied',
        details,
      },
      started,
    );
  }

  /**
   * A body that claims to be a Rampart run is judged by its signature alone: valid, unexpired
   * and never seen before, it is the configuration Rampart's own admission gate passed; anything
   * else claiming to be a run is denied. Undefined for a body that makes no claim.
   */
  private provenance(
    raw: Buffer,
    body: PNode,
    kind: 'container' | 'service',
  ): { answer: DockerAuthzResponse; details: Record<string, unknown> } | undefined {
    const now = this.opts.clock.now();
    const claim = runClaim(body, kind, { run: LABEL_RUN, signature: LABEL_SIGNATURE });
    const p = verifyBody(raw, claim, this.opts.provisionKey, now);
    if (p.verdict === 'unclaimed') return undefined;
    if (p.verdict === 'invalid')
      return {
        answer: { Allow: false, Msg: `rampart: denied: ${p.reason}` },
        details: { provenance: 'invalid', reason: p.reason },
      };
    for (const [sig, expires] of this.seenSignatures) if (expires < now) this.seenSignatures.delete(sig);
    if (this.seenSignatures.has(p.signature))
      return {
        answer: { Allow: false, Msg: `rampart: denied: run ${p.run}: a signed body is good for one create` },
        details: { provenance: 'replayed', run: p.run },
      };
    this.seenSignatures.set(p.signature, p.expiresMs);
    return { answer: { Allow: true }, details: { provenance: 'rampart', run: p.run } };
  }

  /** The answer, once its record is queued (or written, when durable or failing); a record that cannot be written is an error. */
  private async recorded<T>(answer: T, entry: Parameters<Auditor['record']>[0], started: number): Promise<T> {
    await this.records.submit(() => this.opts.auditor.record(entry), this.opts.decisionLog === 'durable');
    const verdict = entry.outcome === 'success' ? 'allow' : entry.outcome === 'denied' ? 'deny' : 'error';
    this.stats.decisions[verdict]++;
    this.observe((performance.now() - started) / 1000);
    return answer;
  }
}

const REVIEW_AT = { file: 'AdmissionReview', line: 1, column: 1 };
const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

/**
 * The object a review asks about, after checking that the review is one the API server could have
 * sent: an AdmissionReview, a known operation, an object on CREATE and UPDATE, and an object of
 * the kind the request names. Undefined for DELETE and CONNECT, which carry nothing to check. A
 * review that is none of these is denied: a webhook is not a place to guess.
 */
function checkReview(body: Obj, request: Obj, op: string): unknown {
  if (body['kind'] !== 'AdmissionReview' || typeof body['apiVersion'] !== 'string')
    throw new InputError(`not an AdmissionReview: kind is ${JSON.stringify(text(body['kind']))}`, REVIEW_AT);
  if (!OPERATIONS.has(op))
    throw new InputError(
      `request.operation "${op.slice(0, 40)}" is not CREATE, UPDATE, DELETE or CONNECT`,
      REVIEW_AT,
    );
  if (op === 'DELETE' || op === 'CONNECT') return undefined;
  const object = request['object'];
  if (!isObj(object)) throw new InputError(`request.object is missing from a ${op} review`, REVIEW_AT);
  const want = isObj(request['kind']) ? request['kind'] : {};
  const group = text(want['group']);
  const wantApi = group === '' ? text(want['version']) : `${group}/${text(want['version'])}`;
  const gotApi = text(object['apiVersion']);
  if (gotApi !== wantApi || text(object['kind']) !== text(want['kind']) || wantApi === '')
    throw new InputError(
      `object kind ${gotApi || '?'}/${text(object['kind']) || '?'} does not match the request's ` +
        `${group === '' ? '' : `${group}/`}${text(want['version']) || '?'}/${text(want['kind']) || '?'}`,
      REVIEW_AT,
    );
  return object;
}

/**
 * The API path the engine's router matches, without its version prefix. The engine decodes the
 * path before routing (gorilla/mux matches URL.Path), but the plugin is sent the raw RequestURI:
 * `/v1.45/containers%2Fcreate` is a create. Dot segments, repeated and trailing slashes are
 * normalized too, so no spelling the router could accept is classified as something else.
 * Undefined for a URI that cannot be decoded (denied).
 */
export function dockerApiPath(uri: string): string | undefined {
  const q = uri.indexOf('?');
  let p: string;
  try {
    p = decodeURIComponent(q < 0 ? uri : uri.slice(0, q));
  } catch {
    return undefined;
  }
  if (!p.startsWith('/') || p.includes('\0')) return undefined;
  p = posix.normalize(p);
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p.replace(/^\/v[0-9.]+(?=\/|$)/, '') || '/';
}

/** Which Docker API calls carry a spec to check. */
function classify(method: string, path: string): 'container' | 'service' | 'exec' | 'update' | undefined {
  if (method !== 'POST') return undefined;
  if (path === '/containers/create') return 'container';
  if (path === '/services/create' || /^\/services\/[^/]+\/update$/.test(path)) return 'service';
  if (/^\/containers\/[^/]+\/exec$/.test(path)) return 'exec';
  if (/^\/containers\/[^/]+\/update$/.test(path)) return 'update';
  return undefined;
}

const PLUGIN_AT = { file: 'AuthZReq', line: 1, column: 1 };

interface AuthzRequest {
  readonly method: string;
  readonly uri: string;
  readonly user: string;
  readonly body: Buffer | undefined;
}

/** The engine's authorization.Request: RequestUri (so spelled), RequestBody as base64. */
function authzRequest(raw: string): AuthzRequest {
  const m = decodeEngineBody(AUTHZ_REQUEST, parseJsonPairs(raw === '' ? '{}' : raw, 'AuthZReq'), 'AuthZReq');
  const s = (k: string): string => {
    const v = m.entries.get(k);
    return v?.kind === 'scalar' && typeof v.value === 'string' ? v.value : '';
  };
  const body = s('RequestBody');
  if (body !== '' && !/^[A-Za-z0-9+/]*={0,2}$/.test(body))
    throw new InputError('RequestBody is not base64', PLUGIN_AT);
  return {
    method: s('RequestMethod'),
    uri: s('RequestUri'),
    user: s('User') || 'anonymous',
    body: body === '' ? undefined : Buffer.from(body, 'base64'),
  };
}

function execAnswer(body: PNode, target: string): DockerAuthzResponse {
  const m = decodeEngineBody(EXEC_CONFIG, body, 'the exec body');
  const p = m.entries.get('Privileged');
  return p?.kind === 'scalar' && p.value === true
    ? { Allow: false, Msg: `rampart: a privileged exec is denied (${target})` }
    : { Allow: true };
}

/** docker update: limits may change, but not to unlimited. */
function updateAnswer(body: PNode, target: string): DockerAuthzResponse {
  const m = decodeEngineBody(CONTAINER_UPDATE, body, 'the update body');
  const pids = m.entries.get('PidsLimit');
  if (pids?.kind === 'scalar' && typeof pids.value === 'number' && pids.value <= 0)
    return { Allow: false, Msg: `rampart: an update that removes the process limit is denied (${target})` };
  return { Allow: true };
}

const line = (f: CheckedFinding): string => `${f.ruleId} (${f.severity}): ${f.message}`;

function denial(denied: readonly CheckedFinding[]): string {
  const shown = denied.slice(0, MAX_LISTED).map(line);
  const more = denied.length > MAX_LISTED ? `; and ${denied.length - MAX_LISTED} more` : '';
  return `rampart: denied by ${denied.length} finding(s): ${shown.join('; ')}${more}`;
}

function summary(v: Verdict): Record<string, unknown> {
  return {
    denied: v.denied.map((f) => ({ check: f.ruleId, severity: f.severity, message: f.message })),
    warnings: v.warnings.length,
  };
}

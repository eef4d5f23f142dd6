// The catalogue of security events: every type a component may publish, with the shape of its
// data, what it means and the severities it may carry. Detection, response, incidents, the live
// stream and the console consume events by type, so a type is a contract: add fields, never
// change or remove one. docs/events.md is checked against this file by a test.
//
// The severity scale means the same for every type (SEVERITY_MEANING): a type says which of the
// levels it can be, and publishing any other is a programming error (TypeError), so "high" from
// the egress proxy and "high" from the sandbox ask the same of a person.

import type { Outcome, Severity } from './types.js';

/** What every kernel telemetry event carries: the run, and the process in it. */
export interface TelemetryBase {
  run: string;
  agent: string;
  pid: number;
  ppid: number;
  /** The kernel's task name (15 characters at most). */
  comm: string;
}

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
    /** Where it runs: a bubblewrap sandbox, or a container of the Docker runtime. */
    runtime: 'bwrap' | 'docker';
    /** The container's image id (Docker runtime). */
    image?: string;
    /** What admission found in the container it was started as (Docker runtime; none at or above admission.deny_on). */
    admission?: { check: string; severity: string }[];
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
    /** Processes still running when the command had exited (then killed): bwrap runs. */
    leftover?: number;
    /** CPU time the run used, where its cgroup2 group accounts it. */
    cpuMs?: number;
  };
  /** A run hit a limit: memory, pids or its deadline. */
  'sandbox.limit_hit': {
    run: string;
    agent: string;
    limit: 'memory' | 'pids' | 'timeout';
    oomKilled: boolean;
  };
  /** An operator (or the response engine) killed a run. */
  'sandbox.killed': { run: string; by: string; reason?: string };
  /** A run was frozen, its evidence captured, then killed. */
  'sandbox.quarantined': {
    run: string;
    by: string;
    reason?: string;
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
    /** How the caller came: its run's channel, or a workload token over TCP. */
    via?: 'token' | 'channel';
    /** A plain request's path and query (first 2048 characters, redacted on record). */
    target?: string;
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
  /** A request on a connection the proxy inspects (a host marked inspect). */
  'egress.request': {
    agent: string;
    run: string;
    host: string;
    method: string;
    /** Path and query (first 2048 characters, redacted on record). */
    path: string;
    status: number;
    decision: 'allow' | 'deny' | 'error';
    reason: string;
    /** The credential the proxy added: the secret's name and fingerprint, never its value. */
    injected?: { secret: string; fingerprint: string; source: string };
    /** What outbound inspection found: rule, where (path, header:NAME, body), offset, action. */
    findings: { rule: string; where: string; offset: number; action: string }[];
    /** Findings past the twentieth, counted. */
    findingsNotListed?: number;
    /** Why the body, or part of it, went uninspected (an unknown encoding, past the bound). */
    uninspected?: string;
    bytesUp: number;
    bytesDown: number;
    durationMs: number;
  };
  /** The egress CA was rotated. */
  'egress.ca_rotated': { by: string; fingerprint: string; previous: string; notAfter: string };
  /** The kill switch: every run on the host killed at once. */
  'sandbox.destroyed_all': { runs: string[]; by: string; ms: number; reason?: string };
  /** Leases ended: their credentials taken back (roles dropped), their files removed from runs. */
  'secrets.leases_revoked': {
    /** What was asked: lease:ID, run:ID, agent:ID, vault:NAME, all, expired or retry. */
    selector: string;
    reason: string;
    by: string;
    count: number;
    /** The first 100 lease ids and runs. */
    leases: string[];
    runs: string[];
  };
  /** A lease's credential could not be taken back: it stays "revoking", retried with backoff. */
  'secrets.lease_revoke_failed': {
    lease: string;
    vault: string;
    name: string;
    engine: string;
    attempts: number;
    error: string;
  };
  /** A planted decoy credential was seen: the run it was planted in is compromised. */
  'secrets.honeytoken_used': {
    kind: string;
    /** The run and agent it was planted for. */
    run: string;
    agent: string;
    fingerprint: string;
    /** Where it was seen: "egress request from run ...", "an audit record", "a log line". */
    where: string;
    /** The run that sent it, when it came through the egress proxy. */
    usedBy?: { agent: string; run: string };
  };
  /** A secret got a new version by rotation (scheduled, asked for, or "a leak is suspected"). */
  'secrets.rotated': {
    vault: string;
    name: string;
    version: number;
    fingerprint: string;
    by: string;
    why: 'scheduled' | 'requested';
  };
  /** A process started in a run (kernel telemetry): argv passed through redaction. */
  'process.exec': TelemetryBase & {
    exe: string;
    argv: string[];
    cwd: string;
    uid: number;
    /** What fd 0 was at exec: socket, pipe, tty, file or "". */
    stdin: string;
    pexe?: string;
    pcomm?: string;
    /** Its executable was written in this run by a process that had made a network connection. */
    downloaded?: boolean;
  };
  /** A process of a run exited (kernel telemetry). */
  'process.exit': TelemetryBase & { exitCode: number; signal: number };
  /** A run's process opened a path that matters (kernel telemetry; see detect.telemetry.files). */
  'file.open': TelemetryBase & { path: string; flags: string[] };
  /** A run's process connected a socket (kernel telemetry): the address it asked for. */
  'net.connect': TelemetryBase & { address: string; port: number; family: 'inet' | 'inet6' | 'unix' };
  /** A run's process made a syscall its sandbox refuses (seccomp's errno, seen by the kernel). */
  'syscall.denied': TelemetryBase & { syscall: string; nr: number; errno: number };
  /** A detection rule matched: on record before anything acts on it. */
  'detect.detection': {
    rule: string;
    priority: Severity;
    output: string;
    tags: string[];
    run: string;
    agent: string;
    namespace: string;
    /** Record numbers of the events that triggered it (the first 20). */
    events: number[];
    /** Matches counted on this detection: 1 at first, the window's total on a repeat summary. */
    count: number;
    /** A summary of repeats within the dedup window, after the first detection. */
    repeat?: boolean;
    /** For baselines: what was new, and how much history it is new against. */
    baseline?: { kind: string; value: string; runs: number };
    /** What the triggering event said (process, file, destination), for playbooks. */
    fields?: Record<string, string>;
  };
  /** A detection rule set became the one matching. */
  'detect.rules_activated': {
    version: string;
    previous: string;
    dirs: string[];
    files: number;
    rules: number;
    enabled: number;
  };
  /** A rules change did not load; the previous set keeps matching. */
  'detect.rules_load_failed': { dirs: string[]; serving: string; errors: string[] };
  /** Kernel telemetry lost events (counted in the kernel or in the reader), or went down or up. */
  'detect.telemetry': {
    state: 'up' | 'degraded' | 'dropped';
    reason: string;
    /** Events lost since the last report, and in all. */
    dropped?: number;
    droppedTotal?: number;
  };
  /**
   * A response action was taken (or would have been, in a dry run), by a playbook on a detection
   * or by a person. Recorded after the action: containment never waits on the record.
   */
  'respond.action': {
    action: string;
    /**
     * done, gone (its target was gone), failed, dry_run, ordered (to the replica that keeps the
     * run), replaced (by a freeze: the breaker), confined (a drill's action beyond its own runs
     * and agent, recorded and not taken).
     */
    outcome: 'done' | 'gone' | 'failed' | 'dry_run' | 'ordered' | 'replaced' | 'confined';
    target: string;
    by: string;
    reason: string;
    playbook?: string;
    rule?: string;
    /** The detection's record number. */
    detection?: number;
    run?: string;
    agent?: string;
    /** Milliseconds the action took, and from the detection's record to its end. */
    ms: number;
    sinceDetectionMs?: number;
    error?: string;
    /** What it became: the stricter action run because it failed (fail_closed). */
    fallback?: string;
    /** The order's id, when the replica keeping the run carried it out. */
    order?: string;
    parameters?: Record<string, unknown>;
    detail?: Record<string, unknown>;
  };
  /** For the notification channels: a playbook's notify, an escalation, a failed action handed to people. */
  'respond.notify': {
    message: string;
    playbook?: string;
    rule?: string;
    detection?: number;
    run?: string;
    agent?: string;
    output?: string;
    /** The detection's rule tags. */
    tags?: string[];
  };
  /** The circuit breaker tripped for a scope (critical), or a person reset it (medium). */
  'respond.breaker': {
    scope: string;
    state: 'tripped' | 'reset';
    limit?: number;
    windowMs?: number;
    by: string;
    reason: string;
    /** Actions stopped or frozen instead since the trip (on reset). */
    suppressed?: number;
  };
  /** A notification could not be delivered after every try (its channel's health says so too). */
  'notify.delivery_failed': {
    channel: string;
    kind: string;
    /** The event it was about: its type and record number. */
    about: string;
    seq: number;
    attempts: number;
    error: string;
  };
  /** An incident was opened: from a detection, a playbook's action, a breaker, a break-glass request, or by hand. */
  'incident.opened': {
    id: string;
    title: string;
    kind: string;
    by: string;
    runs: string[];
    agents: string[];
    rules: string[];
    tags: string[];
    phase: string;
  };
  /** A person acknowledged an incident (PagerDuty: acknowledge). */
  'incident.acknowledged': { id: string; title: string; by: string; tags: string[]; phase: string };
  /** An incident changed: assigned, a note, a phase, a verdict, a task, its severity raised, reopened. */
  'incident.changed': {
    id: string;
    title: string;
    by: string;
    change: 'assign' | 'note' | 'phase' | 'verdict' | 'task' | 'severity' | 'reopen';
    from?: string;
    to?: string;
    tags: string[];
    phase: string;
  };
  /** An incident was resolved (PagerDuty: resolve). */
  'incident.resolved': {
    id: string;
    title: string;
    by: string;
    verdict?: string;
    tags: string[];
    phase: string;
    /** From the detection to resolution. */
    durationMs: number;
  };
  /** Someone asked for break-glass access. */
  'breakglass.requested': {
    id: string;
    requester: string;
    scopes: string[];
    /** A policy override: the agent's denied decisions of these actions are allowed. */
    override?: { agent: string; actions: string[] };
    reason: string;
    ttlMs: number;
    emergency: boolean;
    required: number;
  };
  /** An approver approved (or, with emergency, the requester): active once enough have. */
  'breakglass.approved': {
    id: string;
    requester: string;
    by: string;
    approvals: string[];
    required: number;
    active: boolean;
    emergency: boolean;
    expiresAt?: string;
  };
  /** An approver denied a request: it is closed. */
  'breakglass.denied': { id: string; requester: string; by: string; reason: string };
  /** A break-glass credential was used (its first use, then a count per minute). */
  'breakglass.used': { id: string; requester: string; uses: number; method: string; route: string };
  /** Break-glass access ended: expired, revoked, or a pending request lapsed. */
  'breakglass.ended': {
    id: string;
    requester: string;
    why: 'expired' | 'revoked' | 'lapsed';
    by: string;
    uses: number;
  };
  /** The post-use review of a break-glass access was recorded (its incident may now be resolved). */
  'breakglass.reviewed': { id: string; requester: string; by: string; text: string };
  /**
   * A push through the git gate: accepted (on record before it goes upstream), refused (with
   * every violation that stood), or failed (the upstream or the gate's own check failed).
   */
  'gitgate.push': {
    run: string;
    agent: string;
    repo: string;
    task: string;
    outcome: 'accepted' | 'refused' | 'failed';
    refs: { ref: string; old: string; new: string }[];
    /** The pushed commits no upstream ref had (at most 1000). */
    commits: string[];
    files: number;
    /** The paths changed (at most 200). */
    paths: string[];
    violations: { rule: string; target: string }[];
    /** Violations policy waived, with its reason. */
    waived: { rule: string; reason: string }[];
    reason?: string;
  };
  /** A fetch or clone through the git gate, or one it refused (another repository, no upstream). */
  'gitgate.fetch': {
    run: string;
    agent: string;
    repo: string;
    outcome: 'served' | 'refused' | 'failed';
    reason?: string;
  };
  /** A playbook set became the one answering detections. */
  'respond.playbooks_activated': {
    version: string;
    previous: string;
    dirs: string[];
    files: number;
    playbooks: number;
  };
  /** A playbooks change did not load; the previous set keeps answering. */
  'respond.playbooks_load_failed': { dirs: string[]; serving: string; errors: string[] };
  /** A drill began: its agents (drill:ID:...) may start runs until it finishes or expires. */
  'drill.started': { id: string; by: string; scenarios: string[]; repeat: number; expires: string };
  /** A drill ended, with what held: one outcome per scenario, and act-to-containment times. */
  'drill.finished': {
    id: string;
    by: string;
    held: number;
    failed: number;
    unavailable: number;
    durationMs: number;
    /** Act to containment over every repetition of the containment scenarios, ms. */
    containMs?: { p50: number; p99: number; max: number; n: number };
    scenarios: { name: string; expected: string; observed: string; status: string }[];
  };
  /** A drill scenario did not hold: a control did not block, detect or contain what it should. */
  'drill.scenario_failed': {
    id: string;
    scenario: string;
    expected: string;
    observed: string;
    reason: string;
    runs: string[];
  };
  /** A person signed in to the web console with an API token; the session lasts until `expires`. */
  'console.signed_in': { actor: string; session: string; scopes: string[]; remote: string; expires: string };
  /** A console session ended: its person signed out, or it expired (every replica forgets it). */
  'console.signed_out': { actor: string; session: string; reason: 'signed_out' | 'expired' };
}

export type EventType = keyof EventMap;

export { EVENT_CATALOGUE, SEVERITY_MEANING, checkEvent, type EventSpec } from './catalogue.js';

export interface BusEvent<K extends EventType = EventType> {
  readonly type: K;
  readonly severity: Severity;
  readonly source: string;
  readonly subject?: { readonly agent?: string; readonly run?: string };
  /** How the audit record of this event reads: a refused request is "denied". Default "success". */
  readonly outcome?: Outcome;
  readonly data: EventMap[K];
}

/** An event as a subscriber receives it: the event, and its record number and time in the log. */
export interface StreamEvent {
  readonly seq: number;
  readonly time: string;
  readonly event: BusEvent;
}

/** What components get to publish events (the server passes the bus). */
export interface EventPublisher {
  publish<K extends EventType>(event: BusEvent<K>): Promise<unknown>;
}

// The event catalogue's second half: what each type means and the severities it may carry (its
// data's shape is EventMap in events.ts). docs/events.md is checked against both by a test.

import type { EventType } from './events.js';
import type { Severity } from './types.js';

/** What each level asks of the people running Rampart. */
export const SEVERITY_MEANING: Readonly<Record<Severity, string>> = {
  info: 'Normal operation, on record for completeness: nobody needs to look.',
  low: 'Unusual but harmless on its own: worth a look when something else points here.',
  medium: 'A control refused or stopped something an agent or client tried: review in the day.',
  high: 'A control failed, is degraded, or had to end something by force: a person acts today.',
  critical:
    'Trust or containment is at stake (a forged key, a tampered log, a quarantine, the kill switch): act now.',
};

export interface EventSpec {
  /** One line: what happened. */
  readonly summary: string;
  /** The levels this type may carry, each as SEVERITY_MEANING defines it. */
  readonly severities: readonly Severity[];
}

/** Every type, what it means and its severities. A type missing here, or extra, fails the build. */
export const EVENT_CATALOGUE = {
  'auth.rejected': {
    summary: 'A request was refused for its credential (or a window of refusals, counted).',
    severities: ['medium'],
  },
  'health.changed': {
    summary: 'A component changed health status (high when it is no longer ok).',
    severities: ['info', 'high'],
  },
  'controlplane.lifecycle': { summary: 'A control plane started or stopped.', severities: ['info'] },
  'policy.activated': { summary: 'A policy set became the one deciding.', severities: ['info'] },
  'policy.load_failed': {
    summary: 'A policy change did not load; the previous set keeps serving.',
    severities: ['high'],
  },
  'policy.opa_unavailable': {
    summary: 'The external OPA stopped answering; the built-in engine decides.',
    severities: ['high'],
  },
  'policy.opa_recovered': { summary: 'The external OPA answers again.', severities: ['info'] },
  'identity.revoked': {
    summary: "Tokens were revoked: info at a run's end, medium by an operator, high for a namespace or all.",
    severities: ['info', 'medium', 'high'],
  },
  'identity.key_untrusted': {
    summary: 'A signing key in the store is not certified by the installation key; refused.',
    severities: ['critical'],
  },
  'identity.key_rotated': { summary: "A replica's token-signing key was replaced.", severities: ['info'] },
  'identity.rate_limited': { summary: 'An agent keeps hitting its rate limit.', severities: ['medium'] },
  'identity.revocations_stale': {
    summary: 'Revocations could not be refreshed: every workload token is refused.',
    severities: ['critical'],
  },
  'sandbox.run_started': { summary: 'A sandboxed run started.', severities: ['info'] },
  'sandbox.run_ended': {
    summary: 'A run ended: info when it exited, medium when stopped, high when its runner died.',
    severities: ['info', 'medium', 'high'],
  },
  'sandbox.limit_hit': { summary: 'A run hit its memory, pids or time limit.', severities: ['medium'] },
  'sandbox.killed': {
    summary: 'A run was killed by an operator or the response engine.',
    severities: ['medium'],
  },
  'sandbox.quarantined': {
    summary: 'A run was frozen, its evidence captured, then killed.',
    severities: ['critical'],
  },
  'sandbox.destroyed_all': { summary: 'Every run on a host was killed at once.', severities: ['critical'] },
  'egress.connection': {
    summary: 'A connection through the egress proxy ended (info) or was refused (medium).',
    severities: ['info', 'medium'],
  },
  'egress.kill_switch': {
    summary: 'The egress kill switch was turned on (critical) or off (medium).',
    severities: ['medium', 'critical'],
  },
  'egress.ban': {
    summary: 'An address or range was banned or unbanned at the proxy.',
    severities: ['medium'],
  },
  'egress.request': {
    summary:
      'A request to an inspected host: sent (info; with its injected credential named), a credential found in it recorded (medium), or refused by policy, inspection or its origin (high).',
    severities: ['info', 'medium', 'high'],
  },
  'egress.ca_rotated': {
    summary: "The egress CA's key and certificate were replaced; runs started afterwards trust the new one.",
    severities: ['medium'],
  },
  'secrets.leases_revoked': {
    summary: "Leases ended: credentials taken back, runs' files removed.",
    severities: ['info'],
  },
  'secrets.lease_revoke_failed': {
    summary: 'A credential could not be taken back; its lease stays revoking, retried.',
    severities: ['high'],
  },
  'secrets.rotated': { summary: 'A secret got a new version by rotation.', severities: ['info'] },
  'secrets.honeytoken_used': {
    summary: 'A planted decoy credential was used: the run it was planted in is compromised.',
    severities: ['critical'],
  },
  'process.exec': { summary: 'A process started in a run (kernel telemetry).', severities: ['info'] },
  'process.exit': { summary: 'A process of a run exited (kernel telemetry).', severities: ['info'] },
  'file.open': { summary: 'A run opened a path that matters (kernel telemetry).', severities: ['info'] },
  'net.connect': { summary: 'A run connected a socket (kernel telemetry).', severities: ['info'] },
  'syscall.denied': {
    summary: 'A run made a syscall its sandbox refuses (kernel telemetry).',
    severities: ['medium'],
  },
  'detect.detection': {
    summary: "A detection rule matched; its severity is the rule's priority.",
    severities: ['info', 'low', 'medium', 'high', 'critical'],
  },
  'detect.rules_activated': {
    summary: 'A detection rule set became the one matching.',
    severities: ['info'],
  },
  'detect.rules_load_failed': {
    summary: 'A rules change did not load; the previous set keeps matching.',
    severities: ['high'],
  },
  'detect.telemetry': {
    summary: 'Kernel telemetry came up (info), went down or lost events (high).',
    severities: ['info', 'high'],
  },
  'respond.action': {
    summary: 'A response action was taken, by a playbook or a person; recorded after it acted.',
    severities: ['info', 'medium', 'high', 'critical'],
  },
  'respond.notify': {
    summary: "A playbook's notification, an escalation, or a failed action handed to people.",
    severities: ['info', 'low', 'medium', 'high', 'critical'],
  },
  'respond.breaker': {
    summary: 'The circuit breaker tripped for a scope (critical) or was reset by a person (medium).',
    severities: ['medium', 'critical'],
  },
  'notify.delivery_failed': {
    summary: 'A notification could not be delivered after every try.',
    severities: ['high'],
  },
  'incident.opened': {
    summary: "An incident was opened; its severity is the incident's.",
    severities: ['low', 'medium', 'high', 'critical'],
  },
  'incident.acknowledged': {
    summary: 'A person acknowledged an incident.',
    severities: ['low', 'medium', 'high', 'critical'],
  },
  'incident.changed': {
    summary: 'An incident was assigned, noted, moved to a phase, judged, raised in severity or reopened.',
    severities: ['low', 'medium', 'high', 'critical'],
  },
  'incident.resolved': {
    summary: 'An incident was resolved.',
    severities: ['low', 'medium', 'high', 'critical'],
  },
  'breakglass.requested': { summary: 'Someone asked for break-glass access.', severities: ['critical'] },
  'breakglass.approved': {
    summary: 'A break-glass request was approved (active once enough approvers have).',
    severities: ['critical'],
  },
  'breakglass.denied': { summary: 'A break-glass request was denied.', severities: ['high'] },
  'breakglass.used': { summary: 'A break-glass credential was used.', severities: ['critical'] },
  'breakglass.ended': {
    summary: 'Break-glass access ended: expired, revoked, or a request lapsed.',
    severities: ['high'],
  },
  'breakglass.reviewed': {
    summary: "A break-glass access's post-use review was recorded.",
    severities: ['medium'],
  },
  'gitgate.push': {
    summary:
      'A push through the git gate: accepted (on record before it goes upstream, info), refused with its violations (medium; high for a credential), or failed (medium).',
    severities: ['info', 'medium', 'high'],
  },
  'gitgate.fetch': {
    summary: 'A fetch or clone through the git gate (info), or one it refused or could not serve (medium).',
    severities: ['info', 'medium'],
  },
  'respond.playbooks_activated': {
    summary: 'A response playbook set became the one answering detections.',
    severities: ['info'],
  },
  'respond.playbooks_load_failed': {
    summary: 'A playbooks change did not load; the previous set keeps answering.',
    severities: ['high'],
  },
  'drill.started': {
    summary: 'A drill began: its own agents may start runs until it finishes or expires.',
    severities: ['info'],
  },
  'drill.finished': {
    summary: 'A drill ended: every scenario held (info) or one did not (high).',
    severities: ['info', 'high'],
  },
  'drill.scenario_failed': {
    summary: 'A drill scenario did not hold: a control did not block, detect or contain what it should.',
    severities: ['high'],
  },
  'console.signed_in': {
    summary: 'A person signed in to the web console with an API token (the session carries its scopes).',
    severities: ['info'],
  },
  'console.signed_out': {
    summary: 'A console session ended: signed out or expired; every replica forgets it.',
    severities: ['info'],
  },
} as const satisfies Record<EventType, EventSpec>;

/** Throws TypeError for a type outside the catalogue or a severity its type does not carry. */
export function checkEvent(type: string, severity: Severity): void {
  const spec = (EVENT_CATALOGUE as Record<string, EventSpec>)[type];
  if (!spec) throw new TypeError(`unknown event type ${type}`);
  if (!spec.severities.includes(severity))
    throw new TypeError(`event ${type} cannot be ${severity} (it is ${spec.severities.join(' or ')})`);
}

// Settings shapes that config fills and components take. They live here, once, because config may
// not import components and components may not import config (docs/architecture.md).

import type { RateLimits } from './ratelimit.js';
import type { Severity } from './types.js';

export interface IdentitySettings {
  readonly issuer: string;
  readonly audience: string;
  readonly tokenTtlMs: number;
  readonly maxRunLifetimeMs: number;
  readonly clockSkewMs: number;
  readonly keyRotationMs: number;
  readonly revocationStalenessMs: number;
  readonly cacheSize: number;
  readonly rateLimits: RateLimits;
  readonly rateLimitEvent: { readonly rejections: number; readonly windowMs: number };
}

export interface SandboxProfile {
  readonly memoryBytes: number;
  readonly pids: number;
  readonly cpus: number;
  readonly timeoutMs: number;
  readonly devices: readonly string[];
  readonly readOnly: readonly string[];
  readonly syscalls: readonly string[];
  /** Decoy credentials planted in the run's home. */
  readonly honeytokens: readonly HoneytokenKind[];
  /** required: a run starts only while kernel telemetry watches runs (detect.telemetry). */
  readonly telemetry: 'optional' | 'required';
}

export type HoneytokenKind = 'aws' | 'github' | 'database';

export type RuntimeName = 'bwrap' | 'docker' | 'swarm';

export interface SandboxSettings {
  /** The runtime `rampart run` uses when none is named. */
  readonly runtime: RuntimeName;
  readonly docker: {
    readonly socket: string;
    /** Approved images by digest: sha256:<id> or name@sha256:<repository digest>. */
    readonly images: readonly string[];
  };
  readonly bwrap: string;
  readonly cgroupParent: string;
  /** Host uids runs take theirs from (gid = uid): one per live run. */
  readonly uids: { readonly first: number; readonly count: number };
  /** Bounds on a quarantine's capture. */
  readonly evidence: {
    readonly maxBytes: number;
    readonly maxFileBytes: number;
    readonly timeoutMs: number;
    readonly maxMemoryBytes: number;
  };
  readonly gracePeriodMs: number;
  readonly workspacesDir: string;
  readonly hide: readonly string[];
  readonly profiles: Readonly<Record<string, SandboxProfile>>;
  /** Hidden inside every sandbox; no workspace may expose it. */
  readonly dataDir: string;
  /** Where quarantine archives go. */
  readonly evidenceDir: string;
  /** No run outlives this (its token cannot be refreshed past it either). */
  readonly maxRunLifetimeMs: number;
}

export interface EgressSettings {
  readonly enabled: boolean;
  readonly listen: { readonly host: string; readonly port: number };
  readonly mode: 'enforce' | 'report';
  readonly askPolicy: boolean;
  readonly lists: readonly string[];
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly allowRanges: readonly string[];
  readonly maxConnectionsPerAgent: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Host patterns terminated and inspected (the injections' hosts are added by the proxy). */
  readonly inspect: readonly string[];
  readonly inject: readonly EgressInjection[];
  readonly inspectMaxBody: number;
  readonly originCaFile: string | undefined;
  /** Names resolved to a fixed address, not through DNS. */
  readonly hosts: Readonly<Record<string, string>>;
}

/** A credential the proxy adds to requests to a host (egress.inject[i], a profile expanded). */
export interface EgressInjection {
  /** egress.inject[0], for records. */
  readonly source: string;
  /** The agent profile it came from (claude-code, codex): runs get that agent's placeholder. */
  readonly profile?: 'claude-code' | 'codex';
  readonly host: string;
  readonly pathPrefix: string;
  /** Lower case. */
  readonly header: string;
  readonly scheme: 'bearer' | 'basic' | 'raw';
  readonly username?: string;
  /** More headers dropped from the agent's request (lower case). */
  readonly strip: readonly string[];
  readonly vault: string;
  readonly name: string;
}

export interface AdmissionSettings {
  readonly profile: 'default' | 'vm-runner';
  readonly policyFile: string | undefined;
  readonly denyOn: Severity;
  readonly decisionLog: 'async' | 'durable';
  readonly dockerPluginSocket: string | undefined;
}

/** The secrets broker's configuration (config `secrets`), durations in ms. */
export interface SecretsSettings {
  readonly leaseTtlMs: number;
  readonly leaseMaxTtlMs: number;
  readonly sweepIntervalMs: number;
  readonly revokeTimeoutMs: number;
  readonly postgres: readonly PostgresEngineSettings[];
  readonly github: readonly GithubEngineSettings[];
  readonly rotation: readonly RotationSettings[];
}

export interface PostgresEngineSettings {
  readonly vault: string;
  /** Secret file with the admin connection URL. */
  readonly connectionFile: string;
  readonly deliverHost?: string;
  readonly roles: readonly PostgresRoleSettings[];
}

export interface PostgresRoleSettings {
  readonly name: string;
  readonly creation: string;
  readonly revocation?: string;
  readonly ttlMs: number;
  readonly maxTtlMs: number;
}

export interface RotationSettings {
  readonly vault: string;
  readonly name: string;
  /** Undefined: only when asked. */
  readonly everyMs?: number;
  readonly length: number;
  readonly rotator:
    | { readonly kind: 'command'; readonly command: readonly string[] }
    | { readonly kind: 'postgres'; readonly role: string; readonly connectionFile: string };
}

export interface GithubEngineSettings {
  readonly vault: string;
  readonly appId: number;
  /** Secret file with the app's RSA private key (PEM). */
  readonly privateKeyFile: string;
  readonly apiUrl: string;
  /** PEM bundle the API's certificate is verified with (a GitHub Enterprise or test server). */
  readonly caFile?: string;
  readonly repositories: readonly {
    readonly name: string;
    readonly installationId: number;
    readonly repository: string;
    readonly permissions: Readonly<Record<string, 'read' | 'write'>>;
  }[];
}

/** The response engine (respond component). */
export interface RespondSettings {
  /** Run playbooks on detections on this replica (the one that detects). */
  readonly enabled: boolean;
  /** Playbook directories after the shipped set (when includeShipped). */
  readonly playbooks: readonly string[];
  readonly includeShipped: boolean;
  readonly watch: boolean;
  /** Every playbook only records what it would do. */
  readonly dryRun: boolean;
  readonly breaker: {
    readonly windowMs: number;
    readonly perPlaybook: number;
    readonly perAction: number;
    readonly perAgent: number;
  };
}

/** One notification channel (notify component); secrets are paths, read when it starts. */
export interface NotifyChannelSettings {
  readonly name: string;
  readonly type: 'webhook' | 'slack' | 'pagerduty' | 'email';
  readonly url: string | undefined;
  readonly urlFile: string | undefined;
  readonly secretFile: string | undefined;
  readonly minSeverity: 'info' | 'low' | 'medium' | 'high' | 'critical';
  readonly types: readonly string[];
  /** Only events carrying one of these tags (detections, notifications, incidents); empty: all. */
  readonly tags: readonly string[];
  /** Incident events only in these phases; empty: all. */
  readonly phases: readonly string[];
  readonly smtp:
    | {
        readonly host: string;
        readonly port: number;
        readonly tls: 'starttls' | 'tls' | 'none';
        readonly user: string | undefined;
        readonly passwordFile: string | undefined;
        readonly from: string;
        readonly to: readonly string[];
      }
    | undefined;
}

export interface NotifySettings {
  readonly channels: readonly NotifyChannelSettings[];
  readonly retry: { readonly attempts: number; readonly backoffMs: number; readonly timeoutMs: number };
  readonly queue: number;
}

/** One output of the audit log to a collector (sinks component); secrets are paths. */
export interface SinkSettings {
  readonly name: string;
  readonly type: 'syslog' | 'splunk' | 'elasticsearch' | 'witness';
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly caFile: string | undefined; readonly serverName: string | undefined } | undefined;
  readonly url: string;
  readonly tokenFile: string | undefined;
  readonly index: string;
  readonly batch: number;
}

export interface SinksSettings {
  readonly outputs: readonly SinkSettings[];
  readonly maxLag: number;
}

/** The web console (src/console). */
export interface ConsoleSettings {
  readonly enabled: boolean;
  /** A session's lifetime from sign-in. */
  readonly sessionTtlMs: number;
}

export interface IncidentsSettings {
  readonly enabled: boolean;
  /** What groups detections into one incident: the same run, the same agent, or both. */
  readonly groupBy: readonly ('run' | 'agent')[];
  /** A detection joins an open incident whose last activity is at most this old. */
  readonly windowMs: number;
  /** Detections below this open no incident (they still join an open one). */
  readonly minSeverity: 'info' | 'low' | 'medium' | 'high' | 'critical';
  readonly runbooks: readonly string[];
  readonly includeShipped: boolean;
  /** How far before the first event a timeline starts, and the most records it holds. */
  readonly timelineLeadMs: number;
  readonly timelineMax: number;
}

export interface BreakglassSettings {
  /** Client names (auth.clients) whose personal credentials may approve. */
  readonly approvers: readonly string[];
  /** Approvals needed (K of the N approvers). */
  readonly required: number;
  /** Scopes a request may ask for. */
  readonly scopes: readonly string[];
  readonly maxTtlMs: number;
  /** A request nobody approves in this time lapses. */
  readonly pendingMs: number;
  /** Whether a requester may approve their own request in an emergency. */
  readonly allowEmergency: boolean;
  /** Whether a request may ask for a policy override. */
  readonly overrides: boolean;
}

export interface GitgateUpstream {
  /** ORG/NAME glob. */
  readonly repos: string;
  /** With {repo}, {org} and {name} to replace. */
  readonly url: string;
  /** vault:VAULT/NAME with the same placeholders, or none (an upstream that needs none). */
  readonly credential: string | undefined;
  readonly username: string;
}

export interface GitgateRules {
  readonly branch: string;
  readonly protected: readonly string[];
  readonly ciPaths: readonly string[];
  readonly ownerPaths: readonly string[];
  readonly dependencyPaths: readonly string[];
  readonly maxFileSize: number;
  readonly maxFiles: number;
  readonly scanSecrets: boolean;
  readonly messageTask: boolean;
}

export interface GitgateSettings {
  readonly enabled: boolean;
  readonly git: string;
  readonly upstreams: readonly GitgateUpstream[];
  readonly rules: GitgateRules;
  readonly maxPush: number;
  readonly timeoutMs: number;
}

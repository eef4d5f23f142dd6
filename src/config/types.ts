// The configuration as the rest of Rampart sees it: normalized (durations in ms, sizes in bytes,
// paths absolute), validated, and frozen. config/normalize.ts builds it from what the schema
// accepts; components take their sections through the settings shapes in core/settings.ts.

import type { Scope } from '../core/scopes.js';
import type {
  AdmissionSettings,
  EgressSettings,
  SecretsSettings,
  IdentitySettings,
  RespondSettings,
  IncidentsSettings,
  BreakglassSettings,
  ConsoleSettings,
  GitgateSettings,
  NotifySettings,
  SinksSettings,
  SandboxProfile,
  SandboxSettings,
} from '../core/settings.js';

export interface ServerConfig {
  readonly listen: { readonly host: string; readonly port: number };
  readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined;
  readonly bodyLimit: number;
  readonly requestTimeoutMs: number;
  readonly shutdownGraceMs: number;
  readonly metricsAuth: boolean;
}

export interface ClientConfig {
  readonly name: string;
  readonly tokenFile: string;
  readonly scopes: readonly Scope[];
}

export interface SqliteConfig {
  readonly driver: 'sqlite';
  readonly file: string;
}

export interface PostgresConfig {
  readonly driver: 'postgres';
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly passwordFile: string | undefined;
  readonly schema: string;
  readonly poolSize: number;
  readonly connectTimeoutMs: number;
  readonly ssl: { readonly caFile: string | undefined; readonly rejectUnauthorized: boolean } | undefined;
}

export type StoreConfig = SqliteConfig | PostgresConfig;

export interface AuditConfig {
  readonly checkpointIntervalMs: number;
  readonly checkpointEvery: number;
  readonly maxBatch: number;
  readonly trustedKeys: readonly string[];
}

export type DecisionLogMode = 'async' | 'durable' | 'off';

export type IdentityConfig = IdentitySettings;

export type { SandboxProfile };

export type EgressConfig = EgressSettings;

export type SandboxConfig = SandboxSettings;

/** The ceiling the source documents set for workload tokens: "short-lived JWTs (10 minutes max)". */
export const MAX_TOKEN_TTL_MS = 600_000;

export interface PolicyConfig {
  /** undefined: the shipped default set. */
  readonly dir: string | undefined;
  readonly watch: boolean;
  readonly cacheSize: number;
  readonly decisionLog: DecisionLogMode;
  readonly opa:
    | {
        readonly url: string;
        readonly path: string;
        readonly timeoutMs: number;
        readonly retryMs: number;
        readonly tokenFile: string | undefined;
      }
    | undefined;
}

export interface Config {
  /** The file this came from, or undefined when built from defaults alone. */
  readonly source: string | undefined;
  readonly dataDir: string;
  readonly server: ServerConfig;
  readonly auth: {
    readonly clients: readonly ClientConfig[];
    readonly refusalWindowMs: number;
    readonly refusalsPerSource: number;
  };
  readonly store: StoreConfig;
  readonly audit: AuditConfig;
  readonly policy: PolicyConfig;
  readonly identity: IdentityConfig;
  readonly sandbox: SandboxConfig;
  readonly egress: EgressConfig;
  readonly secrets: SecretsSettings;
  readonly admission: AdmissionConfig;
  readonly detect: DetectConfig;
  readonly respond: RespondConfig;
  readonly incidents: IncidentsSettings;
  readonly breakglass: BreakglassSettings;
  readonly console: ConsoleSettings;
  readonly gitgate: GitgateSettings;
  readonly notify: NotifySettings;
  readonly sinks: SinksSettings;
  readonly logging: { readonly level: string };
}

export type AdmissionConfig = AdmissionSettings;

export type RespondConfig = RespondSettings;

export interface DetectConfig {
  readonly enabled: boolean;
  /** Rules directories after the shipped set (when includeShipped). */
  readonly rules: readonly string[];
  readonly includeShipped: boolean;
  readonly watch: boolean;
  readonly dedupMs: number;
  readonly telemetry: 'auto' | 'off';
  readonly baselines: {
    readonly enabled: boolean;
    readonly learningRuns: number;
    readonly learningDays: number;
    readonly by: readonly ('agent' | 'profile' | 'namespace')[];
  };
  readonly blocklist: readonly string[];
}

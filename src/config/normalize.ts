// From what the schema accepts to the Config the program uses: one function per section. Each
// takes its section apart with a rest that `exhaustive` requires to be empty, so a key added to
// the schema (and so to the inferred type) that nobody reads fails the build, and a key read
// here that the schema lacks does too. Problems are collected, not thrown: the user sees every
// wrong value of a file at once, each at its position.

import { isAbsolute, resolve } from 'node:path';
import { RampartError } from '../core/errors.js';
import type { RateClass } from '../core/ratelimit.js';
import type { SandboxProfile } from '../core/settings.js';
import { parseDuration, parseSize } from '../core/units.js';
import type { Locating } from '../core/yaml.js';
import { injection, pinnedHosts } from './egress.js';
import { exhaustive, type Infer } from './infer.js';
import { notifyConfig, sinksConfig } from './outputs.js';
import { breakglassConfig, consoleConfig, gitgateConfig, incidentsConfig } from './people.js';
import { secretsConfig } from './secrets.js';
import type { configSchema } from './schema.js';
import {
  MAX_TOKEN_TTL_MS,
  type AdmissionConfig,
  type AuditConfig,
  type Config,
  type EgressConfig,
  type IdentityConfig,
  type DetectConfig,
  type RespondConfig,
  type PolicyConfig,
  type SandboxConfig,
  type ServerConfig,
  type StoreConfig,
} from './types.js';

/** The configuration as the schema accepts it, defaults filled in: derived from the schema. */
export type RawConfig = Infer<typeof configSchema>;
type RawProfile = RawConfig['sandbox']['profiles'][string];
export type Path = (string | number)[];

/** What every section's normalizer needs: unit parsers that report, paths, positions. */
export interface Ctx {
  ms(path: Path, value: string, min?: number): number;
  bytes(path: Path, value: string): number;
  /** A path from the file, resolved against its directory. */
  abs(p: string): string;
  problem(path: Path, message: string): void;
  readonly dataDir: string;
}

export interface NormalizeOptions {
  readonly file: string | undefined;
  readonly baseDir: string;
  readonly dataDirOverride?: string | undefined;
  readonly loc: Locating;
}

export function normalize(raw: RawConfig, opts: NormalizeOptions, problems: RampartError[]): Config {
  const { loc } = opts;
  const problem = (path: Path, message: string): void => {
    problems.push(new RampartError('RAMPART_E_CONFIG_INVALID', message, { location: loc.path(path) }));
  };
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(opts.baseDir, p));
  const {
    data_dir,
    server,
    auth,
    store,
    audit,
    policy,
    identity,
    sandbox,
    egress,
    admission,
    secrets,
    detect,
    respond,
    incidents,
    breakglass,
    console,
    gitgate,
    notify,
    sinks,
    logging,
    ...rest
  } = raw;
  exhaustive(rest);
  const dataDir = opts.dataDirOverride ?? abs(data_dir);
  const ctx: Ctx = {
    ms(path, value, min = 0) {
      const v = parseDuration(value);
      if (v !== undefined && v >= min) return v;
      problem(path, `${path.join('.')}: "${value}" is not a duration like 30s`);
      return min;
    },
    bytes(path, value) {
      const v = parseSize(value);
      if (v !== undefined && v > 0) return v;
      problem(path, `${path.join('.')}: "${value}" is not a size like 1m`);
      return 1;
    },
    abs,
    problem,
    dataDir,
  };
  return {
    source: opts.file,
    dataDir,
    server: serverConfig(server, ctx),
    auth: authConfig(auth, ctx),
    store: storeConfig(store, ctx),
    audit: auditConfig(audit, ctx),
    policy: policyConfig(policy, ctx),
    detect: detectConfig(detect, ctx),
    respond: respondConfig(respond, ctx),
    incidents: incidentsConfig(incidents, ctx),
    breakglass: breakglassConfig(
      breakglass,
      auth.clients.map((c) => c.name),
      ctx,
    ),
    console: consoleConfig(console, ctx),
    gitgate: gitgateConfig(gitgate, ctx),
    notify: notifyConfig(notify, ctx),
    sinks: sinksConfig(sinks, ctx),
    identity: identityConfig(identity, ctx),
    sandbox: sandboxConfig(sandbox, identity.max_run_lifetime, ctx),
    egress: egressConfig(egress, ctx),
    admission: admissionConfig(admission, ctx),
    secrets: secretsConfig(secrets, ctx),
    logging: loggingConfig(logging),
  };
}

export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

function listenAt(path: Path, value: string, c: Ctx): { host: string; port: number } {
  const l = parseListen(value);
  if (!l) c.problem(path, `${path.join('.')}: "${value}" is not host:port`);
  return l ?? { host: '127.0.0.1', port: 0 };
}

function serverConfig(raw: RawConfig['server'], c: Ctx): ServerConfig {
  const { listen, tls, body_limit, request_timeout, shutdown_grace, metrics_auth, ...rest } = raw;
  exhaustive(rest);
  return {
    listen: listenAt(['server', 'listen'], listen, c),
    tls: tls && { certFile: c.abs(tls.cert_file), keyFile: c.abs(tls.key_file) },
    bodyLimit: c.bytes(['server', 'body_limit'], body_limit),
    requestTimeoutMs: c.ms(['server', 'request_timeout'], request_timeout, 1),
    shutdownGraceMs: c.ms(['server', 'shutdown_grace'], shutdown_grace),
    metricsAuth: metrics_auth,
  };
}

function authConfig(raw: RawConfig['auth'], c: Ctx): Config['auth'] {
  const { clients, refusal_window, refusals_per_source, ...rest } = raw;
  exhaustive(rest);
  const names = new Set<string>();
  clients.forEach((cl, i) => {
    if (names.has(cl.name))
      c.problem(['auth', 'clients', i, 'name'], `auth.clients[${i}].name: "${cl.name}" is used twice`);
    names.add(cl.name);
  });
  return {
    clients: clients.map(({ name, token_file, scopes, ...more }) => {
      exhaustive(more);
      return { name, tokenFile: c.abs(token_file), scopes };
    }),
    refusalWindowMs: c.ms(['auth', 'refusal_window'], refusal_window, 100),
    refusalsPerSource: refusals_per_source,
  };
}

function storeConfig(raw: RawConfig['store'], c: Ctx): StoreConfig {
  const { driver, sqlite, postgres, ...rest } = raw;
  exhaustive(rest);
  if (driver === 'sqlite') {
    const { file, ...more } = sqlite;
    exhaustive(more);
    return { driver: 'sqlite', file: isAbsolute(file) ? file : resolve(c.dataDir, file) };
  }
  const { host, port, database, user, password_file, schema, pool_size, connect_timeout, ssl, ...more } =
    postgres;
  exhaustive(more);
  return {
    driver: 'postgres',
    host,
    port,
    database,
    user,
    passwordFile: password_file === undefined ? undefined : c.abs(password_file),
    schema,
    poolSize: pool_size,
    connectTimeoutMs: c.ms(['store', 'postgres', 'connect_timeout'], connect_timeout, 1),
    ssl:
      ssl === undefined
        ? undefined
        : {
            caFile: ssl.ca_file === undefined ? undefined : c.abs(ssl.ca_file),
            rejectUnauthorized: ssl.reject_unauthorized,
          },
  };
}

function auditConfig(raw: RawConfig['audit'], c: Ctx): AuditConfig {
  const { checkpoint_interval, checkpoint_every, max_batch, trusted_keys, ...rest } = raw;
  exhaustive(rest);
  return {
    checkpointIntervalMs: c.ms(['audit', 'checkpoint_interval'], checkpoint_interval, 100),
    checkpointEvery: checkpoint_every,
    maxBatch: max_batch,
    trustedKeys: trusted_keys.map((k) => c.abs(k)),
  };
}

function detectConfig(raw: RawConfig['detect'], c: Ctx): DetectConfig {
  const { enabled, rules, include_shipped, watch, dedup_window, telemetry, baselines, blocklist, ...rest } =
    raw;
  exhaustive(rest);
  if (!include_shipped && (rules ?? []).length === 0)
    c.problem(['detect', 'rules'], 'detect.rules: name a rules directory, or keep include_shipped');
  return {
    enabled,
    rules: (rules ?? []).map((d) => c.abs(d)),
    includeShipped: include_shipped,
    watch,
    dedupMs: c.ms(['detect', 'dedup_window'], dedup_window, 0),
    telemetry,
    baselines: {
      enabled: baselines.enabled,
      learningRuns: baselines.learning_runs,
      learningDays: baselines.learning_days,
      by: baselines.by,
    },
    blocklist: blocklist.map((f) => c.abs(f)),
  };
}

function respondConfig(raw: RawConfig['respond'], c: Ctx): RespondConfig {
  const { enabled, playbooks, include_shipped, watch, dry_run, breaker, ...rest } = raw;
  exhaustive(rest);
  const { window, per_playbook, per_action, per_agent, ...more } = breaker;
  exhaustive(more);
  if (!include_shipped && (playbooks ?? []).length === 0)
    c.problem(
      ['respond', 'playbooks'],
      'respond.playbooks: name a playbooks directory, or keep include_shipped',
    );
  return {
    enabled,
    playbooks: (playbooks ?? []).map((d) => c.abs(d)),
    includeShipped: include_shipped,
    watch,
    dryRun: dry_run,
    breaker: {
      windowMs: c.ms(['respond', 'breaker', 'window'], window, 1000),
      perPlaybook: per_playbook,
      perAction: per_action,
      perAgent: per_agent,
    },
  };
}

function policyConfig(raw: RawConfig['policy'], c: Ctx): PolicyConfig {
  const { dir, watch, cache_size, decision_log, opa, ...rest } = raw;
  exhaustive(rest);
  let o: PolicyConfig['opa'];
  if (opa) {
    const { url, path, timeout, retry_interval, token_file, ...more } = opa;
    exhaustive(more);
    o = {
      url,
      path,
      timeoutMs: c.ms(['policy', 'opa', 'timeout'], timeout, 1),
      retryMs: c.ms(['policy', 'opa', 'retry_interval'], retry_interval, 10),
      tokenFile: token_file === undefined ? undefined : c.abs(token_file),
    };
  }
  return {
    dir: dir === undefined ? undefined : c.abs(dir),
    watch,
    cacheSize: cache_size,
    decisionLog: decision_log,
    opa: o,
  };
}

function identityConfig(raw: RawConfig['identity'], c: Ctx): IdentityConfig {
  const {
    issuer,
    audience,
    token_ttl,
    max_run_lifetime,
    clock_skew,
    key_rotation,
    revocation_staleness,
    cache_size,
    rate_limits,
    rate_limit_event,
    ...rest
  } = raw;
  exhaustive(rest);
  const at = (k: string): Path => ['identity', k];
  const tokenTtlMs = c.ms(at('token_ttl'), token_ttl, 1000);
  if (tokenTtlMs > MAX_TOKEN_TTL_MS)
    c.problem(at('token_ttl'), 'identity.token_ttl: at most 10m (workload tokens are short-lived)');
  const clockSkewMs = c.ms(at('clock_skew'), clock_skew);
  if (clockSkewMs > 120_000) c.problem(at('clock_skew'), 'identity.clock_skew: at most 2m');
  const maxRunLifetimeMs = c.ms(at('max_run_lifetime'), max_run_lifetime, 1000);
  if (maxRunLifetimeMs < tokenTtlMs)
    c.problem(at('max_run_lifetime'), 'identity.max_run_lifetime: shorter than identity.token_ttl');
  const { api, refresh, egress, ...classes } = rate_limits;
  exhaustive(classes);
  const limits = (l: typeof api): IdentityConfig['rateLimits'][RateClass] => ({
    perAgent: { rate: l.per_agent.rate, burst: l.per_agent.burst },
    perToken: { rate: l.per_token.rate, burst: l.per_token.burst },
  });
  const { rejections, window, ...more } = rate_limit_event;
  exhaustive(more);
  return {
    issuer,
    audience,
    tokenTtlMs: Math.min(tokenTtlMs, MAX_TOKEN_TTL_MS),
    maxRunLifetimeMs,
    clockSkewMs,
    keyRotationMs: c.ms(at('key_rotation'), key_rotation, 60_000),
    revocationStalenessMs: c.ms(at('revocation_staleness'), revocation_staleness, 1000),
    cacheSize: cache_size,
    rateLimits: { api: limits(api), refresh: limits(refresh), egress: limits(egress) },
    rateLimitEvent: { rejections, windowMs: c.ms(['identity', 'rate_limit_event', 'window'], window, 1000) },
  };
}

function sandboxConfig(raw: RawConfig['sandbox'], maxRunLifetime: string, c: Ctx): SandboxConfig {
  const {
    runtime,
    docker,
    bwrap,
    cgroup_parent,
    uids,
    evidence,
    grace_period,
    workspaces_dir,
    hide,
    profiles,
    ...rest
  } = raw;
  exhaustive(rest);
  const { max_bytes, max_file, timeout, max_memory, ...more } = evidence;
  exhaustive(more);
  const { socket, images, ...moreDocker } = docker;
  exhaustive(moreDocker);
  return {
    runtime,
    docker: { socket: c.abs(socket), images },
    bwrap: c.abs(bwrap),
    cgroupParent: cgroup_parent ?? installationParent(c.dataDir),
    uids: { first: uids.first, count: uids.count },
    evidence: {
      maxBytes: c.bytes(['sandbox', 'evidence', 'max_bytes'], max_bytes),
      maxFileBytes: c.bytes(['sandbox', 'evidence', 'max_file'], max_file),
      timeoutMs: c.ms(['sandbox', 'evidence', 'timeout'], timeout, 1000),
      maxMemoryBytes: /^0+\s*[a-zA-Z]*$/.test(max_memory)
        ? 0
        : c.bytes(['sandbox', 'evidence', 'max_memory'], max_memory),
    },
    gracePeriodMs: c.ms(['sandbox', 'grace_period'], grace_period),
    workspacesDir: c.abs(workspaces_dir),
    hide,
    profiles: sandboxProfiles(profiles, c),
    dataDir: c.dataDir,
    evidenceDir: resolve(c.dataDir, 'evidence'),
    maxRunLifetimeMs: c.ms(['identity', 'max_run_lifetime'], maxRunLifetime, 1000),
  };
}

/**
 * Each installation's runs live under a cgroup parent of its own, named from its data directory:
 * two control planes on one host never list, kill or destroy each other's runs. (FNV-1a, not a
 * cryptographic hash: a name, and node:crypto stays out of `rampart run`'s start-up.)
 */
export function installationParent(dataDir: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < dataDir.length; i++) h = Math.imul(h ^ dataDir.charCodeAt(i), 0x01000193) >>> 0;
  return `rampart-${h.toString(16).padStart(8, '0')}`;
}

/** The built-in profiles; the config's profiles are merged over these by name. */
export const BUILTIN_PROFILES: Readonly<Record<string, SandboxProfile>> = {
  default: {
    memoryBytes: 2 * 1024 ** 3,
    pids: 256,
    cpus: 1,
    timeoutMs: 2 * 3600_000,
    devices: [],
    readOnly: [],
    syscalls: [],
    honeytokens: [],
    telemetry: 'optional',
  },
  strict: {
    memoryBytes: 512 * 1024 ** 2,
    pids: 64,
    cpus: 0.5,
    timeoutMs: 30 * 60_000,
    devices: [],
    readOnly: [],
    syscalls: [],
    honeytokens: [],
    telemetry: 'optional',
  },
  'vm-runner': {
    memoryBytes: 4 * 1024 ** 3,
    pids: 512,
    cpus: 2,
    timeoutMs: 2 * 3600_000,
    devices: ['/dev/kvm'],
    readOnly: [],
    syscalls: [],
    honeytokens: [],
    telemetry: 'optional',
  },
};

function sandboxProfiles(raw: Record<string, RawProfile>, c: Ctx): Record<string, SandboxProfile> {
  const out: Record<string, SandboxProfile> = { ...BUILTIN_PROFILES };
  for (const [name, p] of Object.entries(raw)) {
    const { memory, pids, cpus, timeout, devices, read_only, syscalls, honeytokens, telemetry, ...rest } = p;
    exhaustive(rest);
    const base = BUILTIN_PROFILES[name] ?? BUILTIN_PROFILES['default']!;
    let memoryBytes = base.memoryBytes;
    if (memory !== undefined) {
      const bytes = parseSize(memory);
      if (bytes === undefined || bytes < 16 * 1024 ** 2)
        c.problem(['sandbox', 'profiles', name, 'memory'], `sandbox.profiles.${name}.memory: at least 16m`);
      else memoryBytes = bytes;
    }
    out[name] = {
      memoryBytes,
      pids: pids ?? base.pids,
      cpus: cpus ?? base.cpus,
      timeoutMs:
        timeout === undefined
          ? base.timeoutMs
          : c.ms(['sandbox', 'profiles', name, 'timeout'], timeout, 1000),
      devices: devices ?? base.devices,
      readOnly: read_only ?? base.readOnly,
      syscalls: syscalls ?? base.syscalls,
      honeytokens: honeytokens ?? base.honeytokens,
      telemetry: telemetry ?? base.telemetry,
    };
  }
  return out;
}

function egressConfig(raw: RawConfig['egress'], c: Ctx): EgressConfig {
  const {
    enabled,
    listen,
    mode,
    ask_policy,
    lists,
    allow,
    deny,
    allow_ranges,
    max_connections_per_agent,
    connect_timeout,
    idle_timeout,
    inspect,
    inject,
    inspect_max_body,
    origin_ca_file,
    hosts,
    ...rest
  } = raw;
  exhaustive(rest);
  return {
    enabled,
    listen: listenAt(['egress', 'listen'], listen, c),
    mode,
    askPolicy: ask_policy,
    lists,
    allow,
    deny,
    allowRanges: allow_ranges,
    maxConnectionsPerAgent: max_connections_per_agent,
    connectTimeoutMs: c.ms(['egress', 'connect_timeout'], connect_timeout, 100),
    idleTimeoutMs: c.ms(['egress', 'idle_timeout'], idle_timeout, 1000),
    inspect,
    inject: inject.map((r, i) => injection(r, i, c)),
    inspectMaxBody: c.bytes(['egress', 'inspect_max_body'], inspect_max_body),
    originCaFile: origin_ca_file === undefined ? undefined : c.abs(origin_ca_file),
    hosts: pinnedHosts(hosts, c),
  };
}

function admissionConfig(raw: RawConfig['admission'], c: Ctx): AdmissionConfig {
  const { profile, policy_file, deny_on, decision_log, docker_plugin, ...rest } = raw;
  exhaustive(rest);
  const { socket, ...more } = docker_plugin;
  exhaustive(more);
  return {
    profile,
    policyFile: policy_file === undefined ? undefined : c.abs(policy_file),
    denyOn: deny_on,
    decisionLog: decision_log,
    dockerPluginSocket: socket === undefined ? undefined : c.abs(socket),
  };
}

function loggingConfig(raw: RawConfig['logging']): Config['logging'] {
  const { level, ...rest } = raw;
  exhaustive(rest);
  return { level };
}

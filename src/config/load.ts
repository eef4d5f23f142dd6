// Loads rampart.yaml once: parse (YAML with positions), validate against the closed schema, turn
// into the typed Config, freeze. Every problem is reported with file:line:col and its key path,
// all of them in one pass, so a user fixes a config in one edit rather than one error at a time.

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ErrorObject } from 'ajv';
import validateGenerated from './validate.generated.js';
import { fastTrees } from '../core/fastyaml.js';
import { toPlain } from '../core/located.js';
import { LazyLocator, parseLocated, type Locating } from '../core/yaml.js';
import {
  RampartError,
  RampartErrorList,
  type ErrorCode,
  type SourceLocation,
  messageOf,
} from '../core/errors.js';
import type { BucketLimit, RateClass } from '../core/ratelimit.js';
import type { Severity } from '../core/types.js';
import type {
  AdmissionSettings,
  EgressSettings,
  IdentitySettings,
  SandboxProfile,
  SandboxSettings,
} from '../core/settings.js';
import { parseDuration, parseSize } from '../core/units.js';
import { configSchema, type Scope } from './schema.js';

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
  readonly admission: AdmissionConfig;
  readonly logging: { readonly level: string };
}

export type AdmissionConfig = AdmissionSettings;

export interface LoadOptions {
  /** Path given with --config; when set, a missing file is an error. */
  readonly file?: string | undefined;
  /** --data, which overrides data_dir. */
  readonly dataDir?: string | undefined;
  /** Directory relative paths on the command line are resolved against. */
  readonly cwd?: string;
}

export const DEFAULT_CONFIG_FILE = 'rampart.yaml';

/** Loads and validates the configuration. Throws RampartErrorList naming every problem. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const cwd = opts.cwd ?? process.cwd();
  const file = resolve(cwd, opts.file ?? DEFAULT_CONFIG_FILE);
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && opts.file === undefined) text = undefined;
    else if (code === 'ENOENT') {
      throw new RampartError('RAMPART_E_CONFIG_NOT_FOUND', `configuration file ${file} does not exist`);
    } else {
      throw new RampartError(
        'RAMPART_E_CONFIG_NOT_FOUND',
        `configuration file ${file} cannot be read (${code})`,
      );
    }
  }
  return parseConfig(text ?? '', text === undefined ? undefined : file, {
    dataDirOverride: opts.dataDir === undefined ? undefined : resolve(cwd, opts.dataDir),
    baseDir: text === undefined ? cwd : dirname(file),
  });
}

export interface ParseOptions {
  readonly dataDirOverride?: string | undefined;
  /** Directory that relative paths in the file are resolved against. */
  readonly baseDir: string;
}

/** What the fast reader takes on in a configuration file before handing it to the library. */
const CONFIG_TREE_LIMITS = { maxNodes: 100_000, maxDepth: 64 };

/** Parses configuration text. `file` names the source in errors (undefined: built-in defaults). */
export function parseConfig(text: string, file: string | undefined, opts: ParseOptions): Config {
  const where = file ?? '<defaults>';
  let raw: unknown;
  let locator: Locating;
  // Most configuration files are plain YAML the fast reader takes (every command reads one, and
  // the yaml library's composer costs milliseconds of each start); its values are the library's
  // (test/admission/fastyaml.test.ts). Positions are worked out only if a problem needs one.
  const fast = fastTrees(text, where, CONFIG_TREE_LIMITS, '1.2');
  if (fast !== undefined && fast.length <= 1) {
    raw = (fast.length === 0 ? undefined : toPlain(fast[0]!)) ?? {};
    locator = new LazyLocator(text, where);
  } else {
    const { doc, loc, errors } = parseLocated(text, where);
    locator = loc;
    if (errors.length > 0) {
      throw new RampartErrorList(
        errors.map((e) => new RampartError('RAMPART_E_CONFIG_PARSE', e.message, { location: e.location })),
      );
    }
    try {
      // A small alias budget: a config file has no business expanding one anchor thousands of times.
      raw = doc.toJS({ maxAliasCount: 64 }) ?? {};
    } catch (e) {
      throw new RampartError('RAMPART_E_CONFIG_PARSE', messageOf(e), { location: locator.at(0) });
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new RampartError(
      'RAMPART_E_CONFIG_INVALID',
      'the configuration must be a mapping of keys to values',
      {
        location: locator.at(0),
      },
    );
  }

  const validate = compileValidator();
  if (!validate(raw)) {
    throw new RampartErrorList(dedupe((validate.errors ?? []).map((e) => schemaError(e, locator))));
  }
  const problems: RampartError[] = [];
  const config = normalize(raw as RawConfig, file, opts, locator, problems);
  if (problems.length > 0) throw new RampartErrorList(problems);
  return deepFreeze(config);
}

// ---------------------------------------------------------------------------------------------

interface RawConfig {
  data_dir: string;
  server: {
    listen: string;
    tls?: { cert_file: string; key_file: string };
    body_limit: string;
    request_timeout: string;
    shutdown_grace: string;
    metrics_auth: boolean;
  };
  auth: {
    clients: { name: string; token_file: string; scopes: Scope[] }[];
    refusal_window: string;
    refusals_per_source: number;
  };
  store: {
    driver: 'sqlite' | 'postgres';
    sqlite: { file: string };
    postgres: {
      host: string;
      port: number;
      database: string;
      user: string;
      password_file?: string;
      schema: string;
      pool_size: number;
      connect_timeout: string;
      ssl?: { ca_file?: string; reject_unauthorized: boolean };
    };
  };
  audit: { checkpoint_interval: string; checkpoint_every: number; max_batch: number; trusted_keys: string[] };
  policy: {
    dir?: string;
    watch: boolean;
    cache_size: number;
    decision_log: DecisionLogMode;
    opa?: { url: string; path: string; timeout: string; retry_interval: string; token_file?: string };
  };
  identity: {
    issuer: string;
    audience: string;
    token_ttl: string;
    max_run_lifetime: string;
    clock_skew: string;
    key_rotation: string;
    revocation_staleness: string;
    cache_size: number;
    rate_limits: Record<RateClass, { per_agent: BucketLimit; per_token: BucketLimit }>;
    rate_limit_event: { rejections: number; window: string };
  };
  sandbox: {
    bwrap: string;
    cgroup_parent: string;
    uids: { first: number; count: number };
    evidence: { max_bytes: string; max_file: string; timeout: string };
    grace_period: string;
    workspaces_dir: string;
    hide: string[];
    profiles: Record<string, RawProfile>;
  };
  egress: {
    enabled: boolean;
    listen: string;
    mode: 'enforce' | 'report';
    ask_policy: boolean;
    lists: string[];
    allow: string[];
    deny: string[];
    allow_ranges: string[];
    max_connections_per_agent: number;
    connect_timeout: string;
    idle_timeout: string;
  };
  admission: {
    profile: 'default' | 'vm-runner';
    policy_file?: string;
    deny_on: Severity;
    decision_log: 'async' | 'durable';
    docker_plugin: { socket?: string };
  };
  logging: { level: string };
}

interface RawProfile {
  memory?: string;
  pids?: number;
  cpus?: number;
  timeout?: string;
  devices?: string[];
  read_only?: string[];
  syscalls?: string[];
}

function normalize(
  raw: RawConfig,
  file: string | undefined,
  opts: ParseOptions,
  loc: Locating,
  problems: RampartError[],
): Config {
  const ms = (path: (string | number)[], value: string, min = 0): number => {
    const v = parseDuration(value);
    if (v === undefined || v < min) {
      problems.push(
        new RampartError(
          'RAMPART_E_CONFIG_INVALID',
          `${path.join('.')}: "${value}" is not a duration like 30s`,
          {
            location: loc.path(path),
          },
        ),
      );
      return min;
    }
    return v;
  };
  const bytes = (path: (string | number)[], value: string): number => {
    const v = parseSize(value);
    if (v === undefined || v <= 0) {
      problems.push(
        new RampartError('RAMPART_E_CONFIG_INVALID', `${path.join('.')}: "${value}" is not a size like 1m`, {
          location: loc.path(path),
        }),
      );
      return 1;
    }
    return v;
  };
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(opts.baseDir, p));

  const dataDir = opts.dataDirOverride ?? abs(raw.data_dir);
  const egressListen = parseListen(raw.egress.listen) ?? { host: '127.0.0.1', port: 0 };
  if (!parseListen(raw.egress.listen)) {
    problems.push(
      new RampartError('RAMPART_E_CONFIG_INVALID', `egress.listen: "${raw.egress.listen}" is not host:port`, {
        location: loc.path(['egress', 'listen']),
      }),
    );
  }
  const listen = parseListen(raw.server.listen);
  if (!listen) {
    problems.push(
      new RampartError('RAMPART_E_CONFIG_INVALID', `server.listen: "${raw.server.listen}" is not host:port`, {
        location: loc.path(['server', 'listen']),
      }),
    );
  }
  const pg = raw.store.postgres;
  const store: StoreConfig =
    raw.store.driver === 'sqlite'
      ? {
          driver: 'sqlite',
          file: isAbsolute(raw.store.sqlite.file)
            ? raw.store.sqlite.file
            : resolve(dataDir, raw.store.sqlite.file),
        }
      : {
          driver: 'postgres',
          host: pg.host,
          port: pg.port,
          database: pg.database,
          user: pg.user,
          passwordFile: pg.password_file === undefined ? undefined : abs(pg.password_file),
          schema: pg.schema,
          poolSize: pg.pool_size,
          connectTimeoutMs: ms(['store', 'postgres', 'connect_timeout'], pg.connect_timeout, 1),
          ssl:
            pg.ssl === undefined
              ? undefined
              : {
                  caFile: pg.ssl.ca_file === undefined ? undefined : abs(pg.ssl.ca_file),
                  rejectUnauthorized: pg.ssl.reject_unauthorized,
                },
        };

  const names = new Set<string>();
  raw.auth.clients.forEach((c, i) => {
    if (names.has(c.name)) {
      problems.push(
        new RampartError('RAMPART_E_CONFIG_INVALID', `auth.clients[${i}].name: "${c.name}" is used twice`, {
          location: loc.path(['auth', 'clients', i, 'name']),
        }),
      );
    }
    names.add(c.name);
  });

  return {
    source: file,
    dataDir,
    server: {
      listen: listen ?? { host: '127.0.0.1', port: 0 },
      tls: raw.server.tls && {
        certFile: abs(raw.server.tls.cert_file),
        keyFile: abs(raw.server.tls.key_file),
      },
      bodyLimit: bytes(['server', 'body_limit'], raw.server.body_limit),
      requestTimeoutMs: ms(['server', 'request_timeout'], raw.server.request_timeout, 1),
      shutdownGraceMs: ms(['server', 'shutdown_grace'], raw.server.shutdown_grace),
      metricsAuth: raw.server.metrics_auth,
    },
    auth: {
      clients: raw.auth.clients.map((c) => ({
        name: c.name,
        tokenFile: abs(c.token_file),
        scopes: c.scopes,
      })),
      refusalWindowMs: ms(['auth', 'refusal_window'], raw.auth.refusal_window, 100),
      refusalsPerSource: raw.auth.refusals_per_source,
    },
    store,
    audit: {
      checkpointIntervalMs: ms(['audit', 'checkpoint_interval'], raw.audit.checkpoint_interval, 100),
      checkpointEvery: raw.audit.checkpoint_every,
      maxBatch: raw.audit.max_batch,
      trustedKeys: raw.audit.trusted_keys.map(abs),
    },
    policy: {
      dir: raw.policy.dir === undefined ? undefined : abs(raw.policy.dir),
      watch: raw.policy.watch,
      cacheSize: raw.policy.cache_size,
      decisionLog: raw.policy.decision_log,
      opa:
        raw.policy.opa === undefined
          ? undefined
          : {
              url: raw.policy.opa.url,
              path: raw.policy.opa.path,
              timeoutMs: ms(['policy', 'opa', 'timeout'], raw.policy.opa.timeout, 1),
              retryMs: ms(['policy', 'opa', 'retry_interval'], raw.policy.opa.retry_interval, 10),
              tokenFile: raw.policy.opa.token_file === undefined ? undefined : abs(raw.policy.opa.token_file),
            },
    },
    identity: identityConfig(raw.identity, ms, loc, problems),
    sandbox: {
      bwrap: abs(raw.sandbox.bwrap),
      cgroupParent: raw.sandbox.cgroup_parent,
      uids: { first: raw.sandbox.uids.first, count: raw.sandbox.uids.count },
      evidence: {
        maxBytes: bytes(['sandbox', 'evidence', 'max_bytes'], raw.sandbox.evidence.max_bytes),
        maxFileBytes: bytes(['sandbox', 'evidence', 'max_file'], raw.sandbox.evidence.max_file),
        timeoutMs: ms(['sandbox', 'evidence', 'timeout'], raw.sandbox.evidence.timeout, 1000),
      },
      gracePeriodMs: ms(['sandbox', 'grace_period'], raw.sandbox.grace_period),
      workspacesDir: abs(raw.sandbox.workspaces_dir),
      hide: raw.sandbox.hide,
      profiles: sandboxProfiles(raw.sandbox.profiles, ms, loc, problems),
      dataDir,
      evidenceDir: resolve(dataDir, 'evidence'),
      maxRunLifetimeMs: ms(['identity', 'max_run_lifetime'], raw.identity.max_run_lifetime, 1000),
    },
    egress: {
      enabled: raw.egress.enabled,
      listen: egressListen,
      mode: raw.egress.mode,
      askPolicy: raw.egress.ask_policy,
      lists: raw.egress.lists,
      allow: raw.egress.allow,
      deny: raw.egress.deny,
      allowRanges: raw.egress.allow_ranges,
      maxConnectionsPerAgent: raw.egress.max_connections_per_agent,
      connectTimeoutMs: ms(['egress', 'connect_timeout'], raw.egress.connect_timeout, 100),
      idleTimeoutMs: ms(['egress', 'idle_timeout'], raw.egress.idle_timeout, 1000),
    },
    admission: {
      profile: raw.admission.profile,
      policyFile: raw.admission.policy_file === undefined ? undefined : abs(raw.admission.policy_file),
      denyOn: raw.admission.deny_on,
      decisionLog: raw.admission.decision_log,
      dockerPluginSocket:
        raw.admission.docker_plugin.socket === undefined
          ? undefined
          : abs(raw.admission.docker_plugin.socket),
    },
    logging: { level: raw.logging.level },
  };
}

function identityConfig(
  raw: RawConfig['identity'],
  ms: (path: (string | number)[], value: string, min?: number) => number,
  loc: Locating,
  problems: RampartError[],
): IdentityConfig {
  const at = (k: string): (string | number)[] => ['identity', k];
  const tooHigh = (k: string, max: string): void => {
    problems.push(
      new RampartError('RAMPART_E_CONFIG_INVALID', `identity.${k}: at most ${max}`, {
        location: loc.path(at(k)),
      }),
    );
  };
  const tokenTtlMs = ms(at('token_ttl'), raw.token_ttl, 1000);
  if (tokenTtlMs > MAX_TOKEN_TTL_MS) tooHigh('token_ttl', '10m (workload tokens are short-lived)');
  const clockSkewMs = ms(at('clock_skew'), raw.clock_skew);
  if (clockSkewMs > 120_000) tooHigh('clock_skew', '2m');
  const maxRunLifetimeMs = ms(at('max_run_lifetime'), raw.max_run_lifetime, 1000);
  if (maxRunLifetimeMs < tokenTtlMs) {
    problems.push(
      new RampartError(
        'RAMPART_E_CONFIG_INVALID',
        'identity.max_run_lifetime: shorter than identity.token_ttl',
        {
          location: loc.path(at('max_run_lifetime')),
        },
      ),
    );
  }
  const bucket = (b: BucketLimit): BucketLimit => ({ rate: b.rate, burst: b.burst });
  const classes = Object.fromEntries(
    (Object.keys(raw.rate_limits) as RateClass[]).map((c) => [
      c,
      { perAgent: bucket(raw.rate_limits[c].per_agent), perToken: bucket(raw.rate_limits[c].per_token) },
    ]),
  ) as IdentityConfig['rateLimits'];
  return {
    issuer: raw.issuer,
    audience: raw.audience,
    tokenTtlMs: Math.min(tokenTtlMs, MAX_TOKEN_TTL_MS),
    maxRunLifetimeMs,
    clockSkewMs,
    keyRotationMs: ms(at('key_rotation'), raw.key_rotation, 60_000),
    revocationStalenessMs: ms(at('revocation_staleness'), raw.revocation_staleness, 1000),
    cacheSize: raw.cache_size,
    rateLimits: classes,
    rateLimitEvent: {
      rejections: raw.rate_limit_event.rejections,
      windowMs: ms(['identity', 'rate_limit_event', 'window'], raw.rate_limit_event.window, 1000),
    },
  };
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
  },
  strict: {
    memoryBytes: 512 * 1024 ** 2,
    pids: 64,
    cpus: 0.5,
    timeoutMs: 30 * 60_000,
    devices: [],
    readOnly: [],
    syscalls: [],
  },
  'vm-runner': {
    memoryBytes: 4 * 1024 ** 3,
    pids: 512,
    cpus: 2,
    timeoutMs: 2 * 3600_000,
    devices: ['/dev/kvm'],
    readOnly: [],
    syscalls: [],
  },
};

function sandboxProfiles(
  raw: Record<string, RawProfile>,
  ms: (path: (string | number)[], value: string, min?: number) => number,
  loc: Locating,
  problems: RampartError[],
): Record<string, SandboxProfile> {
  const out: Record<string, SandboxProfile> = { ...BUILTIN_PROFILES };
  for (const [name, p] of Object.entries(raw)) {
    const base = BUILTIN_PROFILES[name] ?? BUILTIN_PROFILES['default']!;
    let memoryBytes = base.memoryBytes;
    if (p.memory !== undefined) {
      const bytes = parseSize(p.memory);
      if (bytes === undefined || bytes < 16 * 1024 ** 2) {
        problems.push(
          new RampartError('RAMPART_E_CONFIG_INVALID', `sandbox.profiles.${name}.memory: at least 16m`, {
            location: loc.path(['sandbox', 'profiles', name, 'memory']),
          }),
        );
      } else memoryBytes = bytes;
    }
    out[name] = {
      memoryBytes,
      pids: p.pids ?? base.pids,
      cpus: p.cpus ?? base.cpus,
      timeoutMs:
        p.timeout === undefined
          ? base.timeoutMs
          : ms(['sandbox', 'profiles', name, 'timeout'], p.timeout, 1000),
      devices: p.devices ?? base.devices,
      readOnly: p.read_only ?? base.readOnly,
      syscalls: p.syscalls ?? base.syscalls,
    };
  }
  return out;
}

export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function schemaError(e: ErrorObject, loc: Locating): RampartError {
  const path = pointerToPath(e.instancePath);
  const dotted = formatPath(path);
  let code: ErrorCode = 'RAMPART_E_CONFIG_INVALID';
  let message: string;
  let location: SourceLocation;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      code = 'RAMPART_E_CONFIG_UNKNOWN_KEY';
      const known = knownKeys(path);
      const guess = closest(key, known);
      message =
        `unknown key "${formatPath([...path, key])}"` +
        (guess ? ` (did you mean "${guess}"?)` : known.length ? ` (known keys: ${known.join(', ')})` : '');
      location = loc.key(path, key);
      break;
    }
    case 'required': {
      const key = String((e.params as { missingProperty: string }).missingProperty);
      message = `missing required key "${formatPath([...path, key])}"`;
      location = loc.path(path);
      break;
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      message = `${dotted}: must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
      location = loc.path(path);
      break;
    }
    case 'pattern':
      message = `${dotted}: ${describePattern(path)}`;
      location = loc.path(path);
      break;
    default:
      message = `${dotted || '(top level)'}: ${e.message ?? 'is invalid'}`;
      location = loc.path(path);
  }
  return new RampartError(code, message, { location, details: { path: dotted } });
}

function describePattern(path: (string | number)[]): string {
  const leaf = String(path[path.length - 1] ?? '');
  const s = schemaAt(path);
  const pattern = typeof s?.['pattern'] === 'string' ? s['pattern'] : '';
  if (pattern.includes('\\d+h')) return 'must be a duration such as 250ms, 30s, 5m or 1h30m';
  if (pattern.includes('kKmMgG')) return 'must be a size such as 512k, 1m or 2g';
  if (leaf === 'listen') return 'must be host:port, such as 127.0.0.1:7070 or [::1]:7070';
  return `does not match ${pattern}`;
}

function formatPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function schemaAt(path: readonly (string | number)[]): Record<string, unknown> | undefined {
  let s: Record<string, unknown> | undefined = configSchema;
  for (const p of path) {
    if (!s) return undefined;
    if (typeof p === 'number') s = s['items'] as Record<string, unknown> | undefined;
    else s = (s['properties'] as Record<string, Record<string, unknown>> | undefined)?.[p];
  }
  return s;
}

function knownKeys(path: readonly (string | number)[]): string[] {
  const s = schemaAt(path);
  return Object.keys((s?.['properties'] as Record<string, unknown> | undefined) ?? {});
}

/** The known key within edit distance 2 of `key`, if exactly one is that close. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

export function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

function dedupe(errors: RampartError[]): RampartError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = e.describe();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

type Validator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

function compileValidator(): Validator {
  // Compiled ahead of time by scripts/gen-validator.mjs (allErrors, useDefaults, strict).
  return validateGenerated as Validator;
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

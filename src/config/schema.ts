// The configuration schema. Every object is closed (additionalProperties: false): a typo in a
// security setting must be an error, never a silently ignored key that leaves a default in place.
// Every key has a description and, where it has one, a default; docs/configuration.md documents
// every key (a test checks that), and load.ts turns the validated tree into the typed, frozen Config.

import { egressInspectionSchema } from './schema-egress.js';
import { SCOPES } from '../core/scopes.js';
import { duration, limits, obj, path, root, size } from './schema-parts.js';
import { detectSchema, respondSchema } from './schema-detect.js';
import { notifySchema, sinksSchema } from './schema-outputs.js';
import { breakglassSchema, consoleSchema, incidentsSchema } from './schema-people.js';
import { secretsSchema } from './schema-secrets.js';
import { gitgateSchema } from './schema-gitgate.js';

export { SCOPES, type Scope } from '../core/scopes.js';
export { DURATION_PATTERN, SIZE_PATTERN } from './schema-parts.js';

export const configSchema = root({
  data_dir: path(
    'Directory for the embedded store, keys, admin token and run state. Relative to the config file. The --data flag overrides it.',
    '.rampart',
  ),
  server: obj({
    listen: {
      type: 'string',
      pattern: '^(?:\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):\\d{1,5}$',
      description:
        'Address the HTTP API listens on, host:port. Keep it on loopback unless TLS is configured.',
      default: '127.0.0.1:7070',
    },
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['cert_file', 'key_file'],
      description: 'Serve HTTPS. Both files are PEM; the key file is a secret file (mode 0600).',
      properties: {
        cert_file: path('PEM certificate chain.'),
        key_file: path('PEM private key (secret file, mode 0600).'),
      },
    },
    body_limit: size('Largest request body accepted; larger bodies get 413.', '1m'),
    request_timeout: duration('Time a request may take before the server answers 503 and closes it.', '30s'),
    shutdown_grace: duration(
      'On SIGTERM, time in-flight requests get to finish before the server closes.',
      '10s',
    ),
    metrics_auth: {
      type: 'boolean',
      description: 'Require a credential with the metrics:read scope for /metrics.',
      default: true,
    },
  }),
  auth: obj({
    refusal_window: duration(
      'Refused requests are recorded once per source and reason in this window, then counted in one record at its end.',
      '10s',
    ),
    refusals_per_source: {
      type: 'integer',
      minimum: 1,
      maximum: 1_000_000,
      description:
        'Refused requests a source may make in one refusal window; after that it gets 429 without being authenticated.',
      default: 50,
    },
    clients: {
      type: 'array',
      default: [],
      description:
        'API clients besides the admin: each presents the bearer token in its token_file and gets only its scopes.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'token_file', 'scopes'],
        properties: {
          name: {
            type: 'string',
            pattern: '^[a-z0-9][a-z0-9._-]{0,62}$',
            description: 'Client name, as audited.',
          },
          token_file: path('Secret file holding the bearer token (mode 0600, at least 32 characters).'),
          scopes: {
            type: 'array',
            minItems: 1,
            uniqueItems: true,
            items: { type: 'string', enum: [...SCOPES] },
            description: 'What the client may do.',
          },
        },
      },
    },
  }),
  store: obj({
    driver: {
      type: 'string',
      enum: ['sqlite', 'postgres'],
      description: 'sqlite: embedded, one control plane. postgres: shared by several control-plane replicas.',
      default: 'sqlite',
    },
    sqlite: obj({
      file: path('Database file, relative to data_dir.', 'rampart.db'),
    }),
    postgres: obj({
      host: {
        type: 'string',
        minLength: 1,
        description: 'Server host name or address.',
        default: '127.0.0.1',
      },
      port: { type: 'integer', minimum: 1, maximum: 65535, description: 'Server port.', default: 5432 },
      database: { type: 'string', minLength: 1, description: 'Database name.', default: 'rampart' },
      user: { type: 'string', minLength: 1, description: 'Role to connect as.', default: 'rampart' },
      password_file: path(
        'Secret file holding the password (mode 0600). Omit for trust or peer authentication.',
      ),
      schema: {
        type: 'string',
        pattern: '^[a-z_][a-z0-9_]{0,62}$',
        description: "PostgreSQL schema holding Rampart's tables; replicas sharing state use the same one.",
        default: 'rampart',
      },
      pool_size: {
        type: 'integer',
        minimum: 1,
        maximum: 200,
        description: 'Connections per replica.',
        default: 10,
      },
      connect_timeout: duration('Time to wait for a connection before the store is reported down.', '5s'),
      ssl: {
        type: 'object',
        additionalProperties: false,
        description: 'Connect with TLS.',
        properties: {
          ca_file: path('PEM CA bundle that signs the server certificate.'),
          reject_unauthorized: {
            type: 'boolean',
            description: 'Refuse a server certificate that does not verify.',
            default: true,
          },
        },
      },
    }),
  }),
  audit: obj({
    checkpoint_interval: duration(
      'A signed checkpoint is written this often while records arrive (and always at shutdown).',
      '10s',
    ),
    checkpoint_every: {
      type: 'integer',
      minimum: 1,
      maximum: 10_000_000,
      description: 'A signed checkpoint is also written after this many records.',
      default: 10000,
    },
    max_batch: {
      type: 'integer',
      minimum: 1,
      maximum: 100000,
      description: 'Most records committed in one group commit.',
      default: 4096,
    },
    trusted_keys: {
      type: 'array',
      items: path('Public key file (the .pub written next to a replica key).'),
      default: [],
      description:
        "Checkpoint public keys of other replicas that `audit verify` trusts, besides this data directory's own.",
    },
  }),
  policy: obj({
    dir: path(
      'Policy directory (YAML policy files; *.test.yaml are tests). Default: the least-privilege set shipped with Rampart.',
    ),
    watch: {
      type: 'boolean',
      description: 'Reload the policy directory when it changes (and poll it every 5 s).',
      default: true,
    },
    cache_size: {
      type: 'integer',
      minimum: 0,
      maximum: 10_000_000,
      description: 'Decisions kept in the decision cache (0 disables it).',
      default: 100000,
    },
    decision_log: {
      enum: ['async', 'durable', 'off'],
      description:
        'Every decision goes to the audit log in the shape of an OPA decision log. async: answered at once, on record within one group commit (milliseconds); if records cannot be written, decisions wait for the write and fail closed. durable: answered only once the record is committed (adds an fsync to every decision). off: not logged.',
      default: 'async',
    },
    opa: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      description:
        'Ask an external OPA (or anything serving its Data API). When it fails or times out, the built-in engine decides.',
      properties: {
        url: {
          type: 'string',
          pattern: '^https?://',
          description: 'Base URL, such as http://127.0.0.1:8181.',
        },
        path: {
          type: 'string',
          pattern: '^[A-Za-z0-9_]+(?:/[A-Za-z0-9_.-]+)*$',
          description: 'Data API path of the decision; the result is a boolean or an object with allow.',
          default: 'rampart/decide',
        },
        timeout: duration('Longest wait for an answer before the built-in engine decides.', '100ms'),
        retry_interval: duration(
          'How often an unavailable OPA is probed (GET /health) to switch back.',
          '2s',
        ),
        token_file: path('Secret file with a bearer token for OPA (mode 0600).'),
      },
    },
  }),
  identity: obj({
    issuer: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      description: 'The iss claim of workload tokens; tokens with another issuer are refused.',
      default: 'rampart',
    },
    audience: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      description: 'The aud claim of workload tokens; tokens for another audience are refused.',
      default: 'rampart',
    },
    token_ttl: duration(
      'Lifetime of a workload token. At most 10m; lower is allowed, higher is refused.',
      '10m',
    ),
    max_run_lifetime: duration(
      'A run cannot refresh its token past this long after it started (the hard end of every run).',
      '2h',
    ),
    clock_skew: duration(
      "Tolerance for exp, nbf and iat between machines. At most 2m. With PostgreSQL, the store's health check fails when this replica's clock and the database server's differ by more.",
      '30s',
    ),
    key_rotation: duration('How long one signing key signs before it is replaced.', '24h'),
    revocation_staleness: duration(
      'If revocations cannot be refreshed from the store for this long, every workload token is refused.',
      '30s',
    ),
    cache_size: {
      type: 'integer',
      minimum: 0,
      maximum: 1_000_000,
      description: 'Recently verified tokens kept (by hash) to skip the signature check; 0 disables it.',
      default: 10000,
    },
    rate_limits: obj({
      api: limits('Agent-facing API routes (whoami, decisions asked by agents).', 20, 40),
      refresh: limits('Token refresh.', 1, 5),
      egress: limits('New connections through the egress proxy.', 50, 100),
    }),
    rate_limit_event: obj({
      rejections: {
        type: 'integer',
        minimum: 1,
        description: 'An identity.rate_limited event is published when one agent is refused this often...',
        default: 20,
      },
      window: duration('...within this long (at most one event per agent per window).', '60s'),
    }),
  }),
  sandbox: obj({
    runtime: {
      enum: ['bwrap', 'docker', 'swarm'],
      description:
        'Where `rampart run` runs a command when --runtime is not given: bwrap (a bubblewrap sandbox on this host), docker (a container the Docker Engine creates with the same baseline) or swarm (a one-replica Swarm service on this node, the Engine a swarm manager).',
      default: 'bwrap',
    },
    docker: obj(
      {
        socket: path(
          "The Docker Engine's unix socket (for swarm: a manager's, on this node).",
          '/var/run/docker.sock',
        ),
        images: {
          type: 'array',
          items: { type: 'string', pattern: '^(?:sha256:[0-9a-f]{64}|[^\\s@]+@sha256:[0-9a-f]{64})$' },
          uniqueItems: true,
          description:
            'Images runs may use, by digest: sha256:<image id>, or name@sha256:<repository digest>. A tag alone approves nothing; empty: no image is allowed.',
          default: [],
        },
      },
      { description: 'The Docker runtime (rampart run --runtime docker).' },
    ),
    bwrap: path('The bubblewrap binary.', '/usr/bin/bwrap'),
    cgroup_parent: {
      type: 'string',
      pattern: '^rampart[A-Za-z0-9_-]{0,57}$',
      description:
        "Name of the cgroup under which every run gets its own (in each v1 hierarchy, or in v2). It starts with rampart. Default: rampart-<8 hex digits of the data directory's path>, so each installation on a host acts on its own runs alone.",
    },
    uids: obj(
      {
        first: {
          type: 'integer',
          minimum: 1000,
          maximum: 4294967294,
          description: 'First host uid of the range runs take theirs from (each run its own; gid = uid).',
          default: 2100000000,
        },
        count: {
          type: 'integer',
          minimum: 1,
          maximum: 1000000,
          description: 'How many uids the range holds: the most runs that can be alive on this host at once.',
          default: 10000,
        },
      },
      {
        description:
          'Host uids for runs: every run gets its own unprivileged uid and gid from this range, never shared by two live runs. Give each installation on a host its own range.',
      },
    ),
    evidence: obj(
      {
        max_bytes: size(
          'Most bytes of workspace files a quarantine keeps (allocated size; sparse holes are free).',
          '1g',
        ),
        max_file: size(
          'A workspace file larger than this (apparent size) is listed, hashed no further, and skipped.',
          '256m',
        ),
        timeout: duration('Longest a quarantine spends capturing; what is left is listed as skipped.', '60s'),
        max_memory: size(
          "Most bytes of the frozen processes' memory a quarantine keeps, as ELF core images hashed into the manifest (0: none). Mappings past it are listed as omitted.",
          '512m',
        ),
      },
      { description: 'Bounds on what a quarantine captures (it never blocks the API while it does).' },
    ),
    grace_period: duration('At a deadline or a kill: SIGTERM, then SIGKILL after this long.', '5s'),
    workspaces_dir: path(
      'Where runs without --workspace get a fresh one (its parents must be searchable by every uid).',
      '/var/lib/rampart/workspaces',
    ),
    hide: {
      type: 'array',
      items: { type: 'string', pattern: '^/' },
      uniqueItems: true,
      description:
        'More host paths hidden inside every sandbox (directories under a tmpfs, files under /dev/null), on top of the built-in list.',
      default: [],
    },
    profiles: {
      type: 'object',
      propertyNames: { pattern: '^[a-z][a-z0-9-]{0,31}$' },
      additionalProperties: obj(
        {
          memory: size('Memory limit (cgroup), e.g. 2g.'),
          pids: { type: 'integer', minimum: 8, maximum: 65536, description: 'Most processes at once.' },
          cpus: { type: 'number', exclusiveMinimum: 0, maximum: 1024, description: 'CPU limit in CPUs.' },
          timeout: duration('Wall-clock maximum runtime (at most identity.max_run_lifetime).'),
          devices: {
            type: 'array',
            items: { enum: ['/dev/kvm', '/dev/net/tun'] },
            uniqueItems: true,
            description: 'Devices passed through: only /dev/kvm and /dev/net/tun exist for this.',
          },
          read_only: {
            type: 'array',
            items: { type: 'string', pattern: '^/' },
            uniqueItems: true,
            description: 'Extra host paths visible read-only at the same place.',
          },
          syscalls: {
            type: 'array',
            items: { type: 'string', pattern: '^[a-z0-9_]+$' },
            uniqueItems: true,
            description: 'Syscalls allowed on top of the built-in list (never the always-denied ones).',
          },
          telemetry: {
            enum: ['optional', 'required'],
            description:
              'required: a run of this profile starts only while kernel telemetry watches runs (detect.telemetry); otherwise its registration is refused with the reason. Default: optional.',
          },
          honeytokens: {
            type: 'array',
            items: { enum: ['aws', 'github', 'database'] },
            uniqueItems: true,
            description:
              "Decoy credentials planted in each run's home (bwrap and docker runtimes): aws (~/.aws/credentials), github (~/.git-credentials), database (~/.pgpass and DATABASE_URL in ~/.env). Their use anywhere Rampart sees is a critical event naming the run.",
          },
        },
        { description: 'A named sandbox profile; keys left out take the built-in default profile value.' },
      ),
      description:
        'Sandbox profiles by name, merged over the built-in default, strict and vm-runner (docs/runtimes.md).',
      default: {},
    },
  }),
  egress: obj({
    enabled: {
      type: 'boolean',
      description: 'Start the egress proxy with the control plane.',
      default: true,
    },
    listen: {
      type: 'string',
      pattern: '^(?:\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):\\d{1,5}$',
      description: 'Address the egress proxy listens on, host:port (callers present a workload token).',
      default: '127.0.0.1:7071',
    },
    mode: {
      enum: ['enforce', 'report'],
      description:
        'enforce refuses what rules and policy deny; report lets it through and records "would deny". The address guard is enforced in both.',
      default: 'enforce',
    },
    ask_policy: {
      type: 'boolean',
      description:
        'Ask the policy decision point (egress.connect) about every connection; it must allow too.',
      default: true,
    },
    lists: {
      type: 'array',
      items: { enum: ['github', 'npm', 'pypi', 'dockerhub', 'crates', 'goproxy', 'debian'] },
      uniqueItems: true,
      description: 'Ready-made host lists allowed for every agent (docs/egress.md lists their hosts).',
      default: [],
    },
    allow: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      description: 'Host patterns allowed for every agent: host, *.domain, with optional :port[,port].',
      default: [],
    },
    deny: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      description: 'Host patterns denied for every agent, checked before anything allows.',
      default: [],
    },
    allow_ranges: {
      type: 'array',
      items: { type: 'string', minLength: 3 },
      description: 'CIDRs opened through the address guard (an internal registry, say). Empty: none.',
      default: [],
    },
    max_connections_per_agent: {
      type: 'integer',
      minimum: 1,
      maximum: 100000,
      description: 'Concurrent proxied connections per agent.',
      default: 64,
    },
    connect_timeout: duration('Time to connect to a destination.', '10s'),
    idle_timeout: duration('Tunnels idle this long are closed.', '5m'),
    ...egressInspectionSchema,
  }),
  secrets: secretsSchema,
  admission: obj({
    profile: {
      enum: ['default', 'vm-runner'],
      description:
        'Check profile for the webhooks and the Docker plugin: default, or vm-runner (/dev/kvm and /dev/net/tun allowed; NET_ADMIN and console exposure only by exception).',
      default: 'default',
    },
    policy_file: path(
      'Admission policy: approved registries, distroless bases, exceptions and custom CEL checks (docs/admission.md). Default: none.',
    ),
    deny_on: {
      enum: ['info', 'low', 'medium', 'high', 'critical'],
      description:
        'Deny a workload with a finding at or above this severity; findings below it are returned as warnings.',
      default: 'high',
    },
    decision_log: {
      enum: ['async', 'durable'],
      description:
        'Every admission decision goes to the audit log. async: answered at once, on record within one group commit; if records cannot be written, answers wait for them and fail closed. durable: answered only once the record is committed.',
      default: 'async',
    },
    docker_plugin: obj({
      socket: path(
        'Serve the Docker Engine authorization plugin on this unix socket (such as /run/docker/plugins/rampart.sock; mode 0600). Default: not served.',
      ),
    }),
  }),
  detect: detectSchema,
  respond: respondSchema,
  incidents: incidentsSchema,
  breakglass: breakglassSchema,
  console: consoleSchema,
  gitgate: gitgateSchema,
  notify: notifySchema,
  sinks: sinksSchema,
  logging: obj({
    level: {
      type: 'string',
      enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
      description: 'Least severe level written.',
      default: 'info',
    },
  }),
});

// The one catalogue of coded errors. Every error a user can see carries one of these codes; each
// code is documented in docs/errors.md (a test keeps the two in step). Codes are stable: tooling
// and runbooks match on them, so a code is never renamed or reused for a different meaning.
//
// Caller mistakes inside the program (a bad option passed by our own code) throw TypeError, as
// jose does; RampartError is for hostile or malformed input and for operational failures.

export interface ErrorSpec {
  /** HTTP status when the error reaches an API client. */
  readonly status: number;
  /** Process exit code when the error reaches the command line. */
  readonly exit: number;
  /** One line that says what kind of problem this is. */
  readonly title: string;
}

export const ERRORS = {
  RAMPART_E_INTERNAL: { status: 500, exit: 1, title: 'Internal error (a bug): the operation was denied' },
  RAMPART_E_USAGE: { status: 400, exit: 2, title: 'Invalid command-line usage' },
  RAMPART_E_BAD_REQUEST: { status: 400, exit: 2, title: 'The request is malformed' },
  RAMPART_E_BODY_TOO_LARGE: { status: 413, exit: 2, title: 'The request body exceeds the configured limit' },
  RAMPART_E_UNAUTHENTICATED: { status: 401, exit: 1, title: 'Missing or invalid credentials' },
  RAMPART_E_FORBIDDEN: { status: 403, exit: 1, title: 'The credentials do not allow this operation' },
  RAMPART_E_NOT_FOUND: { status: 404, exit: 1, title: 'No such resource' },
  RAMPART_E_CONFLICT: { status: 409, exit: 1, title: 'The resource is in a state that does not allow this' },
  RAMPART_E_SHUTTING_DOWN: { status: 503, exit: 1, title: 'The control plane is shutting down' },

  RAMPART_E_CONFIG_NOT_FOUND: { status: 500, exit: 2, title: 'The configuration file does not exist' },
  RAMPART_E_CONFIG_PARSE: { status: 500, exit: 2, title: 'The configuration file is not valid YAML' },
  RAMPART_E_CONFIG_UNKNOWN_KEY: {
    status: 500,
    exit: 2,
    title: 'The configuration has a key the schema does not know',
  },
  RAMPART_E_CONFIG_INVALID: {
    status: 500,
    exit: 2,
    title: 'A configuration value has the wrong type or range',
  },
  RAMPART_E_SECRET_FILE_PERMISSIONS: {
    status: 500,
    exit: 2,
    title: 'A secret file is readable by group or others',
  },
  RAMPART_E_SECRET_FILE_UNREADABLE: { status: 500, exit: 2, title: 'A secret file cannot be read' },

  RAMPART_E_DATA_DIR: { status: 500, exit: 1, title: 'The data directory cannot be used' },
  RAMPART_E_INSTALLATION_KEY: {
    status: 500,
    exit: 1,
    title: "The installation key is missing, unreadable, or not this store's",
  },
  RAMPART_E_LISTEN: { status: 500, exit: 1, title: 'The server cannot listen on the configured address' },
  RAMPART_E_CONTROL_PLANE_UNREACHABLE: { status: 503, exit: 1, title: 'The control plane cannot be reached' },

  RAMPART_E_STORE_UNAVAILABLE: { status: 503, exit: 1, title: 'The store cannot be reached' },
  RAMPART_E_STORE_MIGRATION: { status: 500, exit: 1, title: 'A store migration failed' },

  RAMPART_E_AUDIT_WRITE_FAILED: {
    status: 503,
    exit: 1,
    title: 'An audit record could not be written, so the action did not happen',
  },
  RAMPART_E_AUDIT_TAMPERED: {
    status: 500,
    exit: 1,
    title: 'The audit log does not match its signed checkpoints',
  },
  RAMPART_E_AUDIT_CHECKPOINT_INVALID: { status: 500, exit: 1, title: 'An audit checkpoint is invalid' },
  RAMPART_E_AUDIT_PROOF_RANGE: {
    status: 400,
    exit: 2,
    title: 'A proof was asked for a leaf or tree size outside the log',
  },

  RAMPART_E_POLICY_INVALID: {
    status: 422,
    exit: 1,
    title: 'A policy set does not load: a file, a rule or an expression is invalid',
  },
  RAMPART_E_POLICY_TEST_FAILED: {
    status: 422,
    exit: 1,
    title: 'A policy test did not get the decision it expects',
  },
  RAMPART_E_PLAYBOOKS_INVALID: {
    status: 422,
    exit: 1,
    title: 'A response playbook set does not load: a file, a match or an action is invalid',
  },
  RAMPART_E_ACTION_FAILED: {
    status: 502,
    exit: 1,
    title: 'A response action failed: what it acts on did not do it',
  },
  RAMPART_E_AGENT_BLOCKED: {
    status: 403,
    exit: 1,
    title:
      'The agent is blocked (by the response engine until a person releases it, or a drill agent whose drill is not active)',
  },
  RAMPART_E_RUNBOOKS_INVALID: {
    status: 422,
    exit: 1,
    title: 'A runbook does not load: its front matter or its tasks are invalid',
  },
  RAMPART_E_BREAKGLASS_REFUSED: {
    status: 403,
    exit: 1,
    title: 'Break-glass refused: not an approver, approving your own request, or not a personal credential',
  },
  RAMPART_E_RULES_INVALID: {
    status: 422,
    exit: 1,
    title: 'A detection rule set does not load: a file, a list, a macro or a rule is invalid',
  },
  RAMPART_E_RULES_TEST_FAILED: {
    status: 422,
    exit: 1,
    title: 'A detection rule test did not get the detections it expects',
  },
  RAMPART_E_ENTITY_INVALID: {
    status: 400,
    exit: 2,
    title: 'An entity (agent, team, vault, ...) is malformed',
  },

  RAMPART_E_TOKEN_INVALID: {
    status: 401,
    exit: 1,
    title: 'A workload token was refused (malformed, wrong key, expired, revoked, ...)',
  },
  RAMPART_E_TOKEN_REQUEST_INVALID: {
    status: 400,
    exit: 2,
    title: 'A token cannot be issued as asked (lifetime, run, capabilities)',
  },
  RAMPART_E_RUN_EXPIRED: {
    status: 403,
    exit: 1,
    title: 'The run has reached its maximum lifetime; its token cannot be refreshed',
  },
  RAMPART_E_RATE_LIMITED: { status: 429, exit: 1, title: 'Too many requests from this agent or token' },
  RAMPART_E_IDENTITY_KEY_INVALID: {
    status: 500,
    exit: 1,
    title: 'A workload-token signing key file is not valid',
  },
  RAMPART_E_IDENTITY_UNAVAILABLE: {
    status: 503,
    exit: 1,
    title: 'Workload tokens cannot be verified right now (revocations out of date)',
  },
  RAMPART_E_RUN_INVALID: {
    status: 400,
    exit: 2,
    title: 'A run request is invalid (unknown profile, limits above the profile, bad workspace or id)',
  },
  RAMPART_E_SANDBOX_UNAVAILABLE: {
    status: 503,
    exit: 2,
    title: 'This host cannot confine runs (no bubblewrap, no cgroups, not root, missing device)',
  },
  RAMPART_E_RUNTIME: {
    status: 503,
    exit: 2,
    title: 'The container runtime (the Docker Engine) cannot be reached, or refused what Rampart asked',
  },
  RAMPART_E_SECRETS_KEK: {
    status: 500,
    exit: 2,
    title: "The secrets' key-encryption key is missing, malformed, or does not open what the store holds",
  },
  RAMPART_E_LEASE: {
    status: 410,
    exit: 1,
    title: "The lease has ended (revoked, expired or past its max TTL), or is not this caller's",
  },
  RAMPART_E_SECRETS_ENGINE: {
    status: 503,
    exit: 1,
    title: 'A dynamic secrets engine could not issue, renew or revoke a credential',
  },
  RAMPART_E_IMAGE_NOT_ALLOWED: {
    status: 403,
    exit: 2,
    title: 'The image is not on the approved list by digest (sandbox.docker.images)',
  },
  RAMPART_E_EGRESS_UNAVAILABLE: {
    status: 503,
    exit: 1,
    title: 'The egress proxy cannot run on this host (not Linux, or its native relay is not built)',
  },
  RAMPART_E_RUN_NOT_FOUND: { status: 404, exit: 1, title: 'No such run on this host' },
  RAMPART_E_ADMISSION_INPUT: {
    status: 400,
    exit: 2,
    title: 'A spec or admission policy cannot be read (syntax, type, size, alias expansion or nesting)',
  },
  RAMPART_E_CSRF: {
    status: 403,
    exit: 1,
    title:
      "A console request that changes state came without its session's CSRF token, or from another origin",
  },
  RAMPART_E_CONSOLE_UNAVAILABLE: {
    status: 503,
    exit: 1,
    title: "The web console's assets are not in this build (npm run build makes them)",
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** A position in a source file. Lines and columns are 1-based, as editors show them. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export function formatLocation(loc: SourceLocation): string {
  return `${loc.file}:${loc.line}:${loc.column}`;
}

export interface RampartErrorOptions {
  readonly cause?: unknown;
  readonly location?: SourceLocation;
  /** Machine-readable detail for API clients. Never put a secret here. */
  readonly details?: Readonly<Record<string, unknown>>;
  /** A hint that tells the user how to fix it. */
  readonly hint?: string;
}

/**
 * Marks RampartErrors across bundle boundaries: each CLI command is its own bundle with its own
 * copy of this class, so `instanceof` alone would miss an error thrown by another bundle.
 */
const BRAND = Symbol.for('rampart.error');

export class RampartError extends Error {
  readonly code: ErrorCode;
  readonly location: SourceLocation | undefined;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: RampartErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RampartError';
    (this as unknown as Record<symbol, boolean>)[BRAND] = true;
    this.code = code;
    this.location = options.location;
    this.details = options.details;
    this.hint = options.hint;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  get exitCode(): number {
    return ERRORS[this.code].exit;
  }

  /** "file:line:col: CODE: message" when located, else "CODE: message". */
  describe(): string {
    const where = this.location ? `${formatLocation(this.location)}: ` : '';
    return `${where}${this.code}: ${this.message}`;
  }
}

/** Several located problems found in one pass (a config file, a policy set): report them all at once. */
export class RampartErrorList extends RampartError {
  readonly errors: readonly RampartError[];

  constructor(errors: readonly RampartError[]) {
    const first = errors[0];
    if (!first) throw new TypeError('RampartErrorList needs at least one error');
    super(first.code, errors.length === 1 ? first.message : `${errors.length} problems found`, {
      ...(first.location ? { location: first.location } : {}),
    });
    this.name = 'RampartErrorList';
    this.errors = errors;
  }

  override describe(): string {
    return this.errors.map((e) => e.describe()).join('\n');
  }
}

export function isRampartError(e: unknown): e is RampartError {
  return (
    e instanceof RampartError ||
    (e instanceof Error && (e as unknown as Record<symbol, unknown>)[BRAND] === true)
  );
}

/** Message of an unknown thrown value, for logs. Never include a stack for users. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Every problem an error carries, each as "file:line:col: CODE: message" (a load's list, or one). */
export function describeProblems(e: unknown): string[] {
  if (e instanceof RampartErrorList) return e.errors.map((x) => x.describe());
  return [isRampartError(e) ? e.describe() : messageOf(e)];
}

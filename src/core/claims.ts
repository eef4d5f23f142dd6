// What a workload token says: shared vocabulary, since the server, the egress proxy and every
// component that serves agents read it, and only the identity component signs and verifies it.

export interface WorkloadClaims {
  readonly iss: string;
  readonly aud: string;
  /** The agent. */
  readonly sub: string;
  /** The run this token belongs to. */
  readonly run: string;
  /** The agent's namespace. */
  readonly ns: string;
  /** Capabilities granted to this run. */
  readonly caps: readonly string[];
  readonly jti: string;
  /** Seconds since the epoch, as JWT has them. */
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  /** When the run started (seconds): refreshes end at rst + the maximum run lifetime. */
  readonly rst: number;
  /** The one repository and task the run works on: the git gate holds its pushes to them. */
  readonly git?: GitBinding;
}

/** A run's repository (ORG/NAME), its task, and the paths the task may change (globs; none: any). */
export interface GitBinding {
  readonly repo: string;
  readonly task: string;
  readonly paths?: readonly string[];
}

/** The name runs reach the git gate by, through their egress channel (no DNS, no allow-list). */
export const GIT_GATE_HOST = 'git.rampart.internal';
/** Names under this suffix are Rampart's own: the egress proxy routes them, or refuses them. */
export const RESERVED_SUFFIX = '.rampart.internal';

/**
 * What a run's git needs to reach the gate: its repository's URL and a credential helper that
 * reads the run's token file at each use (the token is refreshed in place; it is never in the
 * environment). In the GIT_CONFIG_* variables, which git reads as command-line configuration.
 */
export function gitClientEnv(b: GitBinding, tokenPath: string): Record<string, string> {
  const url = `http://${GIT_GATE_HOST}/${b.repo}.git`;
  const pairs: [string, string][] = [
    [
      `credential.http://${GIT_GATE_HOST}.helper`,
      `!f() { test "$1" = get && echo username=rampart && printf 'password=%s\\n' "$(cat ${tokenPath})"; }; f`,
    ],
    // The repository's usual addresses lead to the gate, so `git push origin` goes through it.
    [`url.${url}.insteadOf`, `https://github.com/${b.repo}.git`],
    [`url.${url}.insteadOf`, `git@github.com:${b.repo}.git`],
  ];
  const env: Record<string, string> = {
    RAMPART_GIT_REMOTE: url,
    RAMPART_GIT_TASK: b.task,
    GIT_CONFIG_COUNT: String(pairs.length),
  };
  pairs.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return env;
}

/** The binding as API bodies carry it (the run's registration, a token request). */
export const GIT_BINDING_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['repo', 'task'],
  properties: {
    repo: { type: 'string', minLength: 3, maxLength: 201 },
    task: { type: 'string', minLength: 1, maxLength: 64 },
    paths: { type: 'array', maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 256 } },
  },
} as const;

export const GIT_REPO_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\/[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;
export const GIT_TASK_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Why a git binding is malformed, or undefined when it is sound (tokens are checked with it). */
export function gitBindingProblem(g: unknown): string | undefined {
  if (typeof g !== 'object' || g === null || Array.isArray(g)) return 'git must be an object';
  const o = g as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== 'repo' && k !== 'task' && k !== 'paths') return `git has an unknown field "${k}"`;
  if (typeof o['repo'] !== 'string' || !GIT_REPO_RE.test(o['repo']) || o['repo'].includes('..'))
    return 'git.repo must be ORG/NAME';
  if (typeof o['task'] !== 'string' || !GIT_TASK_RE.test(o['task']))
    return 'git.task must be letters, digits and . _ - (at most 64)';
  const paths = o['paths'];
  if (
    paths !== undefined &&
    (!Array.isArray(paths) ||
      paths.length > 64 ||
      !paths.every((p) => typeof p === 'string' && p.length > 0 && p.length <= 256 && !p.includes('\0')))
  )
    return 'git.paths must be at most 64 globs of at most 256 characters';
  return undefined;
}

/**
 * The workload token an Authorization or Proxy-Authorization header carries: Bearer, or Basic with
 * the token as password (what curl's --proxy-user and git's credential helpers send).
 */
export function tokenFrom(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.split(' ', 2);
  if (!value) return undefined;
  if (scheme!.toLowerCase() === 'bearer') return value.trim();
  if (scheme!.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    return i >= 0 ? decoded.slice(i + 1) : undefined;
  }
  return undefined;
}

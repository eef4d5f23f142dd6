// The git gate's door: Git's smart HTTP for runs (reached as git.rampart.internal through their
// egress channel), every push checked against the run's repository and task and decided by
// policy (git.push), accepted pushes forwarded upstream with a credential only Rampart holds.
// Its health, metrics and stop; the egress proxy gets its listener as a route.

import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { WorkloadClaims } from '../core/claims.js';
import type { Component, MetricSpec } from '../core/component.js';
import type { EventPublisher } from '../core/events.js';
import type { GitgateSettings, GitgateUpstream } from '../core/settings.js';
import type { ComponentHealth, Log } from '../core/types.js';
import { globRegExp } from './globs.js';
import type { Scan } from './inspect.js';
import { Mirrors, type Credential } from './mirror.js';
import type { PushDecider } from './push.js';
import { PushRules } from './rules.js';
import { GateServer, type Upstream } from './server.js';

export type { Scan } from './inspect.js';
export type { PushDecider } from './push.js';
export type { Credential } from './mirror.js';

export interface GitgateDeps {
  readonly settings: GitgateSettings;
  readonly dataDir: string;
  readonly bus: EventPublisher;
  readonly log: Log;
  /** Identity's verifier: a workload token's claims, or why it is refused. */
  readonly verify: (token: string) => { readonly claims: WorkloadClaims } | string;
  /** Policy's git.push; absent, every push is refused. */
  readonly decide?: PushDecider;
  /** The secret scanner (the redaction engine's rules); absent, pushes are refused while scanning is on. */
  readonly scan?: Scan;
  /**
   * The upstream credential from the secrets broker (VAULT/NAME, read for this use, on record);
   * absent, an upstream that names a credential cannot be reached.
   */
  readonly credential?: (
    vault: string,
    name: string,
    who: { agent: string; run: string; repo: string },
  ) => Promise<Buffer>;
}

export interface GitgateComponent extends Component {
  /** Where the egress proxy sends git.rampart.internal. */
  readonly address: { readonly address: string; readonly port: number };
}

/** The pre-receive step: the push's quarantine and refs to the gate (fd 3), its verdict back (fd 4). */
const HOOK = `#!/bin/sh
# Rampart's git gate: every push is decided by the control plane before receive-pack keeps it.
{ printf '%s\\n%s\\n%s\\n' "$GIT_QUARANTINE_PATH" "$GIT_OBJECT_DIRECTORY" "$GIT_ALTERNATE_OBJECT_DIRECTORIES"; cat; printf '.\\n'; } >&3 || exit 1
IFS= read -r verdict <&4 || exit 1
cat <&4 >&2
[ "$verdict" = ok ]
`;

interface CompiledUpstream extends GitgateUpstream {
  readonly re: RegExp;
}

export async function startGitgate(deps: GitgateDeps): Promise<GitgateComponent> {
  const s = deps.settings;
  const root = join(deps.dataDir, 'gitgate');
  const hooksDir = join(root, 'hooks');
  mkdirSync(hooksDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(hooksDir, 'pre-receive'), HOOK, { mode: 0o700 });
  chmodSync(join(hooksDir, 'pre-receive'), 0o700);
  const version = spawnSync(s.git, ['--version'], { encoding: 'utf8' });
  const gitProblem =
    version.status === 0
      ? undefined
      : `git cannot run (${s.git}): ${version.error?.message ?? version.stderr}`;
  const mirrors = new Mirrors({ git: s.git, root: join(root, 'mirrors'), timeoutMs: s.timeoutMs });
  // ORG/NAME globs: * is any characters but /; names compare without case, as forges do.
  const upstreams: CompiledUpstream[] = s.upstreams.map((u) => ({
    ...u,
    re: new RegExp(globRegExp(u.repos).source, 'i'),
  }));
  const stats = { accepted: 0, refused: 0, failed: 0, fetches: 0, refusedRequests: 0 };

  const upstream = (repo: string, who: { agent: string; run: string }): Upstream | string => {
    const u = upstreams.find((x) => x.re.test(repo));
    if (!u) return `no upstream is configured for ${repo} (gitgate.upstreams)`;
    const [org, name] = repo.split('/') as [string, string];
    const fill = (t: string): string =>
      t.replaceAll('{repo}', repo).replaceAll('{org}', org).replaceAll('{name}', name);
    const ref = u.credential ? fill(u.credential) : undefined;
    return {
      url: fill(u.url),
      credential: async (): Promise<Credential | undefined> => {
        if (!ref) return undefined;
        if (!deps.credential) throw new Error('the secrets broker is not running');
        const m = /^vault:([^/]+)\/(.+)$/.exec(ref)!;
        const value = await deps.credential(m[1]!, m[2]!, { ...who, repo });
        // USER:PASSWORD, or a token sent with the entry's user name.
        const text = value.toString('utf8').trim();
        const colon = text.indexOf(':');
        return colon > 0
          ? { username: text.slice(0, colon), password: Buffer.from(text.slice(colon + 1)) }
          : { username: u.username, password: Buffer.from(text) };
      },
    };
  };

  const server = new GateServer({
    git: s.git,
    mirrors,
    hooksDir,
    maxPush: s.maxPush,
    timeoutMs: s.timeoutMs,
    bus: deps.bus,
    log: deps.log,
    verify: deps.verify,
    upstream,
    push: {
      git: s.git,
      rules: new PushRules(s.rules),
      decide: deps.decide,
      scan: deps.scan,
      scanSecrets: s.rules.scanSecrets,
      maxFileSize: s.rules.maxFileSize,
      timeoutMs: s.timeoutMs,
      bus: deps.bus,
      stats,
    },
    stats,
  });
  const address = await server.listen();

  const health = (): ComponentHealth => {
    const missing = [
      gitProblem,
      deps.decide ? undefined : 'no policy engine: every push is refused',
      s.rules.scanSecrets && !deps.scan ? 'no secret scanner: every push is refused' : undefined,
    ].filter((x): x is string => x !== undefined);
    if (missing.length > 0) return { status: 'degraded', detail: missing.join('; ') };
    return {
      status: 'ok',
      detail: `${s.upstreams.length} upstream(s); ${stats.accepted} pushes accepted, ${stats.refused} refused, ${stats.failed} failed`,
    };
  };
  const metrics: MetricSpec[] = [
    {
      kind: 'counter',
      name: 'rampart_gitgate_pushes_total',
      help: 'Pushes through the git gate, by outcome.',
      label: 'outcome',
      read: () => ({ accepted: stats.accepted, refused: stats.refused, failed: stats.failed }),
    },
    {
      kind: 'counter',
      name: 'rampart_gitgate_fetches_total',
      help: 'Fetches and clones served by the git gate.',
      read: () => stats.fetches,
    },
    {
      kind: 'counter',
      name: 'rampart_gitgate_refused_requests_total',
      help: 'Requests the git gate refused before git saw them (no token, another repository, no upstream).',
      read: () => stats.refusedRequests,
    },
  ];
  return {
    name: 'gitgate',
    address,
    routes: [],
    health,
    metrics,
    subscriptions: [],
    stop: () => server.close(),
  };
}

// The gate's copy of each upstream repository: a bare mirror under the data directory, brought
// up to date before every fetch and push is served, and the way pushes reach the upstream. The
// upstream credential reaches git on a pipe (descriptor 3, read by a credential helper), never
// in an argument, a variable or a file; redirects are not followed, so it goes nowhere else.

import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gitError, runGit, type GitResult } from './git.js';
import { ZERO, type RefUpdate } from './rules.js';

export interface Credential {
  readonly username: string;
  readonly password: Buffer;
}

/** What the upstream said to a push: each ref's outcome, and its own messages. */
export interface UpstreamAnswer {
  readonly ok: boolean;
  /** "ref: reason" for each ref it refused, then the remote's own lines. */
  readonly messages: readonly string[];
}

const HELPER = '!f() { test "$1" = get && cat <&3; }; f';

export class Mirrors {
  /** The tail of each repository's queue: fetches and pushes of one repository go one at a time. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** When each mirror was last brought up to date (performance.now()). */
  private readonly synced = new Map<string, number>();

  constructor(
    private readonly o: { readonly git: string; readonly root: string; readonly timeoutMs: number },
  ) {
    mkdirSync(o.root, { recursive: true, mode: 0o700 });
  }

  /** Where the mirrors are (http-backend's project root). */
  get root(): string {
    return this.o.root;
  }

  path(repo: string): string {
    return join(this.o.root, `${repo}.git`);
  }

  /** Runs `fn` when every earlier operation on the repository has ended. */
  serial<T>(repo: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(repo) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.queues.set(repo, tail);
    void tail.then(() => {
      if (this.queues.get(repo) === tail) this.queues.delete(repo);
    });
    return next;
  }

  /** How long ago the mirror was brought up to date by this process (Infinity: never). */
  age(repo: string): number {
    const at = this.synced.get(repo);
    return at === undefined ? Infinity : performance.now() - at;
  }

  /** Brings the mirror to the upstream's branches and tags (cloning it the first time). */
  async sync(repo: string, url: string, cred: Credential | undefined): Promise<void> {
    const started = performance.now();
    await this.fetchUpstream(repo, url, cred);
    this.synced.set(repo, started);
  }

  private async fetchUpstream(repo: string, url: string, cred: Credential | undefined): Promise<void> {
    const dir = this.path(repo);
    if (!existsSync(join(dir, 'HEAD'))) {
      mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
      const tmp = `${dir}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        const r = await this.call(['clone', '--bare', '--quiet', '--', url, tmp], cred);
        if (r.code !== 0) throw new Error(`cannot clone ${repo} from its upstream: ${gitError(r.stderr)}`);
        renameSync(tmp, dir);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
      return;
    }
    const r = await this.call(
      [
        '--git-dir',
        dir,
        'fetch',
        '--prune',
        '--quiet',
        '--',
        url,
        '+refs/heads/*:refs/heads/*',
        '+refs/tags/*:refs/tags/*',
      ],
      cred,
    );
    if (r.code !== 0) throw new Error(`cannot fetch ${repo} from its upstream: ${gitError(r.stderr)}`);
  }

  /**
   * Pushes the updates to the upstream from the push's quarantine, all or none (--atomic), never
   * forced: an upstream that moved meanwhile refuses, and says so.
   */
  async push(
    repo: string,
    url: string,
    cred: Credential | undefined,
    objects: { readonly quarantine: string; readonly alternates: string },
    updates: readonly RefUpdate[],
  ): Promise<UpstreamAnswer> {
    const specs = updates.map((u) => (u.new === ZERO ? `:${u.ref}` : `${u.new}:${u.ref}`));
    const r = await this.call(
      ['push', '--atomic', '--porcelain', '--no-verify', '--quiet', '--', url, ...specs],
      cred,
      {
        GIT_DIR: this.path(repo),
        GIT_OBJECT_DIRECTORY: objects.quarantine,
        GIT_ALTERNATE_OBJECT_DIRECTORIES: objects.alternates,
      },
    );
    if (r.code === 0) return { ok: true, messages: [] };
    const messages: string[] = [];
    for (const line of r.stdout.toString('utf8').split('\n')) {
      // "!\tsrc:dst\t[rejected] (reason)"
      const m = /^!\t[^:]*:(\S+)\t(.*)$/.exec(line);
      if (m) messages.push(`${m[1]}: ${m[2]}`);
    }
    for (const line of r.stderr.split('\n')) {
      const m = /^remote: (.*\S)/.exec(line);
      if (m) messages.push(m[1]!);
    }
    if (messages.length === 0) messages.push(gitError(r.stderr));
    return { ok: false, messages };
  }

  private call(
    args: string[],
    cred: Credential | undefined,
    env: Record<string, string> = {},
  ): Promise<GitResult> {
    const config = [
      '-c',
      'credential.helper=',
      '-c',
      `credential.helper=${HELPER}`,
      '-c',
      'http.followRedirects=false',
      '-c',
      'core.hooksPath=/dev/null',
      '-c',
      'protocol.allow=never',
      '-c',
      'protocol.http.allow=always',
      '-c',
      'protocol.https.allow=always',
      '-c',
      'protocol.file.allow=always',
    ];
    const secret = cred
      ? Buffer.concat([Buffer.from(`username=${cred.username}\npassword=`), cred.password, Buffer.from('\n')])
      : Buffer.alloc(0);
    return runGit({
      git: this.o.git,
      args: [...config, ...args],
      env,
      timeoutMs: this.o.timeoutMs,
      extra: [secret.length > 0 ? 'pipe' : 'ignore'],
      onSpawn: (child) => {
        const fd3 = child.stdio[3] as NodeJS.WritableStream | null;
        if (fd3) {
          (fd3 as unknown as { on(e: string, f: () => void): void }).on('error', () => undefined);
          fd3.end(secret);
        }
      },
    });
  }
}

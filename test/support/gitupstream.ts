// A real Git upstream for the git gate's tests and benchmark: bare repositories served over smart
// HTTP by `git http-backend` (the CGI git ships) behind Basic authentication, so a test sees
// exactly what reached the upstream, and that only the gate's credential got there.

import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface GitUpstream {
  readonly url: string;
  readonly root: string;
  /** Accepts one more password (a credential minted while the test runs). */
  allow(password: string): void;
  /** Requests refused for their credentials, and the users whose requests got through. */
  stats(): Promise<{ refused: number; users: string[] }>;
  close(): Promise<void>;
}

const GIT_ENV = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
  HOME: '/nonexistent',
};

/** Runs git, failing loudly; returns its stdout. */
export function git(args: string[], cwd?: string, env: Record<string, string> = {}): string {
  const r = spawnSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...GIT_ENV, ...env },
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** git, returning status and everything it printed (for pushes a test expects to fail). */
export function gitTry(
  args: string[],
  cwd?: string,
  env: Record<string, string> = {},
): { code: number | null; out: string } {
  const r = spawnSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...GIT_ENV, ...env },
    maxBuffer: 1 << 30,
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

/**
 * gitTry without blocking the event loop: for a long push, during which a test's own kept-alive
 * API connections must stay served.
 */
export function gitAsync(
  args: string[],
  cwd?: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const c = spawn('git', args, {
      cwd,
      env: { ...process.env, ...GIT_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.on('close', (code) => resolve({ code, out }));
  });
}

/** A bare repository ORG/NAME under `root` with one commit on main (a README). */
export function makeRepo(root: string, repo: string, work: string): void {
  const bare = join(root, `${repo}.git`);
  mkdirSync(bare, { recursive: true });
  git(['init', '-q', '--bare', '-b', 'main', bare]);
  mkdirSync(work, { recursive: true });
  git(['init', '-q', '-b', 'main', work]);
  git(['-c', 'core.hooksPath=/dev/null', 'commit', '-q', '--allow-empty', '-m', 'initial'], work);
  git(['push', '-q', bare, 'main'], work);
}

/** The upstream's refs: name -> commit. */
export function upstreamRefs(root: string, repo: string): Record<string, string> {
  const out: Record<string, string> = {};
  const r = spawnSync('git', ['--git-dir', join(root, `${repo}.git`), 'show-ref'], { encoding: 'utf8' });
  for (const line of r.stdout.split('\n')) {
    const [sha, ref] = line.split(' ');
    if (sha && ref) out[ref] = sha;
  }
  return out;
}

/**
 * Serves `root` over smart HTTP, pushes allowed, for `user`:`password` alone, from a process of
 * its own: tests drive git with spawnSync, which would stall a server in their own event loop.
 */
export async function startUpstream(root: string, user: string, password: string): Promise<GitUpstream> {
  const secret = join(root, '..', `upstream-${process.pid}.password`);
  writeFileSync(secret, password, { mode: 0o600 });
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('./gitupstream-server.js', import.meta.url)), root, user, secret],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').once('data', (d: string) => resolve(d.trim()));
    child.once('exit', (code) => reject(new Error(`the upstream exited (${code})`)));
  });
  const stats = async (): Promise<{ refused: number; users: string[] }> =>
    (await (await fetch(`${url}/_stats`)).json()) as { refused: number; users: string[] };
  return {
    url,
    root,
    stats,
    allow: (p) => appendFileSync(secret, `\n${p}`),
    close: async () => {
      child.kill();
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** The server itself (gitupstream-server.ts runs it in its own process). */
export async function serveUpstream(
  root: string,
  user: string,
  passwords: () => string[],
): Promise<{ url: string; close(): void }> {
  const state = { refused: 0, users: [] as string[] };
  const server: Server = createServer((req, res) => {
    if (req.url === '/_stats') {
      res.end(JSON.stringify(state));
      return;
    }
    const expected = passwords().map((p) => `Basic ${Buffer.from(`${user}:${p}`).toString('base64')}`);
    if (!expected.includes(req.headers.authorization ?? '')) {
      if (req.headers.authorization) state.refused++;
      res.writeHead(401, { 'www-authenticate': 'Basic realm="upstream"' });
      res.end();
      req.resume();
      return;
    }
    state.users.push(user);
    const url = new URL(req.url ?? '/', 'http://x');
    const child = spawn('git', ['http-backend'], {
      env: {
        ...process.env,
        ...GIT_ENV,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: user,
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''),
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'http.receivepack',
        GIT_CONFIG_VALUE_0: 'true',
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    req.pipe(child.stdin);
    let head = Buffer.alloc(0);
    let started = false;
    child.stdout.on('data', (b: Buffer) => {
      if (started) return void res.write(b);
      head = Buffer.concat([head, b]);
      const i = head.indexOf('\r\n\r\n');
      if (i < 0) return;
      started = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const l of head.subarray(0, i).toString().split('\r\n')) {
        const c = l.indexOf(':');
        const k = l.slice(0, c).toLowerCase();
        const v = l.slice(c + 1).trim();
        if (k === 'status') status = Number(v.split(' ')[0]);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(i + 4));
    });
    child.on('close', () => res.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

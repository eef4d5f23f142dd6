// Git's smart HTTP protocol for runs, served by real git: `git http-backend` (a CGI) over the
// repository's mirror, after the caller is known and held to its run's repository. Fetches are
// passed through once the mirror has the upstream's refs; a push lands in receive-pack's
// quarantine, whose pre-receive hook hands the push to the gate on descriptor 3 and waits for
// the verdict on descriptor 4 (push.ts decides, and pushes upstream before saying yes).

import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { tokenFrom, type GitBinding, type WorkloadClaims } from '../core/claims.js';
import { messageOf } from '../core/errors.js';
import type { EventPublisher } from '../core/events.js';
import type { Log } from '../core/types.js';
import { baseEnv, kill } from './git.js';
import type { Mirrors, Credential } from './mirror.js';
import { decidePush, parseHook, type PushDeps } from './push.js';

export interface Upstream {
  readonly url: string;
  readonly credential: () => Promise<Credential | undefined>;
}

export interface GateServerDeps {
  readonly git: string;
  readonly mirrors: Mirrors;
  readonly hooksDir: string;
  readonly maxPush: number;
  readonly timeoutMs: number;
  readonly bus: EventPublisher;
  readonly log: Log;
  readonly verify: (token: string) => { readonly claims: WorkloadClaims } | string;
  /** The upstream of a repository for a caller, or why there is none. */
  readonly upstream: (repo: string, who: { agent: string; run: string }) => Upstream | string;
  readonly push: Omit<PushDeps, 'mirrors'>;
  readonly stats: { fetches: number; refusedRequests: number };
}

const PATH_RE =
  /^\/([A-Za-z0-9_][A-Za-z0-9_.-]*\/[A-Za-z0-9_][A-Za-z0-9_.-]*?)\.git\/(info\/refs|git-upload-pack|git-receive-pack)$/;

/** A push is advertised refs at most this old (a fetch always the upstream's own). */
const PUSH_SYNC_MS = 30_000;

class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class GateServer {
  private readonly server: Server;
  private readonly children = new Set<number>();

  constructor(private readonly d: GateServerDeps) {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.requestTimeout = 0;
    this.server.headersTimeout = 30_000;
  }

  listen(): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        const a = this.server.address() as AddressInfo;
        resolve({ address: a.address, port: a.port });
      });
    });
  }

  async close(): Promise<void> {
    for (const pid of this.children) kill(pid);
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gate');
    let who: { agent: string; run: string } | undefined;
    let repo = '';
    try {
      const m = PATH_RE.exec(url.pathname);
      if (!m) throw new HttpRefusal(404, 'rampart: the git gate serves /ORG/NAME.git over smart HTTP only');
      repo = m[1]!;
      const op = m[2]!;
      const service = op === 'info/refs' ? url.searchParams.get('service') : op;
      if (service !== 'git-upload-pack' && service !== 'git-receive-pack')
        throw new HttpRefusal(
          403,
          'rampart: the dumb HTTP protocol is not served; use a git that speaks smart HTTP',
        );
      if ((op === 'info/refs') !== (req.method === 'GET') || (req.method !== 'GET' && req.method !== 'POST'))
        throw new HttpRefusal(405, `rampart: ${req.method ?? '?'} is not how git asks for ${op}`);
      const claims = this.authenticate(req);
      who = { agent: claims.sub, run: claims.run };
      const binding = this.bound(claims, repo);
      const upstream = this.d.upstream(repo, who);
      if (typeof upstream === 'string') throw new HttpRefusal(403, `rampart: ${upstream}`);
      if (op === 'info/refs') {
        // A fetch is served what the upstream has now. A push is advertised the mirror's refs when
        // they are recent: they only tell the client what it need not send, and the push upstream
        // is never forced, so an upstream that moved meanwhile refuses it and says so.
        if (service === 'git-upload-pack' || this.d.mirrors.age(repo) > PUSH_SYNC_MS)
          await this.d.mirrors.serial(repo, async () =>
            this.d.mirrors.sync(repo, upstream.url, await upstream.credential()),
          );
        if (service === 'git-upload-pack') {
          this.d.stats.fetches++;
          void this.fetchEvent(who, repo, 'served');
        }
        await this.cgi(req, res, repo, url, claims.sub);
      } else if (service === 'git-upload-pack') await this.cgi(req, res, repo, url, claims.sub);
      else
        await this.d.mirrors.serial(repo, () =>
          this.cgi(req, res, repo, url, claims.sub, async (text) =>
            decidePush(
              { ...this.d.push, mirrors: this.d.mirrors },
              { agent: claims.sub, run: claims.run, binding, capabilities: claims.caps, upstream },
              parseHook(text),
            ),
          ),
        );
    } catch (e) {
      const status = e instanceof HttpRefusal ? e.status : 502;
      const message =
        e instanceof HttpRefusal ? e.message : `rampart: the git gate could not serve this: ${messageOf(e)}`;
      this.d.stats.refusedRequests++;
      if (status !== 401)
        this.d.log.warn({ repo, status, reason: message, ...who }, 'gitgate: request refused');
      if (who && repo && status !== 401)
        void this.fetchEvent(who, repo, status === 502 ? 'failed' : 'refused', message);
      if (!res.headersSent) {
        const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
        if (status === 401) headers['www-authenticate'] = 'Basic realm="rampart git gate"';
        res.writeHead(status, headers);
      }
      res.end(`${message}\n`);
      req.resume();
    }
  }

  /** The workload token, from Basic (git's credential helper: any user, the token as password) or Bearer. */
  private authenticate(req: IncomingMessage): WorkloadClaims {
    const token = tokenFrom(req.headers.authorization);
    if (!token)
      throw new HttpRefusal(401, "rampart: a workload token is needed (the run's /run/rampart/token)");
    const r = this.d.verify(token);
    if (typeof r === 'string') throw new HttpRefusal(401, `rampart: the workload token was refused: ${r}`);
    return r.claims;
  }

  /** The run's binding, which must name this repository. */
  private bound(claims: WorkloadClaims, repo: string): GitBinding {
    const b = claims.git;
    if (!b)
      throw new HttpRefusal(
        403,
        `rampart: run ${claims.run} is bound to no repository; start it with rampart run --repo ORG/NAME --task ID`,
      );
    if (b.repo.toLowerCase() !== repo.toLowerCase())
      throw new HttpRefusal(
        403,
        `rampart: run ${claims.run} works on ${b.repo} only; it cannot fetch or push ${repo}`,
      );
    return b;
  }

  private async fetchEvent(
    who: { agent: string; run: string },
    repo: string,
    outcome: 'served' | 'refused' | 'failed',
    reason?: string,
  ): Promise<void> {
    await this.d.bus
      .publish({
        type: 'gitgate.fetch',
        severity: outcome === 'served' ? 'info' : 'medium',
        source: 'gitgate',
        subject: who,
        outcome: outcome === 'served' ? 'success' : outcome === 'refused' ? 'denied' : 'failure',
        data: { ...who, repo, outcome, ...(reason ? { reason } : {}) },
      })
      .catch((e: unknown) =>
        this.d.log.error({ err: messageOf(e) }, 'gitgate: a fetch was not put on record'),
      );
  }

  /**
   * Runs `git http-backend` for the request: the body streamed to it (at most max_push bytes),
   * its CGI head turned into the response's, the rest streamed back. With `onPush`, its
   * receive-pack's pre-receive hook is answered (descriptors 3 and 4).
   */
  private cgi(
    req: IncomingMessage,
    res: ServerResponse,
    repo: string,
    url: URL,
    user: string,
    onPush?: (hookText: string) => Promise<{ ok: boolean; lines: readonly string[] }>,
  ): Promise<void> {
    const config: [string, string][] = [
      // receive-pack is served (its refs advertised, a push taken) to a caller bound to this
      // repository: the push itself is the pre-receive step's to decide.
      ['http.receivepack', 'true'],
      ['http.uploadpack', 'true'],
      ['core.hooksPath', this.d.hooksDir],
      ['receive.fsckObjects', 'true'],
      ['receive.maxInputSize', String(this.d.maxPush)],
      ['receive.advertisePushOptions', 'false'],
      ['uploadpack.allowFilter', 'true'],
    ];
    const env: Record<string, string> = {
      ...baseEnv(),
      GIT_PROJECT_ROOT: this.d.mirrors.root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: url.pathname,
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method ?? 'GET',
      REMOTE_USER: user,
      REMOTE_ADDR: '127.0.0.1',
      GIT_CONFIG_COUNT: String(config.length),
    };
    config.forEach(([k, v], i) => {
      env[`GIT_CONFIG_KEY_${i}`] = k;
      env[`GIT_CONFIG_VALUE_${i}`] = v;
    });
    const ct = req.headers['content-type'];
    if (ct) env['CONTENT_TYPE'] = ct;
    const proto = req.headers['git-protocol'];
    if (typeof proto === 'string' && /^[a-z0-9=:.-]{1,64}$/i.test(proto)) env['GIT_PROTOCOL'] = proto;
    const enc = req.headers['content-encoding'];
    if (typeof enc === 'string') env['HTTP_CONTENT_ENCODING'] = enc;
    return new Promise<void>((resolve) => {
      const child = spawn(this.d.git, ['http-backend'], {
        env,
        stdio: onPush ? ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'],
        detached: true,
      });
      const pid = child.pid;
      if (pid !== undefined) this.children.add(pid);
      const timer = setTimeout(() => kill(pid), this.d.timeoutMs);
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
      child.on('error', (e) => {
        this.d.log.error({ err: e.message }, 'gitgate: cannot run git http-backend');
      });
      if (onPush) this.answerHook(child.stdio[3] as Readable, child.stdio[4] as Writable, onPush, pid);
      // The request body, bounded: past max_push the backend is stopped and the push fails.
      let size = 0;
      req.on('data', (b: Buffer) => {
        size += b.length;
        if (size > this.d.maxPush) {
          kill(pid);
          req.destroy();
        }
      });
      req.pipe(child.stdin);
      child.stdin.on('error', () => undefined);
      this.relay(child.stdout, res);
      child.on('close', (code) => {
        clearTimeout(timer);
        if (pid !== undefined) this.children.delete(pid);
        if (code !== 0 && stderr)
          this.d.log.warn(
            { repo, code, stderr: stderr.trim().slice(-500) },
            'gitgate: git http-backend failed',
          );
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('rampart: git failed to serve the request\n');
        }
        res.end();
        resolve();
      });
    });
  }

  /** The CGI's output: its head (Status, Content-Type...) as the response's, then the body. */
  private relay(out: Readable, res: ServerResponse): void {
    let head = Buffer.alloc(0);
    const onData = (b: Buffer): void => {
      head = Buffer.concat([head, b]);
      const text = head.toString('latin1');
      const end = text.search(/\r?\n\r?\n/);
      if (end < 0) {
        if (head.length > 16 * 1024) out.destroy();
        return;
      }
      out.off('data', onData);
      const sep = /\r?\n\r?\n/.exec(text.slice(end))![0].length;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, end).split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i <= 0) continue;
        const k = line.slice(0, i).trim().toLowerCase();
        const v = line.slice(i + 1).trim();
        if (k === 'status') status = Number(v.split(' ')[0]) || 500;
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      const rest = head.subarray(end + sep);
      if (rest.length > 0) res.write(rest);
      out.pipe(res, { end: false });
    };
    out.on('data', onData);
  }

  /** Reads the hook's question (up to its "." line), asks, and writes the verdict and its lines. */
  private answerHook(
    from: Readable,
    to: Writable,
    decide: (text: string) => Promise<{ ok: boolean; lines: readonly string[] }>,
    pid: number | undefined,
  ): void {
    let text = '';
    let asked = false;
    to.on('error', () => undefined);
    from.setEncoding('utf8');
    from.on('data', (s: string) => {
      if (asked) return;
      text += s;
      if (text.length > 4 * 1024 * 1024) return kill(pid);
      if (!text.endsWith('\n.\n')) return;
      asked = true;
      void decide(text.slice(0, -3))
        .catch((e: unknown) => ({ ok: false, lines: [`rampart: error: ${messageOf(e)}`] }))
        .then((v) => to.end(`${v.ok ? 'ok' : 'no'}\n${v.lines.map((l) => `${l}\n`).join('')}`));
    });
  }
}

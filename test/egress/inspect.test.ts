// Interception of hosts marked inspect, with real parts: the egress component as the control
// plane starts it, curl as the agent (trusting Rampart's CA from a file, as a run does), and a
// real HTTPS origin with a certificate of its own CA, reached through a pinned name. The origin
// answers with what it received, so every test sees both sides.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { githubFormat } from '../../src/core/checksum.js';
import type { BusEvent, EventType } from '../../src/core/events.js';
import type { EgressSettings } from '../../src/core/settings.js';
import { startEgress, type EgressComponent } from '../../src/egress/component.js';
import { Redactor } from '../../src/redact/engine.js';
import { ChunkRedactor } from '../../src/redact/stream.js';
import { silentLog } from '../support/identity.js';
import { selfSignedCert } from '../support/tls.js';
import { tempDir } from '../support/tmp.js';
import { until } from '../support/wait.js';

const run = promisify(execFile);
const TOKEN = 'inspect-test-token';
const SECRET = `sk-ant-api03-${randomBytes(30).toString('base64url')}AA`;
const HOST = 'api.inspected.test';
const OTHER = 'plain.tunnel.test';
/** Inspected, and pinned to the origin, whose certificate does not name it. */
const WRONG = 'wrong.inspected.test';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const randomAlnum = (n: number): string => Array.from(randomBytes(n), (b) => ALNUM[b % 62]).join('');

interface Got {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  complete: boolean;
}

describe('egress inspection: interception, injection, outbound DLP', () => {
  const dir = tempDir('rampart-inspect-');
  const events: BusEvent<EventType>[] = [];
  const got: Got[] = [];
  let origin: Server;
  let egress: EgressComponent;
  let proxy = '';
  let port = 0;
  let originCert = '';
  let deny: ((method: string, path: string) => string | undefined) | undefined;
  let credentialAsked = 0;

  before(async () => {
    const tls = selfSignedCert(dir.dir, HOST);
    originCert = tls.cert;
    origin = createServer({ key: readFileSync(tls.key), cert: readFileSync(tls.cert) }, (req, res) => {
      const parts: Buffer[] = [];
      const entry: Got = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: Buffer.alloc(0),
        complete: false,
      };
      got.push(entry);
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        entry.body = Buffer.concat(parts);
        entry.complete = true;
        // An origin that echoes what it got, credentials included, in a header and the body.
        res.setHeader('x-echo-key', String(req.headers['x-api-key'] ?? ''));
        res.end(JSON.stringify({ headers: req.headers, bytes: entry.body.length }));
      });
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.2', r));
    port = (origin.address() as AddressInfo).port;
    const settings: EgressSettings = {
      enabled: true,
      listen: { host: '127.0.0.1', port: 0 },
      mode: 'enforce',
      askPolicy: true,
      lists: [],
      allow: [`${HOST}:${port}`, `${OTHER}:${port}`, `${WRONG}:${port}`],
      deny: [],
      allowRanges: ['127.0.0.2/32'],
      maxConnectionsPerAgent: 64,
      connectTimeoutMs: 5_000,
      idleTimeoutMs: 30_000,
      inspect: [WRONG],
      inject: [
        {
          source: 'egress.inject[0]',
          host: HOST,
          pathPrefix: '/v1/',
          header: 'x-api-key',
          scheme: 'raw',
          strip: ['authorization'],
          vault: 'providers',
          name: 'anthropic',
        },
      ],
      inspectMaxBody: 8 << 20,
      originCaFile: tls.cert,
      hosts: { [HOST]: '127.0.0.2', [OTHER]: '127.0.0.2', [WRONG]: '127.0.0.2' },
    };
    const redactor = new Redactor();
    egress = await startEgress({
      settings,
      dataDir: dir.dir,
      events: { publish: async (e) => void events.push(e) },
      log: silentLog,
      verify: (t) => (t === TOKEN ? { claims: { sub: 'coder', run: 'run-1' } as never } : 'unknown token'),
      rateLimit: () => 0,
      decide: async () => ({ allow: true, reason: 'test' }),
      decideRequest: async (_c, _h, method, path) => {
        const why = deny?.(method, path);
        return why ? { allow: false, reason: why } : { allow: true, reason: 'test' };
      },
      scanner: { find: (t) => redactor.find(t), stream: (on) => new ChunkRedactor(redactor, on, false) },
      credential: async (caller, secret) => {
        credentialAsked++;
        assert.equal(caller.agent, 'coder');
        assert.deepEqual(secret, { vault: 'providers', name: 'anthropic' });
        return { value: Buffer.from(`${SECRET}\n`), fingerprint: 'fp-test' };
      },
    });
    proxy = await egress.listen();
  });

  after(async () => {
    await egress?.stop();
    origin?.close();
    dir.cleanup();
  });

  const caFile = (): string => join(dir.dir, 'egress', 'ca', 'ca.crt');

  /** curl through the proxy; the token in a config file, never on the command line. */
  async function curl(
    url: string,
    opts: { ca?: string; headers?: string[]; data?: string; method?: string; proxyToken?: string } = {},
  ): Promise<{ code: string; body: string; headers: string; stderr: string }> {
    const cfg = join(dir.dir, `curl-${randomBytes(4).toString('hex')}.cfg`);
    writeFileSync(cfg, `proxy-header = "Proxy-Authorization: Bearer ${opts.proxyToken ?? TOKEN}"\n`, {
      mode: 0o600,
    });
    const args = [
      '-sS',
      '-K',
      cfg,
      '-x',
      proxy,
      '--cacert',
      opts.ca ?? caFile(),
      '-D',
      '-',
      '-w',
      '\n%{http_code}',
    ];
    for (const h of opts.headers ?? []) args.push('-H', h);
    if (opts.method) args.push('-X', opts.method);
    if (opts.data !== undefined) args.push('--data-binary', opts.data);
    const r = await run('curl', [...args, url], { maxBuffer: 64 << 20 }).catch(
      (e: { stdout: string; stderr: string }) => ({ stdout: e.stdout, stderr: e.stderr }),
    );
    const i = r.stdout.lastIndexOf('\n');
    let all = r.stdout.slice(0, i);
    // -D - writes every head: the proxy's answer to CONNECT, a 100 Continue, then the origin's.
    let head = '';
    for (;;) {
      const split = all.indexOf('\r\n\r\n');
      if (split < 0) break;
      head = all.slice(0, split);
      all = all.slice(split + 4);
      if (!/^HTTP\/1\.1 (200 Connection Established|100 )/.test(head)) break;
    }
    return { code: r.stdout.slice(i + 1), headers: head, body: all, stderr: r.stderr };
  }

  const requests = () =>
    events.filter((e) => e.type === 'egress.request').map((e) => e.data as Record<string, unknown>);

  it('keeps the CA key to its owner and the certificate readable', () => {
    assert.equal(statSync(join(dir.dir, 'egress', 'ca', 'ca.key')).mode & 0o777, 0o600);
    assert.match(readFileSync(caFile(), 'utf8'), /BEGIN CERTIFICATE/);
  });

  it("sets the credential, drops the agent's placeholder, and masks the origin's echo of it", async () => {
    const r = await curl(`https://${HOST}:${port}/v1/messages`, {
      headers: [
        'x-api-key: placeholder',
        'authorization: Bearer placeholder',
        'content-type: application/json',
      ],
      data: '{"model":"claude","messages":[]}',
    });
    assert.equal(r.code, '200', r.stderr);
    const seen = got.at(-1)!;
    assert.equal(seen.headers['x-api-key'], SECRET);
    assert.equal(seen.headers['authorization'], undefined, 'the placeholder in Authorization is dropped too');
    assert.equal(seen.body.toString(), '{"model":"claude","messages":[]}');
    // The origin echoed the key in a header and in its body: neither reaches the agent.
    assert.ok(!r.body.includes(SECRET) && !r.headers.includes(SECRET), r.headers + r.body);
    assert.match(r.headers, /x-echo-key: \*{20,}/i);
    await until(() => requests().length > 0, 'the request on record');
    const rec = requests().at(-1)!;
    assert.deepEqual(rec['injected'], {
      secret: 'providers/anthropic',
      fingerprint: 'fp-test',
      source: 'egress.inject[0]',
    });
    assert.equal(rec['decision'], 'allow');
    assert.ok(!JSON.stringify(events).includes(SECRET), 'the value is in no record');
  });

  it('adds nothing outside the rule’s path prefix, and asks secret.use once per run in its window', async () => {
    const before = credentialAsked;
    const r = await curl(`https://${HOST}:${port}/status`, { headers: ['x-api-key: mine'] });
    assert.equal(r.code, '200', r.stderr);
    assert.equal(got.at(-1)!.headers['x-api-key'], 'mine');
    await curl(`https://${HOST}:${port}/v1/again`);
    assert.equal(credentialAsked, before, 'the credential of the first request is reused');
  });

  it('blocks a known credential in the body before any of its bytes leave, however the body is cut', async () => {
    const token = githubFormat('ghp_', randomAlnum(30));
    // 1 MiB on one line before it: the proxy must hold the line, not forward its first part.
    const body = 'x'.repeat(1 << 20) + ` token=${token} ` + 'y'.repeat(1000);
    const file = join(dir.dir, 'body.txt');
    writeFileSync(file, body);
    const n = got.length;
    const r = await curl(`https://${HOST}:${port}/v1/upload`, { data: `@${file}` });
    assert.equal(r.code, '403', r.body);
    assert.match(r.body, /blocked: github-pat-classic in body at byte \d+/);
    for (const g of got.slice(n)) {
      assert.ok(!g.body.includes(token), 'no byte of the token reached the origin');
      assert.equal(
        g.complete && g.body.length === Buffer.byteLength(body),
        false,
        'the origin never got the request whole',
      );
    }
    await until(
      () => requests().some((e) => e['status'] === 403 && e['path'] === '/v1/upload'),
      'the refusal on record',
    );
    const rec = requests().find((e) => e['path'] === '/v1/upload')!;
    assert.deepEqual(
      (rec['findings'] as { rule: string; where: string; action: string }[]).map((f) => [
        f.rule,
        f.where,
        f.action,
      ]),
      [['github-pat-classic', 'body', 'blocked']],
    );
    assert.ok(!JSON.stringify(rec).includes(token));
  });

  it('blocks a credential in a header or the path too', async () => {
    const token = githubFormat('ghp_', 'q8Zr2LmX0pW7kV4tB9nY3hJ6cF1sD5');
    const h = await curl(`https://${HOST}:${port}/status`, { headers: [`x-note: ${token}`] });
    assert.equal(h.code, '403');
    assert.match(h.body, /blocked: github-pat-classic in header:x-note/);
    const p = await curl(`https://${HOST}:${port}/search?q=${token}`);
    assert.equal(p.code, '403');
    assert.match(p.body, /in path/);
  });

  it('blocks the injected credential itself when the agent sends it back out', async () => {
    const r = await curl(`https://${HOST}:${port}/status`, { data: `leak=${SECRET}` });
    assert.equal(r.code, '403');
    assert.match(r.body, /blocked: /);
  });

  it('records a guessed (generic) secret and lets the request through', async () => {
    const r = await curl(`https://${HOST}:${port}/status`, { data: 'password = "Zq8xR2mW9vLk4TpB"\n' });
    assert.equal(r.code, '200', r.body);
    await until(
      () => requests().some((e) => (e['findings'] as unknown[]).length > 0 && e['status'] === 200),
      'the finding on record',
    );
    const rec = requests().find((e) => (e['findings'] as unknown[]).length > 0 && e['status'] === 200)!;
    assert.equal((rec['findings'] as { action: string }[])[0]!.action, 'recorded');
  });

  it('asks egress.request with the method and path: GET may pass where POST does not', async () => {
    deny = (method, path) => (method === 'POST' && path.startsWith('/gists') ? 'no gists' : undefined);
    try {
      assert.equal((await curl(`https://${HOST}:${port}/gists/1`)).code, '200');
      const r = await curl(`https://${HOST}:${port}/gists`, { data: '{}' });
      assert.equal(r.code, '403');
      assert.match(r.body, /policy: no gists/);
    } finally {
      deny = undefined;
    }
  });

  it('refuses a body it cannot inspect where a credential is injected', async () => {
    const r = await curl(`https://${HOST}:${port}/v1/x`, {
      headers: ['content-encoding: zstd'],
      data: 'abc',
    });
    assert.equal(r.code, '415');
  });

  it('inspects a gzip body (decoded), and finds what the compression hid', async () => {
    const { gzipSync } = await import('node:zlib');
    const token = githubFormat('ghp_', 'T4kW9pL2xQ7mZ0vB5nR8cJ3hY6fD1s');
    const file = join(dir.dir, 'body.gz');
    writeFileSync(file, gzipSync(`hello ${token}\n`));
    const r = await curl(`https://${HOST}:${port}/v1/gz`, {
      headers: ['content-encoding: gzip'],
      data: `@${file}`,
    });
    assert.equal(r.code, '403');
  });

  it('refuses a request whose Host is not the host of its connection', async () => {
    const r = await curl(`https://${HOST}:${port}/status`, { headers: [`host: ${OTHER}`] });
    assert.equal(r.code, '421');
  });

  it('refuses a WebSocket upgrade to an inspected host, whose frames it cannot inspect', async () => {
    const r = await curl(`https://${HOST}:${port}/v1/responses`, {
      headers: [
        'connection: Upgrade',
        'upgrade: websocket',
        'sec-websocket-version: 13',
        'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==',
      ],
    });
    assert.equal(r.code, '403');
    assert.match(r.body, /WebSocket to an inspected host cannot be inspected/);
  });

  it('refuses plain HTTP to an inspected host', async () => {
    const r = await curl(`http://${HOST}:${port}/status`);
    assert.equal(r.code, '403');
  });

  it('leaves a host not marked inspect an opaque tunnel, and asks the CA nothing for it', async () => {
    const ca = (await (await fetchStatus()).json()) as { inspection: { leaves: { issued: number } } };
    const r = await curl(`https://${OTHER}:${port}/status`, { ca: originCert });
    // The origin's own certificate for HOST: curl sees it and refuses it for OTHER, so the
    // tunnel was not terminated (Rampart's leaf would have named OTHER).
    assert.match(r.stderr, /SSL: no alternative certificate subject name matches|certificate subject name/i);
    const after = (await (await fetchStatus()).json()) as { inspection: { leaves: { issued: number } } };
    assert.equal(after.inspection.leaves.issued, ca.inspection.leaves.issued);
  });

  it('refuses an origin whose certificate does not verify, never passing it through', async () => {
    const n = got.length;
    const r = await curl(`https://${WRONG}:${port}/status`);
    assert.equal(r.code, '502');
    assert.match(r.body, /certificate of wrong\.inspected\.test .* does not verify/);
    assert.equal(got.length, n, 'the origin got no request');
  });

  it("records a client that refuses the proxy's certificate (its trust store lacks the CA)", async () => {
    const n = events.filter((e) => e.type === 'egress.connection').length;
    const r = await curl(`https://${HOST}:${port}/status`, { ca: originCert });
    assert.notEqual(r.code, '200');
    await until(
      () => events.filter((e) => e.type === 'egress.connection').length > n,
      'the connection on record',
    );
    const rec = events.filter((e) => e.type === 'egress.connection').at(-1)!.data as Record<string, unknown>;
    assert.equal(rec['decision'], 'error');
    assert.match(String(rec['reason']), /refused the proxy's certificate .* trust store/);
  });

  it('rotates the CA: new leaves from the new key, the old certificate no longer trusted', async () => {
    const old = join(dir.dir, 'old-ca.crt');
    writeFileSync(old, readFileSync(caFile()));
    const rotate = egress.routes.find((r) => r.url === '/v1/egress/ca/rotate')!;
    const out = (await rotate.handler({ principal: { actor: 'ops' } } as never, {} as never)) as {
      fingerprint: string;
      previous: string;
    };
    assert.notEqual(out.fingerprint, out.previous);
    assert.notEqual(readFileSync(caFile(), 'utf8'), readFileSync(old, 'utf8'));
    assert.equal(
      (await curl(`https://${HOST}:${port}/status`)).code,
      '200',
      'the new certificate is trusted',
    );
    assert.notEqual((await curl(`https://${HOST}:${port}/status`, { ca: old })).code, '200');
    assert.ok(events.some((e) => e.type === 'egress.ca_rotated'));
  });

  /** What GET /v1/egress says (the component's own route, called as the server would). */
  async function fetchStatus(): Promise<{ json(): Promise<unknown> }> {
    const route = egress.routes.find((r) => r.method === 'GET' && r.url === '/v1/egress')!;
    const body = await route.handler({} as never, {} as never);
    return { json: async () => body };
  }
});

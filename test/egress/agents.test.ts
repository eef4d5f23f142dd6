// Egress that holds the keys, from inside real runs: `rampart up` with injection rules (two of
// them the shipped agent profiles), secrets in the broker, and runs under bubblewrap whose
// clients (curl, Node's fetch, Claude Code, Codex) reach "their" providers, pinned to a local TLS
// origin that records what arrives. The run trusts Rampart's CA with no flag, holds no key, and
// the origin gets the real one.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, ROOT, rampartAsync, startServer, type Server } from '../support/cli.js';
import { adminToken, api } from '../support/http.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import { selfSignedCert } from '../support/tls.js';

const KEYS = {
  anthropic: 'sk-ant-api03-Kq2vN8xL5mR1tW7zY4bC9dF3gH6jP0sAeUiOoQwErTyUiOpAsDfGhJkL-ab12cdAA',
  openai: 'sk-proj-Zt7Yq4Wm1Np8Lk5Jh2Gf9Dd6Ss3Aa0QwErTyUiOpZxCvBnMlKjHgFdSaPoIuYtRe',
  plain: 'plain-service-key-7c1e9a40d2b3f5e6',
};
const AGENTS = join(ROOT, 'test', 'agents', 'node_modules');
const agentsInstalled =
  existsSync(join(AGENTS, '.bin', 'claude')) && existsSync(join(AGENTS, '.bin', 'codex'));

interface Seen {
  host: string;
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

/** A streamed answer as the Messages API gives it. */
function anthropicStream(text: string): string {
  const ev = (type: string, data: object): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  return [
    ev('message_start', {
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 1, output_tokens: 1 },
      },
    }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text } }),
    ev('content_block_stop', { index: 0 }),
    ev('message_delta', {
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 5 },
    }),
    ev('message_stop', {}),
  ].join('');
}

describe('egress injection from inside real runs', { skip: sandboxSkip() }, () => {
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let server: Server;
  let origin: HttpsServer;
  let port = 0;
  const seen: Seen[] = [];

  before(async () => {
    cp = sandboxControlPlaneDir(
      `  profiles:\n    agents:\n      read_only: [${AGENTS}]\nrespond:\n  enabled: false\n`,
    );
    const tls = selfSignedCert(
      cp.dir.dir,
      'api.anthropic.com',
      'api.openai.com',
      'api.inspected.test',
      'api.github.com',
    );
    origin = createServer({ key: readFileSync(tls.key), cert: readFileSync(tls.cert) }, (req, res) => {
      seen.push({ host: String(req.headers.host), method: req.method!, url: req.url!, headers: req.headers });
      req.resume();
      req.on('end', () => {
        if (req.url!.startsWith('/v1/messages')) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end(anthropicStream('rampart-origin-says-hi'));
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: true, path: req.url }));
        }
      });
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.2', r));
    port = (origin.address() as AddressInfo).port;
    const names = ['api.anthropic.com', 'api.openai.com', 'api.inspected.test', 'api.github.com'];
    writeFileSync(
      join(cp.dir.dir, 'rampart.yaml'),
      [
        'egress:',
        `  allow: [${names.map((n) => `'${n}:${port}'`).join(', ')}]`,
        "  allow_ranges: ['127.0.0.2/32']",
        `  origin_ca_file: ${tls.cert}`,
        '  inspect: [api.github.com]',
        `  hosts: {${names.map((n) => `'${n}': 127.0.0.2`).join(', ')}}`,
        '  inject:',
        "    - {profile: claude-code, secret: 'vault:providers/anthropic'}",
        "    - {profile: codex, secret: 'vault:providers/openai'}",
        "    - {host: api.inspected.test, path: /api/, scheme: bearer, secret: 'vault:providers/plain'}",
        '',
      ].join('\n'),
      { flag: 'a' },
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
    for (const [name, value] of Object.entries(KEYS)) {
      const f = join(cp.dir.dir, `key-${name}`);
      writeFileSync(f, `${value}\n`, { mode: 0o600 });
      const put = await rampartAsync(['secret', 'put', `providers/${name}`, f], { cwd: cp.dir.dir });
      assert.equal(put.code, 0, put.stderr);
      rmSync(f);
    }
    const admin = api(server.url, adminToken(cp.dir.dir));
    const r = await admin('PUT', '/v1/entities/agent/coder', {
      attributes: { capabilities: ['vault:providers:use'] },
      parents: [],
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
  });

  after(async () => {
    spawnSync(process.execPath, [BIN, 'destroy', '--all'], { cwd: cp.dir.dir, timeout: 20_000 });
    await server?.stop();
    origin?.close();
    cp?.cleanup();
  });

  const inRun = (script: string, agent = 'coder') =>
    rampartAsync(['run', '--profile', 'agents', '--agent', agent, '--', 'sh', '-c', script], {
      cwd: cp.dir.dir,
      timeoutMs: 120_000,
    });

  it('curl and Node reach an inspected host with no CA flag, and the origin gets the key the run never held', async () => {
    const n = seen.length;
    const script = [
      'set -u',
      `curl -sS -H 'authorization: Bearer placeholder' https://api.inspected.test:${port}/api/v1 || exit 10`,
      'echo',
      `node -e "fetch('https://api.inspected.test:${port}/api/node').then(r => r.text()).then(t => console.log('node', t)).catch(e => { console.error(e.cause ?? e); process.exit(11) })" || exit 11`,
      // The run holds no key: not in its environment, its files, or its home.
      // (Each key's first characters, base64 on the command line: the command is on record.)
      ...Object.values(KEYS).map(
        (k, i) =>
          `grep -rqs "$(echo ${Buffer.from(k.slice(0, 24)).toString('base64')} | base64 -d)" /run /workspace "$HOME" /proc/self/environ && exit ${20 + i}`,
      ),
      'env | grep -E "^(SSL_CERT_FILE|NODE_EXTRA_CA_CERTS|REQUESTS_CA_BUNDLE|GIT_SSL_CAINFO)=" | sort',
      'grep -c "BEGIN CERTIFICATE" /etc/ssl/certs/ca-certificates.crt > /dev/null || exit 30',
      'exit 0',
    ].join('\n');
    const r = await inRun(script);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /"path":"\/api\/v1"/);
    assert.match(r.stdout, /^node .*"path":"\/api\/node"/m);
    assert.match(r.stdout, /^SSL_CERT_FILE=\/run\/rampart\/egress\/ca-bundle\.pem$/m);
    assert.match(r.stdout, /^NODE_EXTRA_CA_CERTS=\/run\/rampart\/egress\/ca\.pem$/m);
    const got = seen.slice(n).filter((s) => s.url.startsWith('/api/'));
    assert.equal(got.length, 2);
    for (const s of got) assert.equal(s.headers['authorization'], `Bearer ${KEYS.plain}`);
  });

  it('puts every injection on record with the fingerprint, and no key anywhere in the audit log', async () => {
    const admin = api(server.url, adminToken(cp.dir.dir));
    const records = (
      (await admin('GET', '/v1/audit/records?limit=1000')).json as {
        records: { action: string; details: Record<string, unknown> }[];
      }
    ).records;
    const text = JSON.stringify(records);
    // Whole keys (the runs' own greps for their first characters are on record, as they should be).
    for (const k of Object.values(KEYS)) {
      const at = text.indexOf(k);
      assert.equal(at, -1, `a key is in the audit log: ${text.slice(Math.max(0, at - 300), at + 100)}`);
    }
    const injected = records.filter(
      (r) => r.action === 'event.egress.request' && JSON.stringify(r.details).includes('providers/plain'),
    );
    assert.ok(injected.length >= 2, text.slice(0, 2000));
    assert.match(JSON.stringify(injected[0]!.details), /"fingerprint":"[^"]{16,}"/);
  });

  it("refuses GitHub's REST writes that bypass the git gate, with the shipped policy, and lets reads through", async () => {
    const n = seen.length;
    const script = [
      `curl -sS -o /dev/null -w 'read=%{http_code}\\n' https://api.github.com:${port}/repos/acme/app/contents/README.md`,
      `curl -sS -X PUT -d '{}' -w '\\nwrite=%{http_code}\\n' https://api.github.com:${port}/repos/acme/app/contents/.github/workflows/ci.yml`,
    ].join('\n');
    const r = await inRun(script);
    assert.match(r.stdout, /^read=200$/m, r.stdout + r.stderr);
    assert.match(r.stdout, /^write=403$/m, r.stdout);
    assert.match(r.stdout, /writes to a repository without the git gate/);
    const got = seen.slice(n).filter((x) => x.host.startsWith('api.github.com'));
    assert.deepEqual(
      got.map((x) => x.method),
      ['GET'],
      'the write never reached the origin',
    );
  });

  it('injects nothing for an agent policy does not let use the secret', async () => {
    const n = seen.length;
    const r = await inRun(
      `curl -sS -o /dev/null -w '%{http_code}' https://api.inspected.test:${port}/api/x`,
      'stranger',
    );
    assert.equal(r.stdout.trim(), '403', r.stderr);
    assert.equal(seen.length, n, 'nothing reached the origin');
  });

  for (const [name, bin, script, host, check] of [
    [
      'Claude Code',
      'claude',
      () =>
        `ANTHROPIC_BASE_URL=https://api.anthropic.com:${port} DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 ${AGENTS}/.bin/claude -p 'say hi' --max-turns 1`,
      'api.anthropic.com',
      (s: Seen) => {
        assert.equal(s.headers['x-api-key'], KEYS.anthropic);
        assert.equal(s.headers['authorization'], undefined, 'the placeholder bearer is dropped');
      },
    ],
    [
      'Codex',
      'codex',
      () =>
        `timeout 25 ${AGENTS}/.bin/codex exec -c 'openai_base_url="https://api.openai.com:${port}/v1"' --skip-git-repo-check 'say hi' < /dev/null`,
      'api.openai.com',
      (s: Seen) => assert.equal(s.headers['authorization'], `Bearer ${KEYS.openai}`),
    ],
  ] as const) {
    it(
      `${name} starts inside a run with a placeholder, and its provider gets the real key`,
      {
        skip: agentsInstalled ? false : 'agents not installed (npm ci --prefix test/agents)',
      },
      async () => {
        void bin;
        const n = seen.length;
        const r = await inRun(
          `${script()} > /workspace/out.txt 2>&1; echo "exit=$?"; cat /workspace/out.txt | head -c 4000`,
        );
        const calls = seen.slice(n).filter((s) => s.host.startsWith(host));
        if (calls.length === 0) {
          const admin = api(server.url, adminToken(cp.dir.dir));
          const records = (
            (await admin('GET', '/v1/audit/records?limit=1000')).json as {
              records: { action: string; details: unknown }[];
            }
          ).records;
          const egress = records.filter((x) => JSON.stringify(x).includes('egress.')).slice(-6);
          assert.fail(
            `${name} did not reach its provider: ${r.stdout}${r.stderr}\n${JSON.stringify(egress, null, 1)}`,
          );
        }
        for (const s of calls) check(s);
      },
    );
  }

  it('rampart egress ca shows and rotates the CA; a run started afterwards trusts the new one', async () => {
    const show = await rampartAsync(['egress', 'ca'], { cwd: cp.dir.dir });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^-----BEGIN CERTIFICATE-----/);
    const before = /sha256 ([0-9a-f]{64})/.exec(show.stderr)![1];
    const rotated = await rampartAsync(['egress', 'ca', 'rotate'], { cwd: cp.dir.dir });
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stderr, new RegExp(`replaces ${before}`));
    assert.notEqual(rotated.stdout, show.stdout);
    const r = await inRun(`curl -sS https://api.inspected.test:${port}/api/after-rotation`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /after-rotation/);
    const bad = await rampartAsync(['egress', 'ca', 'renew'], { cwd: cp.dir.dir });
    assert.equal(bad.code, 2);
  });
});

// The egress proxy as `rampart up` runs it: callers named by real workload tokens, connections in
// the audit log and /metrics, bans and the kill switch over the API, and the policy decision
// point consulted for hosts no configured rule allows.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer, type Server } from '../support/cli.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { curlViaProxy } from '../support/curl.js';
import { tempDir, type TempDir } from '../support/tmp.js';
import { eventually } from '../support/wait.js';

describe('egress proxy in the control plane', () => {
  let dir: TempDir;
  let origin: HttpServer;
  let originPort = 0;
  let server: Server | undefined;
  let admin: Api;
  let proxyUrl = '';

  before(async () => {
    dir = tempDir();
    origin = createServer((req, res) => res.end(`hello from ${req.url}`));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.2', r));
    originPort = (origin.address() as AddressInfo).port;
    writeFileSync(
      join(dir.dir, 'rampart.yaml'),
      `egress:\n  allow_ranges: [127.0.0.2/32]\n  allow: ['127.0.0.2:${originPort}']\n  deny: ['127.0.0.3']\n`,
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
    admin = api(server.url, adminToken(dir.dir));
    proxyUrl = (
      JSON.parse(readFileSync(join(dir.dir, '.rampart', 'control-plane.json'), 'utf8')) as { egress: string }
    ).egress;
  });
  after(async () => {
    origin.close();
    await server?.stop();
    dir.cleanup();
  });

  const token = async (agent: string): Promise<string> =>
    ((await admin('POST', '/v1/tokens', { agent, namespace: 'ci' })).json as { token: string }).token;

  const curl = (url: string, tok: string | null): Promise<{ code: string; body: string }> =>
    curlViaProxy(proxyUrl, url, tok, dir.dir);

  const events = async (): Promise<Json[]> =>
    ((await admin('GET', '/v1/audit/records?limit=1000')).json as { records: Json[] }).records.filter(
      (r: Json) => r.action === 'event.egress.connection',
    );

  it('lets a caller with a valid workload token through to an allowed host, and records it', async () => {
    const r = await curl(`http://127.0.0.2:${originPort}/x`, await token('fetcher'));
    assert.equal(r.code, '200');
    assert.equal(r.body, 'hello from /x');
    const rec = await eventually(
      async () => (await events()).find((e) => e.details.data.agent === 'fetcher'),
      'the connection record',
    );
    assert.equal(rec.details.data.decision, 'allow');
    assert.equal(rec.details.data.address, '127.0.0.2');
    const metrics = await (
      await fetch(`${server!.url}/metrics`, { headers: { authorization: `Bearer ${adminToken(dir.dir)}` } })
    ).text();
    assert.match(metrics, /rampart_egress_connections_by_agent_total\{agent="fetcher"\} 1/);
  });

  it('refuses a missing, forged or revoked token', async () => {
    assert.equal((await curl(`http://127.0.0.2:${originPort}/`, null)).code, '407');
    assert.equal((await curl(`http://127.0.0.2:${originPort}/`, 'eyJhbGciOiJub25lIn0.e30.')).code, '407');
    const t = await token('revoked-agent');
    await admin('POST', '/v1/tokens/revocations', { kind: 'agent', value: 'revoked-agent' });
    assert.equal((await curl(`http://127.0.0.2:${originPort}/`, t)).code, '407');
  });

  it('asks policy about hosts no rule allows: the shipped policy denies an agent without an egress list', async () => {
    const r = await curl('http://example.com/', await token('no-list'));
    assert.equal(r.code, '403');
    assert.match(r.body, /policy: /);
  });

  it('bans and the kill switch work over the API', async () => {
    const t = await token('fetcher');
    assert.equal((await admin('POST', '/v1/egress/bans', { target: '127.0.0.2' })).status, 200);
    assert.equal((await curl(`http://127.0.0.2:${originPort}/`, t)).code, '403');
    assert.equal((await admin('POST', '/v1/egress/bans/remove', { target: '127.0.0.2' })).status, 200);
    assert.equal((await curl(`http://127.0.0.2:${originPort}/`, t)).code, '200');
    assert.equal((await admin('POST', '/v1/egress/kill-switch', { on: true })).status, 200);
    assert.equal((await curl(`http://127.0.0.2:${originPort}/`, t)).code, '503');
    const health = (await admin('GET', '/v1/health')).json;
    assert.equal(health.components.egress.status, 'degraded');
    assert.equal((await admin('POST', '/v1/egress/kill-switch', { on: false })).status, 200);
    assert.equal((await curl(`http://127.0.0.2:${originPort}/`, t)).code, '200');
    const status = (await admin('GET', '/v1/egress')).json;
    assert.equal(status.kill_switch, false);
  });
});

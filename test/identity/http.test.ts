// Workload tokens through the real control plane: issued and audited (never the token itself),
// accepted only on agent routes, refused with a coded 401 and an audit record naming the reason,
// rate-limited with 429 and Retry-After, revocable, and verifiable by a standard client (jose)
// from /.well-known/jwks.json.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startServer, type Server } from '../support/cli.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { tempDir } from '../support/tmp.js';
import { eventually } from '../support/wait.js';

describe('workload tokens over HTTP', () => {
  const t = tempDir();
  let server: Server;
  let admin: Api;

  before(async () => {
    writeFileSync(
      join(t.dir, 'rampart.yaml'),
      'identity:\n  rate_limits:\n    api:\n      per_agent: { rate: 2, burst: 4 }\n  rate_limit_event:\n    rejections: 3\n',
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: t.dir });
    admin = api(server.url, adminToken(t.dir));
  });
  after(async () => {
    await server.stop();
    t.cleanup();
  });

  const issue = async (body: Record<string, unknown>): Promise<Json> => {
    const r = await admin('POST', '/v1/tokens', body);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json;
  };
  const records = async (): Promise<Json[]> =>
    (await admin('GET', '/v1/audit/records?limit=1000')).json.records as Json[];

  it('issues a token on record (its jti and fingerprint, never the token), for an agent route only', async () => {
    const issued = await issue({
      agent: 'builder',
      namespace: 'ci',
      capabilities: ['git.push'],
      ttl_seconds: 300,
    });
    assert.equal(issued.namespace, 'ci');
    const agent = api(server.url, issued.token);
    const me = await agent('GET', '/v1/whoami');
    assert.equal(me.status, 200);
    assert.equal(me.json.agent, 'builder');
    assert.deepEqual(me.json.capabilities, ['git.push']);
    // An agent reaches only agent routes; the admin has no workload identity.
    assert.equal((await agent('GET', '/v1/audit/records')).status, 403);
    assert.equal((await agent('POST', '/v1/decide', {})).status, 403);
    assert.equal((await admin('GET', '/v1/whoami')).status, 403);
    const all = await records();
    const rec = all.find((r) => r.action === 'token.issue' && r.details.jti === issued.jti);
    assert.ok(rec, 'the issue is on record');
    assert.match(rec.details.fingerprint, /^hmac-sha256:/);
    assert.ok(!JSON.stringify(all).includes(issued.token.split('.')[2]), 'the token is not in the audit log');
  });

  it('takes the namespace from the agent entity when not given', async () => {
    assert.equal(
      (await admin('PUT', '/v1/entities/agent/indexer', { attributes: { namespace: 'search' } })).status,
      200,
    );
    assert.equal((await issue({ agent: 'indexer' })).namespace, 'search');
    const unknown = await admin('POST', '/v1/tokens', { agent: 'stranger' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.error.code, 'RAMPART_E_TOKEN_REQUEST_INVALID');
    const long = await admin('POST', '/v1/tokens', { agent: 'x', namespace: 'ci', ttl_seconds: 3600 });
    assert.equal(long.status, 400);
  });

  it('refuses a bad token with 401 RAMPART_E_TOKEN_INVALID and audits why, without the token', async () => {
    const issued = await issue({ agent: 'builder', namespace: 'ci' });
    const [h, p] = issued.token.split('.');
    const forged = `${h}.${p}.${'A'.repeat(86)}`;
    const r = await api(server.url, forged)('GET', '/v1/whoami');
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 'RAMPART_E_TOKEN_INVALID');
    assert.match(r.json.error.message, /signature does not verify/);
    const rec = await eventually(
      async () =>
        (await records()).find(
          (x) => x.action === 'event.auth.rejected' && x.details.data.kind === 'bad_signature',
        ),
      'the rejection record',
    );
    assert.equal(rec.outcome, 'denied');
    assert.equal(rec.details.data.jti, issued.jti);
    assert.match(rec.details.data.fingerprint, /^hmac-sha256:/);
    assert.ok(!JSON.stringify(rec).includes(forged.slice(-40)));
  });

  it('refreshes a token once: the new one works, the old one is spent', async () => {
    const issued = await issue({ agent: 'refresher', namespace: 'ci' });
    const r = await api(server.url, issued.token)('POST', '/v1/tokens/refresh');
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.run, issued.run);
    assert.equal((await api(server.url, r.json.token)('GET', '/v1/whoami')).status, 200);
    const again = await api(server.url, issued.token)('POST', '/v1/tokens/refresh');
    assert.equal(again.status, 401);
    assert.match(again.json.error.message, /revoked/);
  });

  it('rate-limits an agent with 429 and Retry-After, and reports it as an event', async () => {
    const token = (await issue({ agent: 'chatty', namespace: 'ci' })).token as string;
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    // Burst 4, then 2 a second: ten requests at once cannot all pass.
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${server.url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter = res.headers.get('retry-after');
        assert.equal(((await res.json()) as Json).error.code, 'RAMPART_E_RATE_LIMITED');
      } else await res.text();
    }
    assert.deepEqual(statuses.slice(0, 4), [200, 200, 200, 200]);
    assert.ok(statuses.filter((s) => s === 429).length >= 3, statuses.join());
    assert.ok(retryAfter !== null && Number(retryAfter) >= 1, `Retry-After ${retryAfter}`);
    const ev = await eventually(
      async () =>
        (await records()).find(
          (x) => x.action === 'event.identity.rate_limited' && x.details.data.agent === 'chatty',
        ),
      'the rate_limited event',
    );
    assert.equal(ev.details.data.class, 'api');
  });

  it('revokes through the API, at once', async () => {
    const issued = await issue({ agent: 'victim', namespace: 'ci' });
    const agent = api(server.url, issued.token);
    assert.equal((await agent('GET', '/v1/whoami')).status, 200);
    const rv = await admin('POST', '/v1/tokens/revocations', {
      kind: 'run',
      value: issued.run,
      reason: 'compromised',
    });
    assert.equal(rv.status, 200);
    const after = await agent('GET', '/v1/whoami');
    assert.equal(after.status, 401);
    assert.match(after.json.error.message, /tokens of run .* are revoked/);
    assert.equal((await admin('POST', '/v1/tokens/revocations', { kind: 'all', value: 'x' })).status, 400);
    assert.equal((await admin('POST', '/v1/tokens/revocations', { kind: 'agent' })).status, 400);
  });

  it('publishes its keys so a standard JWT library verifies its tokens', async () => {
    const issued = await issue({ agent: 'interop', namespace: 'ci' });
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(issued.token, jwks, {
      issuer: 'rampart',
      audience: 'rampart',
      typ: 'rampart+jwt',
      algorithms: ['ES256'],
      requiredClaims: ['exp', 'iat', 'nbf', 'jti'],
    });
    assert.equal(payload.sub, 'interop');
    assert.equal(protectedHeader.alg, 'ES256');
  });
});

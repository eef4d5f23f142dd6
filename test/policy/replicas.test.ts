// Several control planes: entity changes reach every replica sharing PostgreSQL; an external OPA
// (here another Rampart, which serves OPA's Data API) decides while it answers, and the built-in
// engine takes over, audibly, when it does not.

import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startServer, type Server } from '../support/cli.js';
import { skipPg } from '../support/pg.js';
import { withReplicas } from '../support/replicas.js';
import { adminToken, api, type Json } from '../support/http.js';
import { tempDir } from '../support/tmp.js';
import { until } from '../support/wait.js';

describe('policy across replicas', { skip: skipPg }, () => {
  it('an entity written on one replica changes decisions on the other within moments', async () => {
    await withReplicas(async (ra, rb) => {
      const callA = ra.admin;
      const callB = rb.admin;
      assert.equal(
        (await callA('PUT', '/v1/entities/agent/analyst', { attributes: { namespace: 'research' } })).status,
        200,
      );
      const ask = async (): Promise<Json> =>
        (
          await callB('POST', '/v1/decide', {
            principal: { type: 'agent', id: 'analyst' },
            action: 'namespace.read',
            resource: { type: 'namespace', id: 'ci' },
          })
        ).json;
      // B learns of the entity and decides (deny), then caches it.
      let d = await ask();
      for (let i = 0; i < 50 && d.source !== 'cache'; i++) d = await ask();
      assert.equal(d.allow, false);
      assert.equal(d.source, 'cache');
      const t0 = performance.now();
      assert.equal(
        (await callA('PUT', '/v1/entities/agent/analyst', { attributes: { namespace: 'ci' } })).status,
        200,
      );
      await until(async () => (d = await ask()).allow, 'replica B to allow', 5000);
      const ms = performance.now() - t0;
      assert.equal(d.allow, true, 'replica B saw the change');
      assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
    });
  });
});

describe('external OPA with built-in fallback', () => {
  it('decides by OPA while it answers, by the built-in engine (deny) when it does not, and switches back', async () => {
    const opaDir = tempDir();
    const cp = tempDir();
    mkdirSync(join(opaDir.dir, 'policies'));
    writeFileSync(
      join(opaDir.dir, 'policies', 'p.yaml'),
      'apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: opa\nrules:\n  - name: opa-allows-tasks\n    effect: allow\n    actions: [task.run]\n    when: "true"\n    reason: OPA says yes\n',
    );
    writeFileSync(join(opaDir.dir, 'rampart.yaml'), 'policy:\n  dir: policies\n');
    let opa: Server | undefined = await startServer(['--listen', '127.0.0.1:0'], { cwd: opaDir.dir });
    const port = new URL(opa.url).port;
    copyFileSync(join(opaDir.dir, '.rampart', 'admin.token'), join(cp.dir, 'opa.token'));
    chmodSync(join(cp.dir, 'opa.token'), 0o600);
    writeFileSync(
      join(cp.dir, 'rampart.yaml'),
      `policy:\n  opa:\n    url: ${opa.url}\n    timeout: 300ms\n    retry_interval: 100ms\n    token_file: opa.token\n`,
    );
    let server: Server | undefined;
    try {
      server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir });
      const call = api(server.url, adminToken(cp.dir));
      const post = async (path: string, body: unknown): Promise<Json> =>
        (await call('POST', path, body)).json;
      const get = async (path: string): Promise<Json> => (await call('GET', path)).json;
      const input = {
        principal: { type: 'agent', id: 'someone' },
        action: 'task.run',
        resource: { type: 'task', id: 'x' },
      };
      const viaOpa = await post('/v1/decide', input);
      assert.equal(viaOpa.source, 'opa');
      assert.equal(viaOpa.allow, true);
      assert.deepEqual(viaOpa.reasons, ['OPA says yes']);

      await opa.stop();
      opa = undefined;
      const fallback = await post('/v1/decide', input);
      assert.equal(fallback.source, 'engine');
      assert.equal(fallback.allow, false, 'never allow by default');
      assert.deepEqual(fallback.reasons, ['no rule allows']);
      const h = await get('/v1/health');
      assert.equal(h.components.policy.status, 'degraded');
      assert.match(h.components.policy.detail, /external OPA .* unavailable/);

      opa = await startServer(['--listen', `127.0.0.1:${port}`], { cwd: opaDir.dir });
      await until(
        async () => ((await post('/v1/decide', input)) as { source: string }).source === 'opa',
        'decisions from OPA again',
      );
      assert.equal((await get('/v1/health')).components.policy.status, 'ok');
      const records = (await get('/v1/audit/records?limit=200')).records as { action: string }[];
      assert.ok(records.some((r) => r.action === 'event.policy.opa_unavailable'));
      assert.ok(records.some((r) => r.action === 'event.policy.opa_recovered'));
    } finally {
      await server?.stop();
      await opa?.stop();
      opaDir.cleanup();
      cp.cleanup();
    }
  });
});

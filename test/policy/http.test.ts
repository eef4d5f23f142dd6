// The policy decision point over HTTP, with real clients: fetch for the native API and the
// official OPA TypeScript SDK (@open-policy-agent/opa) for the OPA-compatible Data API.

import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OPAClient } from '@open-policy-agent/opa';
import { ROOT, rampart, startServer, type Server } from '../support/cli.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { tempDir } from '../support/tmp.js';
import { eventually, until } from '../support/wait.js';

const entities = [
  ['team', 'platform', { attributes: { capabilities: ['vault:ci:read'] } }],
  [
    'agent',
    'ci-bot',
    {
      attributes: { namespace: 'ci', capabilities: ['git.push'], egress_hosts: ['*.github.com'] },
      parents: ['team:platform'],
    },
  ],
  ['agent', 'analyst', { attributes: { namespace: 'research' } }],
  ['secret', 'npm-token', { attributes: { namespace: 'ci' }, parents: ['vault:ci'] }],
] as const;

describe('policy over HTTP', () => {
  const t = tempDir();
  let server: Server;
  let call: Api;
  let token: string;

  before(async () => {
    cpSync(join(ROOT, 'policies', 'default'), join(t.dir, 'policies'), { recursive: true });
    writeFileSync(join(t.dir, 'rampart.yaml'), 'policy:\n  dir: policies\nserver:\n  body_limit: 64k\n');
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: t.dir });
    token = adminToken(t.dir);
    call = api(server.url, token);
    for (const [type, id, body] of entities)
      assert.equal((await call('PUT', `/v1/entities/${type}/${id}`, body)).status, 200);
  });
  after(async () => {
    await server.stop();
    t.cleanup();
  });

  it('decides natively: allow with the deciding rule, reason and policy version', async () => {
    const r = await call('POST', '/v1/decide', {
      principal: { type: 'agent', id: 'ci-bot' },
      action: 'secret.read',
      resource: { type: 'secret', id: 'npm-token' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.json.allow, true);
    assert.equal(r.json.rule, 'secret-vault-granted');
    assert.match(r.json.policy_version, /^p-[0-9a-f]{16}$/);
    const policies = await call('GET', '/v1/policies');
    assert.equal(r.json.policy_version, policies.json.version);
  });

  it('serves the official OPA SDK unchanged: evaluate, evaluateDefault, evaluateBatch, health', async () => {
    const opa = new OPAClient(server.url, { headers: { authorization: `Bearer ${token}` } });
    const input = {
      principal: { type: 'agent', id: 'ci-bot' },
      action: 'egress.connect',
      resource: { type: 'host', id: 'api.github.com', port: 443 },
      context: {},
    };
    assert.equal(await opa.evaluate<typeof input, boolean>('rampart/allow', input), true);
    const full = await opa.evaluate<typeof input, { allow: boolean; rule: string; reasons: string[] }>(
      'rampart/decide',
      input,
    );
    assert.equal(full.allow, true);
    assert.equal(full.rule, 'egress-allowlisted-host');
    const denied = await opa.evaluate<typeof input, boolean>('rampart/allow', {
      ...input,
      resource: { type: 'host', id: 'evil.example', port: 443 },
    });
    assert.equal(denied, false);
    const def = await opa.evaluateDefault<typeof input, { allow: boolean }>(input);
    assert.equal(def.allow, true);
    const batch = await opa.evaluateBatch<typeof input, boolean>('rampart/allow', {
      a: input,
      b: { ...input, principal: { type: 'agent', id: 'analyst' } },
    });
    assert.deepEqual(batch, { a: true, b: false });
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
  });

  it('answers OPA clients with OPA error bodies, and refuses them without credentials', async () => {
    const bad = await call('POST', '/v1/data/rampart/allow', {
      input: { principal: 'nobody', action: 'task.run', resource: { type: 'task', id: 't' } },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'invalid_parameter');
    assert.match(bad.json.message, /RAMPART_E_BAD_REQUEST: input\.principal/);
    const anon = await call('POST', '/v1/data/rampart/allow', { input: {} }, 'wrong');
    assert.equal(anon.status, 401);
    assert.equal(anon.json.code, 'unauthorized');
    const undef = await call('POST', '/v1/data/some/other/doc', { input: {} });
    assert.equal(undef.status, 200);
    assert.equal(undef.json.result, undefined, 'an unknown document is undefined, never a default allow');
    const opa = new OPAClient(server.url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(await opa.evaluate('some/other/doc', {}), undefined);
  });

  it('rejects malformed JSON, oversized bodies and deep nesting with a clear error and no decision', async () => {
    const malformed = await call('POST', '/v1/decide', '{"principal": ');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json.error.code, 'RAMPART_E_BAD_REQUEST');
    const big = await call('POST', '/v1/decide', {
      principal: { type: 'agent', id: 'a' },
      action: 'task.run',
      resource: { type: 'task', id: 't' },
      context: { pad: 'x'.repeat(100_000) },
    });
    assert.equal(big.status, 413);
    assert.equal(big.json.error.code, 'RAMPART_E_BODY_TOO_LARGE');
    let deep: unknown = 0;
    for (let i = 0; i < 40; i++) deep = [deep];
    const nested = await call('POST', '/v1/decide', {
      principal: { type: 'agent', id: 'a' },
      action: 'task.run',
      resource: { type: 'task', id: 't' },
      context: { deep },
    });
    assert.equal(nested.status, 400);
    assert.match(nested.json.error.message, /nested deeper/);
  });

  it('writes every decision to the audit log in OPA decision-log form, with secret-bearing input masked', async () => {
    const r = await call('POST', '/v1/decide', {
      principal: { type: 'agent', id: 'analyst' },
      action: 'task.run',
      resource: { type: 'task', id: 't9', namespace: 'ci' },
      context: { api_token: 'tok-abcdef123456', note: 'hello' },
    });
    // Decision records are written asynchronously (policy.decision_log: async), within a group commit.
    const found = await eventually(async () => {
      const records = (await call('GET', '/v1/audit/records?limit=50')).json.records as {
        action: string;
        outcome: string;
        details: Json;
      }[];
      const log = records.find(
        (x) => x.action === 'policy.decision' && x.details.decision_id === r.json.decision_id,
      );
      return log && { log, records };
    }, 'the decision record');
    const { log, records } = found;
    assert.ok(log, 'decision log present');
    assert.equal(log.outcome, 'denied');
    assert.equal(log.details.input.context.api_token, '[MASKED]');
    assert.deepEqual(log.details.masked, ['/input/context/api_token']);
    assert.equal(log.details.input.context.note, 'hello');
    assert.equal(log.details.bundles.policies.revision, r.json.policy_version);
    assert.ok(!JSON.stringify(records).includes('tok-abcdef123456'));
  });

  it('changes decisions exactly when an entity changes, through the API (audited)', async () => {
    const ask = (): Promise<{ json: { allow: boolean; source: string } }> =>
      call('POST', '/v1/decide', {
        principal: { type: 'agent', id: 'analyst' },
        action: 'namespace.read',
        resource: { type: 'namespace', id: 'ci' },
      });
    assert.equal((await ask()).json.allow, false);
    assert.equal((await ask()).json.source, 'cache');
    await call('PUT', '/v1/entities/agent/analyst', { attributes: { namespace: 'ci' } });
    const now = await ask();
    assert.equal(now.json.allow, true);
    assert.equal(now.json.source, 'engine');
    const bad = await call('PUT', '/v1/entities/agent/bad', { attributes: [], parents: ['nope'] });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'RAMPART_E_ENTITY_INVALID');
    const records = (await call('GET', '/v1/audit/records?limit=100')).json.records as {
      action: string;
      target: string;
    }[];
    assert.ok(records.some((x) => x.action === 'entity.put' && x.target === 'agent:analyst'));
  });

  it('hot-reloads the policy directory; a broken change keeps the previous set serving and shows in health', async () => {
    const before = (await call('GET', '/v1/policies')).json.version as string;
    writeFileSync(
      join(t.dir, 'policies', 'zz-extra.yaml'),
      'apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: extra\nrules:\n  - name: all-tasks\n    effect: allow\n    actions: [task.run]\n    when: "true"\n    reason: everything\n',
    );
    let version = before;
    await until(
      async () => (version = (await call('GET', '/v1/policies')).json.version as string) !== before,
      'the new set to become active',
    );
    const d = await call('POST', '/v1/decide', {
      principal: { type: 'agent', id: 'nobody' },
      action: 'task.run',
      resource: { type: 'task', id: 'x' },
    });
    assert.equal(d.json.rule, 'all-tasks');
    assert.equal(d.json.policy_version, version);

    writeFileSync(
      join(t.dir, 'policies', 'zz-extra.yaml'),
      'apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: extra\nrules:\n  - name: broken\n    effect: allow\n    when: principal.nope\n    reason: x\n',
    );
    let health = '';
    await until(
      async () =>
        (health = JSON.stringify((await call('GET', '/v1/health')).json.components.policy)).includes(
          'does not load',
        ),
      'the broken file in health',
    );
    assert.match(health, /"status":"degraded"/);
    assert.match(health, /zz-extra\.yaml:8:\d+/);
    assert.equal((await call('GET', '/v1/policies')).json.version, version, 'the previous set keeps serving');
    const reload = await call('POST', '/v1/policies/reload');
    assert.equal(reload.status, 422);
    assert.equal(reload.json.error.code, 'RAMPART_E_POLICY_INVALID');
    const records = (await call('GET', '/v1/audit/records?limit=200')).json.records as {
      action: string;
      details: Json;
    }[];
    assert.ok(
      records.some((x) => x.action === 'event.policy.activated' && x.details.data.version === version),
    );
    assert.ok(records.some((x) => x.action === 'event.policy.load_failed'));
  });
});

describe('rampart up with a broken policy directory', () => {
  it('refuses to start, naming every problem', () => {
    const t = tempDir();
    writeFileSync(
      join(t.dir, 'p.yaml'),
      'apiVersion: rampart.dev/v1\nkind: Policy\nmetadata: {name: x}\nrules:\n  - name: r\n    effect: allow\n    when: "principal.idd == 1"\n    reason: r\n',
    );
    writeFileSync(join(t.dir, 'rampart.yaml'), 'policy:\n  dir: .\n');
    const r = rampart(['up', '--listen', '127.0.0.1:0'], { cwd: t.dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /p\.yaml:7:\d+: RAMPART_E_POLICY_INVALID: rules\[0\]\.when: No such key: idd/);
    t.cleanup();
  });
});

// Break-glass through a real `rampart up`, its CLI and personal tokens: K of N approvers, never
// the requester, never twice, never the shared admin token; the credential fetched once into a
// 0600 file, its actor tagged on every record, refused after revocation; every step loud (every
// channel, whatever it is set to hear; health degraded on every page; a critical incident that
// stays open until someone other than the requester reviews it); emergency self-approval.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rampartAsync, startServer, type Server } from '../support/cli.js';
import { adminToken, api, startReceiver, type Api, type Json } from '../support/http.js';
import { tempDir } from '../support/tmp.js';
import { eventually } from '../support/wait.js';

describe('break-glass', () => {
  const dir = tempDir();
  let server: Server;
  let admin: Api;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const tokens: Record<string, string> = {};
  const file = (name: string): string => join(dir.dir, `${name}.token`);
  const as = (
    who: string,
  ): ((m: string, p: string, b?: unknown) => Promise<{ status: number; json: Json }>) => {
    return (m, p, b) => admin(m, p, b, tokens[who]);
  };
  const cli = (who: string, ...args: string[]) =>
    rampartAsync(['breakglass', ...args, '--token-file', file(who)], { cwd: dir.dir });
  const records = async (): Promise<Json[]> =>
    ((await admin('GET', '/v1/audit/records?limit=10000')).json as { records: Json[] }).records;

  before(async () => {
    receiver = await startReceiver();
    for (const who of ['alice', 'bob', 'carol', 'dave']) {
      tokens[who] = `tok_${who}_${randomBytes(24).toString('hex')}`;
      writeFileSync(file(who), tokens[who] + '\n', { mode: 0o600 });
    }
    writeFileSync(join(dir.dir, 'hook.key'), 'whsec-0123456789abcdef0123456789abcdef\n', { mode: 0o600 });
    writeFileSync(
      join(dir.dir, 'rampart.yaml'),
      [
        'detect:',
        '  telemetry: off',
        'auth:',
        '  clients:',
        `    - {name: alice, token_file: ${file('alice')}, scopes: [audit:read]}`,
        `    - {name: bob, token_file: ${file('bob')}, scopes: [audit:read, incidents:write]}`,
        `    - {name: carol, token_file: ${file('carol')}, scopes: [audit:read]}`,
        `    - {name: dave, token_file: ${file('dave')}, scopes: [audit:read]}`,
        'breakglass:',
        '  approvers: [bob, carol]',
        '  required: 2',
        '  max_ttl: 10m',
        'notify:',
        '  retry: {attempts: 2, backoff: 50ms, timeout: 1s}',
        '  channels:',
        // This channel hears nothing it is set to (a tag no event carries): break-glass still reaches it.
        `    - {name: team, type: webhook, url: '${receiver.url}/team', secret_file: ${join(dir.dir, 'hook.key')}, tags: [no-such-tag]}`,
        '',
      ].join('\n'),
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
    admin = api(server.url, adminToken(dir.dir));
  });
  after(async () => {
    await server?.stop();
    await receiver?.close();
    dir.cleanup();
  });

  it('K of N approvers with their own credentials; a short-lived credential tagged on every record; loud', async () => {
    // The shared admin token neither asks nor approves.
    const byAdmin = await admin('POST', '/v1/breakglass', {
      scopes: ['admin'],
      reason: 'admin asking',
      ttl: '5m',
    });
    assert.equal(byAdmin.status, 403);
    assert.equal(byAdmin.json.error.code, 'RAMPART_E_BREAKGLASS_REFUSED');
    // Longer than max_ttl: refused.
    assert.equal(
      (await cli('alice', 'request', '--scope', 'admin', '--reason', 'the database is down', '--ttl', '2h'))
        .code,
      1,
    );

    const asked = await cli(
      'alice',
      'request',
      '--scope',
      'admin',
      '--reason',
      'the database is down, INC-7',
      '--ttl',
      '5m',
      '--json',
    );
    assert.equal(asked.code, 0, asked.stderr);
    const id = (JSON.parse(asked.stdout) as { id: string }).id;
    assert.match(id, /^BG-[0-9A-F]{10}$/);
    // One attempt at a time.
    const second = await as('alice')('POST', '/v1/breakglass', {
      scopes: ['admin'],
      reason: 'another one please',
      ttl: '5m',
    });
    assert.equal(second.status, 409);

    const self = await cli('alice', 'approve', id);
    assert.equal(self.code, 1);
    assert.match(self.stderr, /never approves their own request/);
    assert.equal(
      (await admin('POST', `/v1/breakglass/${id}/approve`)).json.error.code,
      'RAMPART_E_BREAKGLASS_REFUSED',
    );
    assert.match((await cli('dave', 'approve', id)).stderr, /not a break-glass approver/);
    assert.equal((await cli('bob', 'approve', id)).code, 0);
    assert.match((await cli('bob', 'approve', id)).stderr, /already approved/);
    // One approval of two: nothing to fetch yet.
    assert.equal((await as('alice')('POST', `/v1/breakglass/${id}/credential`)).status, 409);
    const approved = await cli('carol', 'approve', id, '--json');
    assert.equal(JSON.parse(approved.stdout).status, 'active');

    // Health says so, on every page.
    const h = (await admin('GET', '/v1/health')).json;
    assert.equal(h.components.breakglass.status, 'degraded');
    assert.match(h.components.breakglass.detail, new RegExp(`BREAK-GLASS ACTIVE: ${id} for client:alice`));

    // Only the requester fetches it, once, into a 0600 file.
    assert.equal((await cli('bob', 'credential', id, '--out', join(dir.dir, 'x'))).code, 1);
    const out = join(dir.dir, 'bg.token');
    const fetched = await cli('alice', 'credential', id, '--out', out);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.doesNotMatch(fetched.stdout + fetched.stderr, /rampart_breakglass_/);
    assert.equal((await cli('alice', 'credential', id, '--out', join(dir.dir, 'y'))).code, 1);
    const credential = readFileSync(out, 'utf8').trim();

    // It works with the scopes asked for, and every record it writes carries its tag.
    const used = await admin('POST', '/v1/audit/checkpoints', undefined, credential);
    assert.equal(used.status, 201);
    const rs = await eventually(async () => {
      const all = await records();
      return all.some((r) => r.action === 'event.breakglass.used') ? all : undefined;
    }, 'breakglass.used on record');
    const cp = rs.find((r) => r.action === 'audit.checkpoint' && String(r.actor).startsWith('breakglass:'));
    assert.equal(cp.actor, `breakglass:${id}:client:alice`);
    // Nothing secret on record: not the credential, not its digest.
    assert.doesNotMatch(JSON.stringify(rs), new RegExp(credential.slice(20)));

    // Every step reached the channel that is set to hear nothing else.
    const heard = await eventually(async () => {
      const types = receiver.got.map((g) => (JSON.parse(g.body) as { type: string }).type);
      return types.includes('breakglass.used') ? types : undefined;
    }, 'break-glass notifications');
    assert.ok(heard.includes('breakglass.requested'));
    assert.equal(heard.filter((t) => t === 'breakglass.approved').length, 2);
    assert.ok(!heard.some((t) => t.startsWith('incident.')), 'the tag filter still holds for the rest');

    // A critical incident, open until someone other than the requester reviews it.
    const inc = await eventually(async () => {
      const l = (await as('bob')('GET', '/v1/incidents?status=active')).json as { incidents: Json[] };
      return l.incidents.find((i) => i.kind === 'breakglass');
    }, 'the break-glass incident');
    assert.equal(inc.severity, 'critical');

    // Revoked: refused at once.
    assert.equal((await cli('carol', 'revoke', id)).code, 0);
    assert.equal((await admin('POST', '/v1/audit/checkpoints', undefined, credential)).status, 401);
    const resolve = await as('bob')('POST', `/v1/incidents/${inc.id}/resolve`, {});
    assert.equal(resolve.status, 409);
    assert.match(resolve.json.error.message, /record its review first/);
    assert.match((await cli('alice', 'review', id, '--text', 'all fine')).stderr, /cannot review their own/);
    assert.equal(
      (await cli('bob', 'review', id, '--text', 'restarted the database; nothing else touched')).code,
      0,
    );
    const resolved = await eventually(async () => {
      const r = await as('bob')('POST', `/v1/incidents/${inc.id}/resolve`, {
        verdict: 'benign_true_positive',
      });
      return r.status === 200 ? r.json : undefined;
    }, 'the incident resolvable after review');
    assert.equal(resolved.status, 'resolved');
    const after = (await admin('GET', '/v1/health')).json;
    assert.equal(after.components.breakglass.status, 'ok');
    // History stays.
    const shown = JSON.parse((await cli('dave', 'show', id, '--json')).stdout);
    assert.equal(shown.status, 'revoked');
    assert.equal(shown.review.by, 'client:bob');
  });

  it('emergency self-approval: allowed at once, and as loud as it gets', async () => {
    const r = await cli(
      'dave',
      'request',
      '--scope',
      'runs:read',
      '--reason',
      'pager: agents stuck, nobody awake',
      '--ttl',
      '2m',
      '--emergency',
      '--wait',
      '--out',
      join(dir.dir, 'e.token'),
    );
    assert.equal(r.code, 0, r.stderr);
    const credential = readFileSync(join(dir.dir, 'e.token'), 'utf8').trim();
    assert.equal((await admin('GET', '/v1/runs', undefined, credential)).status, 200);
    // Only what was asked for.
    assert.equal((await admin('POST', '/v1/audit/checkpoints', undefined, credential)).status, 403);
    const rs = await records();
    const approved = rs.filter((x) => x.action === 'event.breakglass.approved').map((x) => x.details.data);
    const mine = approved.find((d) => d.requester === 'client:dave');
    assert.equal(mine.emergency, true);
    assert.equal(mine.by, 'client:dave');
    assert.equal(
      rs.find((x) => x.action === 'event.breakglass.approved' && x.details.data.requester === 'client:dave')
        .details.severity,
      'critical',
    );
    const id = mine.id as string;
    assert.equal((await admin('POST', `/v1/breakglass/${id}/revoke`)).status, 200);
    assert.equal((await admin('GET', '/v1/runs', undefined, credential)).status, 401);
  });

  it("a policy override: the agent's denied decisions of those actions allowed, tagged and on record, until revoked", async () => {
    const input = (action: string, agent = 'ovr-agent') => ({
      principal: { type: 'agent', id: agent },
      action,
      resource: { type: 'task', id: 'deploy' },
      context: {},
    });
    const before = await admin('POST', '/v1/decide', input('task.run'));
    assert.equal(before.json.allow, false);

    const asked = await cli(
      'alice',
      'request',
      '--override-agent',
      'ovr-agent',
      '--override-action',
      'task.run',
      '--reason',
      'hotfix deploy, INC-9',
      '--ttl',
      '5m',
      '--json',
    );
    assert.equal(asked.code, 0, asked.stderr);
    const id = (JSON.parse(asked.stdout) as { id: string }).id;
    assert.equal((await cli('bob', 'approve', id)).code, 0);
    assert.equal((await cli('carol', 'approve', id)).code, 0);
    // There is nothing to fetch: the override acts on decisions.
    assert.match(
      (await cli('alice', 'credential', id, '--out', join(dir.dir, 'o'))).stderr,
      /policy override: it has no credential/,
    );

    const during = (await admin('POST', '/v1/decide', input('task.run'))).json;
    assert.equal(during.allow, true);
    assert.equal(during.rule, `breakglass:${id}`);
    assert.match(during.reasons[0], new RegExp(`^allowed by break-glass ${id} of client:alice`));
    // Only that agent, only those actions.
    assert.equal((await admin('POST', '/v1/decide', input('secret.read'))).json.allow, false);
    assert.equal((await admin('POST', '/v1/decide', input('task.run', 'someone-else'))).json.allow, false);
    const rs = await records();
    assert.ok(
      rs.some((r) => r.action === 'policy.decision' && JSON.stringify(r).includes(`breakglass:${id}`)),
    );
    const h = (await admin('GET', '/v1/health')).json;
    assert.match(h.components.breakglass.detail, /override of task.run for agent ovr-agent/);

    assert.equal((await cli('bob', 'revoke', id)).code, 0);
    assert.equal((await admin('POST', '/v1/decide', input('task.run'))).json.allow, false);
  });
});

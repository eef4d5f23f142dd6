// GitHub App installation tokens, against a local HTTPS server that implements the documented
// endpoint (POST /app/installations/{id}/access_tokens) and checks what GitHub checks: an RS256
// JWT signed by the app's key, iss the app id, issued in the past and expiring within 10
// minutes. A token is scoped to one repository and the entry's permissions; more than asked is
// refused and revoked; a lease's end revokes its token (DELETE /installation/token); the token is
// never in the store in the clear.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rampartAsync, startServer, type Server } from '../support/cli.js';
import { adminToken, api, type Api } from '../support/http.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import { eventually } from '../support/wait.js';
import { startFakeGithub, type Seen } from '../support/github.js';

describe('GitHub App installation tokens', { skip: sandboxSkip() }, () => {
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let dir: string;
  let server: Server;
  let admin: Api;
  let github: HttpsServer;
  const seen: Seen = { jwt: [], issued: [], revoked: [] };

  before(async () => {
    cp = sandboxControlPlaneDir();
    dir = cp.dir.dir;
    github = (await startFakeGithub(dir, seen)).server;
    const port = (github.address() as { port: number }).port;
    writeFileSync(
      join(dir, 'rampart.yaml'),
      readFileSync(join(dir, 'rampart.yaml'), 'utf8') +
        [
          'secrets:',
          '  github:',
          '    - vault: gh',
          '      app_id: 4242',
          '      private_key_file: app.pem',
          `      api_url: https://127.0.0.1:${port}`,
          '      ca_file: srv.crt',
          '      repositories:',
          '        - name: web-push',
          '          installation_id: 77',
          '          repository: web',
          '          permissions: { contents: write, pull_requests: write }',
          '        - name: greedy',
          '          installation_id: 78',
          '          repository: web',
          '          permissions: { contents: read }',
          '',
        ].join('\n'),
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir });
    admin = api(server.url, adminToken(dir));
    await admin('PUT', '/v1/entities/agent/pusher', {
      attributes: { capabilities: ['vault:gh:read'] },
      parents: [],
    });
  });
  after(async () => {
    await server?.stop();
    github?.close();
    cp?.cleanup();
  });

  it('exchanges a valid app JWT for a token scoped to one repository, and revokes it with its lease', async () => {
    const r = await eventually(async () => {
      const x = await admin('POST', '/v1/secrets/gh/web-push/read', { agent: 'pusher' });
      return x.status === 403 ? undefined : x;
    }, 'the grant');
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const body = r.json;
    const token = Buffer.from(body.value_base64, 'base64').toString();
    assert.equal(token, seen.issued[0]!.token);
    assert.deepEqual(seen.issued[0]!.body, {
      repositories: ['web'],
      permissions: { contents: 'write', pull_requests: 'write' },
    });
    const jwt = seen.jwt[seen.jwt.length - 1]!;
    assert.ok(jwt.verified, 'signed with the app key');
    assert.equal(jwt.header.alg, 'RS256');
    assert.ok(
      jwt.claims.exp - jwt.claims.iat <= 660 && jwt.claims.exp - jwt.at <= 600,
      JSON.stringify(jwt.claims),
    );
    assert.equal(body.lease.engine, 'github');
    const life = Date.parse(body.lease.max_expires_at) - Date.parse(body.lease.issued_at);
    assert.equal(life, 55 * 60_000, 'a lease ends before the token does');
    // Never in the store in the clear (the lease keeps it sealed, for the revocation).
    const db = readdirSync(join(dir, '.rampart')).filter((f) => f.startsWith('rampart.db'));
    for (const f of db) assert.ok(!readFileSync(join(dir, '.rampart', f)).includes(token), f);
    const revoked = await admin('POST', '/v1/leases/revoke', { lease: body.lease.id });
    assert.deepEqual(revoked.json, { revoked: 1, failed: 0 });
    assert.deepEqual(seen.revoked, [token]);
  });

  it("refuses and revokes a token wider than asked, and ends a run's token with the run", async () => {
    const greedy = await admin('POST', '/v1/secrets/gh/greedy/read', { agent: 'pusher' });
    assert.equal(greedy.status, 503);
    assert.match(JSON.stringify(greedy.json), /RAMPART_E_SECRETS_ENGINE.*more than asked/);
    const wide = seen.issued.find((i) => i.installation === '78')!;
    assert.ok(seen.revoked.includes(wide.token));

    const run = await rampartAsync(
      [
        'run',
        '--no-network',
        '--agent',
        'pusher',
        '--secret',
        'GH=vault:gh/web-push',
        '--',
        'sh',
        '-c',
        'test -s /run/secrets/GH && echo ok',
      ],
      { cwd: dir },
    );
    assert.equal(run.code, 0, run.stderr);
    const token = seen.issued[seen.issued.length - 1]!.token;
    assert.ok(!run.stdout.includes(token) && !run.stderr.includes(token));
    await eventually(
      async () => (seen.revoked.includes(token) ? true : undefined),
      "the run's token revoked",
    );
  });
});

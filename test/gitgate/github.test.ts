// The git gate with the secrets broker's GitHub App engine: the upstream credential is an
// installation token minted for the run's one repository (a local stand-in for GitHub's API, as
// documented), used by the gate for the run's push, on record as secret.use, and revoked when
// the run's tokens are: the upstream accepts exactly the tokens the engine minted.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer, type Server } from '../support/cli.js';
import { startFakeGithub, type Seen } from '../support/github.js';
import { gitAsync, makeRepo, startUpstream, upstreamRefs, type GitUpstream } from '../support/gitupstream.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { tempDir, type TempDir } from '../support/tmp.js';
import { eventually } from '../support/wait.js';

describe('git gate: the upstream credential from the GitHub App engine', () => {
  let dir: TempDir;
  let server: Server;
  let admin: Api;
  let github: HttpsServer;
  let upstream: GitUpstream;
  let root: string;
  const seen: Seen = { jwt: [], issued: [], revoked: [] };

  before(async () => {
    dir = tempDir('rampart-gitgate-gh-');
    const d = dir.dir;
    root = join(d, 'upstream');
    makeRepo(root, 'acme/web', join(d, 'seed'));
    upstream = await startUpstream(root, 'x-access-token', 'nothing-until-minted');
    github = (await startFakeGithub(d, seen, (token) => upstream.allow(token))).server;
    const port = (github.address() as { port: number }).port;
    writeFileSync(
      join(d, 'rampart.yaml'),
      [
        'respond:\n  enabled: false',
        'secrets:',
        '  github:',
        '    - vault: gh',
        '      app_id: 4242',
        '      private_key_file: app.pem',
        `      api_url: https://127.0.0.1:${port}`,
        '      ca_file: srv.crt',
        '      repositories:',
        '        - { name: web-push, installation_id: 77, repository: web, permissions: { contents: write } }',
        'gitgate:',
        `  upstreams: [{repos: 'acme/*', url: '${upstream.url}/{repo}.git', credential: 'vault:gh/{name}-push'}]`,
        '',
      ].join('\n'),
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: d });
    admin = api(server.url, adminToken(d));
  });
  after(async () => {
    await server?.stop();
    await upstream?.close();
    github?.close();
    dir?.cleanup();
  });

  it('pushes with a token minted for the one repository, on record, revoked with the run', async () => {
    const issued = await admin('POST', '/v1/tokens', {
      agent: 'coder',
      namespace: 'default',
      git: { repo: 'acme/web', task: '5' },
    });
    assert.equal(issued.status, 200, JSON.stringify(issued.json));
    const token = issued.json.token as string;
    const run =
      issued.json.claims?.run ?? JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).run;
    const home = join(dir.dir, 'agent');
    mkdirSync(home);
    writeFileSync(join(home, 'token'), token, { mode: 0o600 });
    const egress = new URL(
      (
        JSON.parse(readFileSync(join(dir.dir, '.rampart', 'control-plane.json'), 'utf8')) as {
          egress: string;
        }
      ).egress,
    );
    const env = {
      http_proxy: `http://x:${token}@127.0.0.1:${egress.port}`,
      GIT_CONFIG_COUNT: '2',
      GIT_CONFIG_KEY_0: 'credential.http://git.rampart.internal.helper',
      GIT_CONFIG_VALUE_0: `!f() { echo username=x; printf 'password=%s\\n' "$(cat ${join(home, 'token')})"; }; f`,
      GIT_CONFIG_KEY_1: 'http.proxyAuthMethod',
      GIT_CONFIG_VALUE_1: 'basic',
    };
    const work = join(home, 'w');
    const cloned = await gitAsync(
      ['clone', '-q', 'http://git.rampart.internal/acme/web.git', work],
      home,
      env,
    );
    assert.equal(cloned.code, 0, cloned.out);
    await gitAsync(['checkout', '-q', '-b', 'agent/issue-5-x'], work, env);
    writeFileSync(join(work, 'a.txt'), 'a\n');
    await gitAsync(['add', 'a.txt'], work, env);
    await gitAsync(['commit', '-q', '-m', 'a for #5'], work, env);
    const pushed = await gitAsync(['push', '-q', 'origin', 'HEAD'], work, env);
    assert.equal(pushed.code, 0, pushed.out);
    assert.ok(upstreamRefs(root, 'acme/web')['refs/heads/agent/issue-5-x']);
    // Minted for web alone, with the permissions the entry names.
    assert.ok(seen.issued.length >= 1);
    for (const i of seen.issued)
      assert.deepEqual(i.body, { repositories: ['web'], permissions: { contents: 'write' } });
    const rs = (await admin('GET', '/v1/audit/records?limit=10000')).json.records as Json[];
    const uses = rs.filter((r) => r.action === 'secret.use' && r.target === 'secret:gh/web-push');
    assert.ok(uses.length >= 1);
    assert.equal(uses[0].details.run, run);
    assert.equal(JSON.stringify(rs).includes(seen.issued[0]!.token), false, 'no minted token on record');
    // The run's tokens revoked: its leases end, and GitHub is told to revoke what was minted.
    assert.equal(
      (await admin('POST', '/v1/tokens/revocations', { kind: 'run', value: run, reason: 'done' })).status,
      200,
    );
    await eventually(
      async () => (seen.issued.every((i) => seen.revoked.includes(i.token)) ? true : undefined),
      'minted tokens revoked',
      10_000,
    );
  });
});

// The git gate against real parts: `rampart up` with the shipped policy and rules, a real git
// client reaching the gate through the control plane's egress proxy (git.rampart.internal, with
// a workload token bound to acme/app and task 7), and a real upstream (git http-backend behind
// Basic authentication) whose refs show what reached it and what did not.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer, rampartAsync, type Server } from '../support/cli.js';
import {
  git,
  gitAsync,
  gitTry,
  makeRepo,
  startUpstream,
  upstreamRefs,
  type GitUpstream,
} from '../support/gitupstream.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { tempDir, type TempDir } from '../support/tmp.js';

const UPSTREAM_PASSWORD = 'upstream-password-held-by-rampart-only-7f3a';
const GATE = 'http://git.rampart.internal/acme/app.git';

describe('git gate', () => {
  let dir: TempDir;
  let server: Server;
  let admin: Api;
  let upstream: GitUpstream;
  let upstreamRoot: string;
  let egress: string;

  /** A token for the agent, bound to acme/app and task 7 (and whatever else is asked). */
  const token = async (extra: Json = {}): Promise<string> => {
    const r = await admin('POST', '/v1/tokens', {
      agent: 'coder',
      namespace: 'default',
      git: { repo: 'acme/app', task: '7' },
      ...extra,
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json.token as string;
  };

  /**
   * A clone of acme/app through the gate, with git configured as inside a run (proxy, and a
   * credential helper reading the token from a file), from a config file of mode 0600.
   */
  const clone = async (
    name: string,
    tok?: string,
  ): Promise<{ work: string; env: Record<string, string> }> => {
    const home = join(dir.dir, name);
    mkdirSync(home, { recursive: true });
    const tokenFile = join(home, 'token');
    writeFileSync(tokenFile, tok ?? (await token()), { mode: 0o600 });
    const config = join(home, 'gitconfig');
    const proxy = new URL(egress);
    writeFileSync(
      config,
      [
        '[credential "http://git.rampart.internal"]',
        `\thelper = "!f() { echo username=rampart; printf 'password=%s\\\\n' \\"$(cat ${tokenFile})\\"; }; f"`,
        '[user]',
        '\tname = Coder',
        '\temail = coder@example.com',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    // The proxy knows the caller by its token too (a run's channel does this part inside a run).
    const env = {
      GIT_CONFIG_GLOBAL: config,
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.proxyAuthMethod',
      GIT_CONFIG_VALUE_0: 'basic',
      http_proxy: `http://x:${readFileSync(tokenFile, 'utf8')}@127.0.0.1:${proxy.port}`,
    };
    const work = join(home, 'w');
    git(['clone', '-q', GATE, work], undefined, env);
    return { work, env };
  };
  const commit = (
    work: string,
    env: Record<string, string>,
    files: Record<string, string | Buffer>,
    message: string,
  ): string => {
    for (const [p, content] of Object.entries(files)) {
      mkdirSync(join(work, p, '..'), { recursive: true });
      writeFileSync(join(work, p), content);
    }
    git(['add', '-A'], work, env);
    git(['commit', '-q', '-m', message], work, env);
    return git(['rev-parse', 'HEAD'], work, env).trim();
  };
  const pushes = async (): Promise<Json[]> => {
    const rs = (await admin('GET', '/v1/audit/records?limit=10000')).json.records as Json[];
    return rs.filter((r) => r.action === 'event.gitgate.push').map((r) => r.details.data);
  };

  before(async () => {
    dir = tempDir('rampart-gitgate-');
    upstreamRoot = join(dir.dir, 'upstream');
    makeRepo(upstreamRoot, 'acme/app', join(dir.dir, 'seed'));
    makeRepo(upstreamRoot, 'acme/other', join(dir.dir, 'seed2'));
    upstream = await startUpstream(upstreamRoot, 'rampart-bot', UPSTREAM_PASSWORD);
    writeFileSync(
      join(dir.dir, 'rampart.yaml'),
      [
        'gitgate:',
        '  upstreams:',
        `    - {repos: 'acme/*', url: '${upstream.url}/{repo}.git', credential: 'vault:forge/acme-push'}`,
        '  rules: {max_file_size: 10m}',
        'respond:',
        '  enabled: false',
        '',
      ].join('\n'),
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
    admin = api(server.url, adminToken(dir.dir));
    writeFileSync(join(dir.dir, 'cred'), `rampart-bot:${UPSTREAM_PASSWORD}\n`, { mode: 0o600 });
    const put = await rampartAsync(['secret', 'put', 'forge/acme-push', join(dir.dir, 'cred')], {
      cwd: dir.dir,
    });
    assert.equal(put.code, 0, put.stderr);
    rmSync(join(dir.dir, 'cred'));
    egress = (
      JSON.parse(readFileSync(join(dir.dir, '.rampart', 'control-plane.json'), 'utf8')) as { egress: string }
    ).egress;
  });
  after(async () => {
    await server?.stop();
    await upstream?.close();
    dir?.cleanup();
  });

  it('clones through the gate, and a push to the task branch reaches the upstream, on record with its commits', async () => {
    const { work, env } = await clone('ok');
    git(['checkout', '-q', '-b', 'agent/issue-7-fix-typo'], work, env);
    const a = commit(work, env, { 'src/a.txt': 'one\n' }, 'Fix the typo (#7)');
    const b = commit(work, env, { 'src/b.txt': 'two\n' }, 'Add b for #7');
    const r = gitTry(['push', 'origin', 'HEAD'], work, env);
    assert.equal(r.code, 0, r.out);
    assert.equal(upstreamRefs(upstreamRoot, 'acme/app')['refs/heads/agent/issue-7-fix-typo'], b);
    // Only the gate's credential reached the upstream; the agent held none.
    assert.ok((await upstream.stats()).users.length > 0);
    const rec = (await pushes()).find((p) => p.outcome === 'accepted');
    assert.deepEqual(rec.commits, [a, b]);
    assert.equal(rec.repo, 'acme/app');
    assert.equal(rec.task, '7');
    assert.deepEqual(rec.paths.sort(), ['src/a.txt', 'src/b.txt']);
    assert.equal(JSON.stringify(await pushes()).includes(UPSTREAM_PASSWORD), false);
  });

  it('refuses a push to main, with every problem at once, and nothing reaches the upstream', async () => {
    const before = upstreamRefs(upstreamRoot, 'acme/app');
    const { work, env } = await clone('main');
    commit(work, env, { '.github/workflows/ci.yml': 'on: push\n' }, 'tweak ci');
    const r = gitTry(['push', 'origin', 'HEAD:main'], work, env);
    assert.notEqual(r.code, 0);
    assert.match(
      r.out,
      /remote: rampart: ref\.protected: refs\/heads\/main: main is protected: push to agent\/issue-7-short-description/,
    );
    assert.match(
      r.out,
      /remote: rampart: path\.ci: \.github\/workflows\/ci\.yml: CI configuration is not changed by agents/,
    );
    assert.match(
      r.out,
      /remote: rampart: message\.task: [0-9a-f]{12}: the commit message does not name task 7/,
    );
    assert.deepEqual(upstreamRefs(upstreamRoot, 'acme/app'), before);
    const rec = (await pushes()).find((p) => p.outcome === 'refused' && p.refs[0].ref === 'refs/heads/main');
    assert.deepEqual(
      rec.violations.map((v: Json) => v.rule),
      ['ref.protected', 'path.ci', 'message.task'],
    );
  });

  it('refuses a force push and a deletion', async () => {
    const { work, env } = await clone('force');
    git(['checkout', '-q', '-b', 'agent/issue-7-force'], work, env);
    commit(work, env, { 'f.txt': '1\n' }, 'first for #7');
    assert.equal(gitTry(['push', 'origin', 'HEAD'], work, env).code, 0);
    const kept = upstreamRefs(upstreamRoot, 'acme/app')['refs/heads/agent/issue-7-force'];
    git(['commit', '-q', '--amend', '-m', 'rewritten for #7'], work, env);
    const forced = gitTry(['push', '--force', 'origin', 'HEAD'], work, env);
    assert.notEqual(forced.code, 0);
    assert.match(
      forced.out,
      /rampart: ref\.non_fast_forward: refs\/heads\/agent\/issue-7-force: not a fast-forward/,
    );
    const deleted = gitTry(['push', 'origin', ':agent/issue-7-force'], work, env);
    assert.notEqual(deleted.code, 0);
    assert.match(
      deleted.out,
      /rampart: ref\.delete: refs\/heads\/agent\/issue-7-force: branches are not deleted by agents/,
    );
    assert.equal(upstreamRefs(upstreamRoot, 'acme/app')['refs/heads/agent/issue-7-force'], kept);
  });

  it('refuses a lockfile edit without the capability, and lets it through with it', async () => {
    const { work, env } = await clone('deps');
    git(['checkout', '-q', '-b', 'agent/issue-7-deps'], work, env);
    commit(work, env, { 'package-lock.json': '{}\n' }, 'bump for #7');
    const r = gitTry(['push', 'origin', 'HEAD'], work, env);
    assert.notEqual(r.code, 0);
    assert.match(
      r.out,
      /rampart: path\.dependencies: package-lock\.json: dependencies change only with the deps\.edit capability/,
    );
    assert.equal(upstreamRefs(upstreamRoot, 'acme/app')['refs/heads/agent/issue-7-deps'], undefined);
    const capable = await clone('deps-cap', await token({ capabilities: ['deps.edit'] }));
    git(['checkout', '-q', '-b', 'agent/issue-7-deps'], capable.work, capable.env);
    const c = commit(capable.work, capable.env, { 'package-lock.json': '{}\n' }, 'bump for #7');
    const ok = gitTry(['push', 'origin', 'HEAD'], capable.work, capable.env);
    assert.equal(ok.code, 0, ok.out);
    assert.equal(upstreamRefs(upstreamRoot, 'acme/app')['refs/heads/agent/issue-7-deps'], c);
    const rec = (await pushes()).find((p) => p.outcome === 'accepted' && p.commits.includes(c));
    assert.deepEqual(
      rec.waived.map((w: Json) => w.rule),
      ['path.dependencies'],
    );
  });

  it('refuses a cloud key added in any commit of the push, even one a later commit removes', async () => {
    const { work, env } = await clone('secret');
    git(['checkout', '-q', '-b', 'agent/issue-7-config'], work, env);
    commit(
      work,
      env,
      {
        'config/aws.ini':
          '[default]\naws_access_key_id = AKIAQYLPMN5HHHFPZAM2\naws_secret_access_key = 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\n',
      },
      'configure for #7',
    );
    commit(work, env, { 'config/aws.ini': '[default]\n' }, 'remove it again for #7');
    const r = gitTry(['push', 'origin', 'HEAD'], work, env);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /rampart: content\.secret: config\/aws\.ini:2 \([0-9a-f]{12}\): a credential \(/);
    assert.equal(r.out.includes('AKIAQYLPMN5HHHFPZAM2'), false, 'the refusal never repeats the credential');
    assert.equal(upstreamRefs(upstreamRoot, 'acme/app')['refs/heads/agent/issue-7-config'], undefined);
    const rec = (await pushes()).find((p) => p.violations?.some((v: Json) => v.rule === 'content.secret'));
    assert.ok(rec);
    assert.equal(JSON.stringify(rec).includes('AKIAQYLPMN5HHHFPZAM2'), false);
  });

  it('refuses a 200 MB file, holding the push in quarantine, never upstream', async () => {
    const { work, env } = await clone('big');
    git(['checkout', '-q', '-b', 'agent/issue-7-big'], work, env);
    const big = Buffer.alloc(200 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    commit(work, env, { 'data.bin': big }, 'add data for #7');
    const r = await gitAsync(['-c', 'pack.compression=1', 'push', 'origin', 'HEAD'], work, env);
    assert.notEqual(r.code, 0);
    assert.match(
      r.out,
      /rampart: size\.file: data\.bin \([0-9a-f]{12}\): 209715200 bytes, more than 10485760/,
    );
    assert.equal(upstreamRefs(upstreamRoot, 'acme/app')['refs/heads/agent/issue-7-big'], undefined);
  });

  it("holds a run to its repository and to its task's paths, and asks for a token", async () => {
    const { work, env } = await clone(
      'scope',
      await token({ git: { repo: 'acme/app', task: '7', paths: ['src/**'] } }),
    );
    git(['checkout', '-q', '-b', 'agent/issue-7-scope'], work, env);
    commit(work, env, { 'src/ok.txt': 'in scope\n', 'README.md': 'drive-by\n' }, 'scope for #7');
    const r = gitTry(['push', 'origin', 'HEAD'], work, env);
    assert.match(
      r.out,
      /rampart: path\.scope: README\.md: task 7 changes only src\/\*\*: leave this file out of the push/,
    );
    assert.doesNotMatch(r.out, /path\.scope: src\/ok\.txt/);
    // Another repository: refused before git sees anything.
    const other = gitTry(['ls-remote', 'http://git.rampart.internal/acme/other.git'], work, env);
    assert.notEqual(other.code, 0);
    assert.match(other.out, /works on acme\/app only; it cannot fetch or push acme\/other/);
    // No token, no service: git is asked for a credential, and has none.
    const none = gitTry(['-c', 'credential.helper=', 'ls-remote', GATE], work, {
      ...env,
      GIT_CONFIG_GLOBAL: '/dev/null',
    });
    assert.notEqual(none.code, 0);
  });
});

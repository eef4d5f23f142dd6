// The git gate from inside a real run: `rampart run --repo acme/app --task 9` under bubblewrap,
// whose git clones and pushes through its egress channel to git.rampart.internal with nothing
// configured by hand (the run's environment carries the remote and the credential helper), and
// holds no upstream credential: the push to its task branch lands upstream, its push to main does
// not, and the repository's usual address (github.com) leads to the gate too.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, rampartAsync, startServer, type Server } from '../support/cli.js';
import { makeRepo, startUpstream, upstreamRefs, type GitUpstream } from '../support/gitupstream.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';

const PASSWORD = 'upstream-password-the-run-never-holds-91c2';

describe('git gate: a real run pushes through it', { skip: sandboxSkip() }, () => {
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let server: Server;
  let upstream: GitUpstream;
  let root: string;

  before(async () => {
    cp = sandboxControlPlaneDir('respond:\n  enabled: false\n');
    root = join(cp.dir.dir, 'upstream');
    makeRepo(root, 'acme/app', join(cp.dir.dir, 'seed'));
    upstream = await startUpstream(root, 'bot', PASSWORD);
    writeFileSync(
      join(cp.dir.dir, 'rampart.yaml'),
      `gitgate:\n  upstreams:\n    - {repos: 'acme/*', url: '${upstream.url}/{repo}.git', credential: 'vault:forge/acme'}\n`,
      { flag: 'a' },
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
    const cred = join(cp.dir.dir, 'cred');
    writeFileSync(cred, `bot:${PASSWORD}\n`, { mode: 0o600 });
    const put = await rampartAsync(['secret', 'put', 'forge/acme', cred], { cwd: cp.dir.dir });
    assert.equal(put.code, 0, put.stderr);
    rmSync(cred);
  });
  after(async () => {
    spawnSync(process.execPath, [BIN, 'destroy', '--all'], { cwd: cp.dir.dir, timeout: 20_000 });
    await server?.stop();
    await upstream?.close();
    cp?.cleanup();
  });

  it('clones, pushes its task branch upstream, is refused main, and never holds the credential', async () => {
    const ws = join(cp.dir.dir, 'ws', 'gitrun');
    mkdirSync(ws, { recursive: true });
    const script = [
      'set -u',
      'export GIT_AUTHOR_NAME=agent GIT_AUTHOR_EMAIL=agent@example.com GIT_COMMITTER_NAME=agent GIT_COMMITTER_EMAIL=agent@example.com',
      'git clone -q https://github.com/acme/app.git /workspace/w || exit 10',
      'cd /workspace/w',
      'git checkout -q -b agent/issue-9-readme',
      'echo hello > README.md && git add README.md && git commit -qm "Say hello (#9)"',
      'git push -q origin HEAD || exit 11',
      'git push origin HEAD:main > /workspace/main.out 2>&1 && exit 12',
      // Nothing in the run knows the upstream's password: not its environment, its files, its git.
      `grep -rqs ${PASSWORD.slice(0, 20)} /run /workspace /proc/self/environ && exit 13`,
      `git config --list | grep -q ${PASSWORD.slice(0, 20)} && exit 14`,
      'git rev-parse HEAD > /workspace/head',
      'exit 0',
    ].join('\n');
    const r = await rampartAsync(
      [
        'run',
        '--agent',
        'coder',
        '--repo',
        'acme/app',
        '--task',
        '9',
        '--workspace',
        ws,
        '--',
        'sh',
        '-c',
        script,
      ],
      { cwd: cp.dir.dir, timeoutMs: 120_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const head = spawnSync('cat', [join(ws, 'head')], { encoding: 'utf8' }).stdout.trim();
    const refs = upstreamRefs(root, 'acme/app');
    assert.equal(refs['refs/heads/agent/issue-9-readme'], head);
    assert.notEqual(refs['refs/heads/main'], head);
    const refused = spawnSync('cat', [join(ws, 'main.out')], { encoding: 'utf8' }).stdout;
    assert.match(refused, /remote: rampart: ref\.protected: refs\/heads\/main: main is protected/);
  });

  it('refuses --task without --repo, and a repository that is not ORG/NAME', async () => {
    const a = await rampartAsync(['run', '--task', '9', '--', 'true'], { cwd: cp.dir.dir });
    assert.equal(a.code, 2);
    assert.match(a.stderr, /--repo and --task go together/);
    const b = await rampartAsync(['run', '--repo', 'acme', '--task', '9', '--', 'true'], { cwd: cp.dir.dir });
    assert.equal(b.code, 2);
    assert.match(b.stderr, /--repo must be ORG\/NAME/);
  });
});

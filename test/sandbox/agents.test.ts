// The agents people run must start inside a run as they do outside. Claude Code and Codex (from
// npm, installed into test/agents by .ci/run) were tried in `rampart run`: both started, but
// HOME was /tmp, and Codex refused to create its helpers "under temporary dir /tmp". Each run
// now has a home of its own (/home/agent); here both CLIs start inside a run, write their
// configuration directories there, and print no warning.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, rampartAsync, startServer, type Server } from '../support/cli.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';

const AGENTS = join(ROOT, 'test', 'agents', 'node_modules');
const installed = existsSync(join(AGENTS, '.bin', 'claude')) && existsSync(join(AGENTS, '.bin', 'codex'));
const skip =
  sandboxSkip() ||
  (installed
    ? false
    : process.env['CI'] === 'true'
      ? (() => {
          throw new Error('CI=true but the agents are not installed: npm ci --prefix test/agents');
        })()
      : 'agents not installed (npm ci --prefix test/agents)');

describe('coding agents inside a run', { skip }, () => {
  const cp = sandboxControlPlaneDir(`  profiles:\n    agents:\n      read_only: [${AGENTS}]\n`);
  let server: Server;
  before(async () => {
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
  });
  after(async () => {
    await server?.stop();
    cp.cleanup();
  });

  const inRun = (script: string) =>
    rampartAsync(
      ['run', '--profile', 'agents', '--no-network', '--agent', 'coder', '--', 'sh', '-c', script],
      {
        cwd: cp.dir.dir,
        timeoutMs: 120_000,
      },
    );

  for (const [name, bin, args, dirs] of [
    ['Claude Code', 'claude', 'config list', ['.claude', '.claude.json']],
    ['Codex', 'codex', 'login status', ['.codex']],
  ] as const) {
    it(`${name} starts, keeps its configuration in the run's home, and warns of nothing`, async () => {
      const r = await inRun(
        `${AGENTS}/.bin/${bin} --version && ${AGENTS}/.bin/${bin} ${args}; echo "home=$HOME"; ls -A "$HOME"`,
      );
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^home=\/home\/agent$/m);
      for (const d of dirs)
        assert.match(r.stdout, new RegExp(`^${d.replace('.', '\\.')}$`, 'm'), `${name} wrote ${d}`);
      const output = r.stdout + r.stderr.replace(/^rampart: run \S+ \(agent coder\) in \S+\n/m, '');
      assert.doesNotMatch(output, /warn|refus|temporary dir/i, output);
    });
  }
});

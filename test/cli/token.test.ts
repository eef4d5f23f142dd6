// rampart token issue | verify | revoke | rotate-key | revocations, against a running control plane.

import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rampartAsync, startServer, type Server } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

describe('rampart token (CLI)', () => {
  const t = tempDir();
  let server: Server;
  const run = (args: string[], input?: string) =>
    rampartAsync(['token', ...args], { cwd: t.dir, ...(input ? { input } : {}) });

  before(async () => {
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: t.dir });
  });
  after(async () => {
    await server.stop();
    t.cleanup();
  });

  it('issues into a mode-0600 file, or to stdout only when asked, never by default', async () => {
    const file = join(t.dir, 'agent.token');
    const r = await run([
      'issue',
      '--agent',
      'cli-bot',
      '--namespace',
      'ci',
      '--cap',
      'git.push',
      '--ttl',
      '5m',
      '-o',
      file,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(readFileSync(file, 'utf8'), /^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);
    assert.equal(r.stdout, '', 'nothing on stdout');
    assert.match(r.stderr, /valid until .* written to .*agent\.token \(mode 0600\)/);
    const out = await run(['issue', '--agent', 'cli-bot', '--namespace', 'ci', '--stdout']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^eyJ/);
    const neither = await run(['issue', '--agent', 'cli-bot', '--namespace', 'ci']);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /RAMPART_E_USAGE: say where the token goes/);
    const tooLong = await run([
      'issue',
      '--agent',
      'cli-bot',
      '--namespace',
      'ci',
      '--ttl',
      '1h',
      '--stdout',
    ]);
    assert.equal(tooLong.code, 2);
    assert.match(tooLong.stderr, /RAMPART_E_TOKEN_REQUEST_INVALID/);
  });

  it('verifies a token from a file or stdin; revokes it; verify then says why (exit 1)', async () => {
    const file = join(t.dir, 'v.token');
    assert.equal((await run(['issue', '--agent', 'checked', '--namespace', 'ci', '-o', file])).code, 0);
    const ok = await run(['verify', file]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).agent, 'checked');
    const viaStdin = await run(['verify'], readFileSync(file, 'utf8'));
    assert.equal(viaStdin.code, 0, viaStdin.stderr);
    const rv = await run(['revoke', '--agent', 'checked', '--reason', 'test']);
    assert.equal(rv.code, 0, rv.stderr);
    assert.equal(JSON.parse(rv.stdout).kind, 'agent');
    const refused = await run(['verify', file]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /token refused \(revoked\): tokens of agent checked are revoked/);
    const list = await run(['revocations']);
    assert.equal(list.code, 0);
    assert.ok(JSON.parse(list.stdout).revocations.some((r: { value: string }) => r.value === 'checked'));
    assert.equal((await run(['revoke', '--agent', 'x', '--run', 'y'])).code, 2);
  });

  it('rotates the signing key on demand', async () => {
    const r = await run(['rotate-key']);
    assert.equal(r.code, 0, r.stderr);
    const { kid, previous } = JSON.parse(r.stdout) as { kid: string; previous: string };
    assert.notEqual(kid, previous);
  });
});

// Every command example in README.md and docs/ is run, as written, against a real control plane:
// the documentation cannot drift from the CLI again. Each example (a `rampart` or `npx rampart`
// line in a shell code block, continuation lines joined, or a curl to the API) runs through
// `sh -c` in a directory holding the files the examples name, with `rampart` on PATH. An example
// passes when it is not refused as usage (exit 2, RAMPART_E_USAGE) and fails with no internal
// error; what an example documents as its exit status is its own business.
//
// Adjusted, and only so: the API's port (7070 in the docs) is the test control plane's; the
// command `rampart run` sandboxes is `true` (the docs' `claude -p ...` needs a model API);
// a token id written `01J...` is a real one; the Docker runtime's image is the test's busybox,
// on a private Engine. Long-running examples (`--follow`, `rampart
// proxy`) run until they are serving, then stop; `rampart up &` is the control plane this test
// started.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, ROOT, startServer, type Server } from '../support/cli.js';
import { adminToken, api } from '../support/http.js';
import { dockerSkip, importBusybox, startDockerd, type Dockerd } from '../support/docker.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import { until } from '../support/wait.js';

interface Example {
  readonly where: string;
  readonly text: string;
}

/** Every runnable example: `rampart ...` lines and API curls in sh/bash/console code blocks. */
export function examples(): Example[] {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) =>
    f.endsWith('.md'),
  );
  const out: Example[] = [];
  for (const f of files) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    for (const block of text.matchAll(/```(?:sh|bash|console|shell)\n([^]*?)```/g)) {
      const startLine = text.slice(0, block.index).split('\n').length + 1;
      const lines = block[1]!.split('\n');
      for (let i = 0; i < lines.length; i++) {
        let cmd = lines[i]!.replace(/^\$ /, '');
        const first = i;
        // A line goes on after a backslash, or while a quote is open (a JSON body over lines).
        const open = (t: string): boolean => (t.match(/'/g)?.length ?? 0) % 2 === 1;
        while ((cmd.endsWith('\\') || open(cmd)) && i + 1 < lines.length)
          cmd = (cmd.endsWith('\\') ? cmd.slice(0, -1) : cmd + ' ') + lines[++i]!.trim();
        cmd = cmd.replace(/\s{2,}#.*$/, '').trim();
        if (/^(npx )?rampart /.test(cmd) || /^curl .*127\.0\.0\.1:7070/.test(cmd))
          out.push({ where: `${f}:${startLine + first}`, text: cmd });
      }
    }
  }
  return out;
}

describe('every command example in the docs', { skip: sandboxSkip() }, () => {
  const cp = sandboxControlPlaneDir();
  const dir = cp.dir.dir;
  let server: Server;
  let env: NodeJS.ProcessEnv;
  const all = examples();
  const noDocker = dockerSkip();
  let dockerd: Dockerd | undefined;
  let image = '';

  before(async () => {
    // The files the examples name.
    const fx = join(ROOT, 'test', 'admission', 'fixtures');
    copyFileSync(join(fx, 'compose-good.yml'), join(dir, 'compose.yml'));
    writeFileSync(join(dir, 'compose.prod.yml'), 'services:\n  app:\n    mem_limit: 512m\n');
    copyFileSync(join(fx, 'vm-runner-bad.yml'), join(dir, 'stack.yml'));
    copyFileSync(join(fx, 'k8s-good.yaml'), join(dir, 'deploy.yaml'));
    mkdirSync(join(dir, 'k8s'));
    copyFileSync(join(fx, 'k8s-good.yaml'), join(dir, 'k8s', 'app.yaml'));
    writeFileSync(join(dir, 'admission.yaml'), 'registries: [registry.internal]\n');
    cpSync(join(ROOT, 'policies', 'default'), join(dir, 'policies'), { recursive: true });
    cpSync(join(ROOT, 'policies', 'default'), join(dir, 'old'), { recursive: true });
    cpSync(join(ROOT, 'policies', 'default'), join(dir, 'new'), { recursive: true });
    writeFileSync(
      join(dir, 'in.json'),
      JSON.stringify({
        principal: { type: 'agent', id: 'builder-7' },
        action: 'task.run',
        resource: { type: 'task', id: 't', namespace: 'ci' },
      }),
    );
    writeFileSync(
      join(dir, 'entities.yaml'),
      '- {type: agent, id: builder-7, attributes: {namespace: ci}}\n',
    );
    writeFileSync(join(dir, 'decisions.jsonl'), readFileSync(join(dir, 'in.json'), 'utf8') + '\n');
    mkdirSync(join(dir, 'checkout'), { mode: 0o777 });
    chmodSync(join(dir, 'checkout'), 0o777);
    writeFileSync(join(dir, 'gh.token'), 'ghp_exampleexampleexampleexample0000\n', { mode: 0o600 });
    // `rampart` on PATH, as an installed one would be.
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin', 'rampart'), `#!/bin/sh\nexec ${process.execPath} ${BIN} "$@"\n`, {
      mode: 0o755,
    });
    writeFileSync(join(dir, 'bin', 'npx'), '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
    // The Docker runtime's examples run on a private Engine, their image the test's busybox
    // (approved by its id, as the docs say to).
    if (!noDocker) {
      dockerd = await startDockerd();
      image = await importBusybox(dockerd);
      appendFileSync(
        join(dir, 'rampart.yaml'),
        `  docker:\n    socket: ${dockerd.socket}\n    images: ["${image}"]\n`,
      );
    }
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir });
    // $TOKEN, as the docs set it the line before (TOKEN=$(cat .rampart/admin.token)).
    env = {
      ...process.env,
      PATH: `${join(dir, 'bin')}:${process.env['PATH'] ?? ''}`,
      TOKEN: adminToken(dir),
    };
    const admin = api(server.url, adminToken(dir));
    await admin('PUT', '/v1/entities/agent/builder-7', { attributes: { namespace: 'ci' }, parents: [] });
  });
  after(async () => {
    await server?.stop();
    cp.cleanup();
    await dockerd?.stop();
  });

  it('finds the examples', () => {
    assert.ok(all.length >= 25, `${all.length} examples`);
  });

  for (const ex of all) {
    const docker = /--runtime (docker|swarm)/.test(ex.text);
    // This test's Engine is not a swarm (one swarm engine per host, and swarm.test.ts has it): a
    // swarm example must get as far as the Engine's swarm, its flags and image accepted.
    const swarm = /--runtime swarm/.test(ex.text);
    it(`${ex.where}: ${ex.text}`, { skip: docker && noDocker }, async () => {
      const port = new URL(server.url).port;
      let cmd = ex.text.replace(/127\.0\.0\.1:7070/g, `127.0.0.1:${port}`);
      if (/^(npx )?rampart up\b/.test(cmd)) return; // the control plane this test started
      if (/^rampart run /.test(cmd)) cmd = cmd.replace(/ -- .*$/, ' -- true');
      if (docker) cmd = cmd.replace(/--image \S+/, `--image ${image}`);
      // A file the docs write under /etc is written here instead: a test touches nothing of the host.
      cmd = cmd.replace(/(-o|--output) \/etc\/\S*\//g, '$1 ./');
      if (cmd.includes('01J...')) {
        const issued = spawnSync('rampart', ['token', 'issue', '--agent', 'builder-7', '--stdout'], {
          cwd: dir,
          env,
          encoding: 'utf8',
        });
        const jti = (
          JSON.parse(Buffer.from(issued.stdout.split('.')[1]!, 'base64url').toString()) as { jti: string }
        ).jti;
        cmd = cmd.replace('01J...', jti);
      }
      // Brackets mark optional parts in the docs: run them with the optional part.
      cmd = cmd.replace(/\[(--[^\]]+)\]/g, '$1');
      if (/ --follow\b|^rampart proxy |^curl -N /.test(cmd)) return longRunning(cmd.replace(/:7072\b/, ':0'));
      const r = spawnSync('sh', ['-c', cmd], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
      const out = `exit ${r.status}\n${r.stdout}\n${r.stderr}`;
      if (swarm)
        return assert.match(r.stderr, /RAMPART_E_RUNTIME: .* is not a manager of an active swarm/, out);
      assert.notEqual(r.status, 2, out);
      assert.doesNotMatch(
        r.stderr,
        /RAMPART_E_USAGE|RAMPART_E_INTERNAL|unknown (command|subcommand|option)/i,
        out,
      );
      // An API example answers, and not with an error body.
      if (cmd.startsWith('curl')) {
        assert.notEqual(r.stdout.trim(), '', out);
        assert.doesNotMatch(r.stdout, /"error":/, out);
      }
    });
  }

  /** Starts it, waits until it is serving (or fails if it exits first), then stops it. */
  async function longRunning(cmd: string): Promise<void> {
    const child = spawn('sh', ['-c', `exec ${cmd}`], { cwd: dir, env });
    let out = '';
    let exited: number | null | undefined;
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (exited = code));
    const admin = api(server.url, adminToken(dir));
    try {
      await until(async () => {
        if (exited !== undefined) return true;
        if (cmd.startsWith('rampart proxy')) return /ready/.test(out);
        if (cmd.startsWith('curl')) return out.includes(': rampart event stream');
        // The stream is open once the control plane counts its subscriber (a kept-alive
        // connection the server closed meanwhile is retried).
        const metrics = await admin('GET', '/metrics').catch(() => undefined);
        return /rampart_events_lag\{subscriber="sse-/.test(String(metrics?.json ?? ''));
      }, `${cmd} serving`);
      assert.equal(exited, undefined, `${cmd} exited ${exited}: ${out}`);
    } finally {
      child.kill();
    }
  }
});

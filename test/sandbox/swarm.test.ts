// The Swarm runtime: a run as a one-replica service on a private one-node swarm (Debian's dockerd
// 20.10, its node defaults set as daemon.json would: no-new-privileges and Rampart's seccomp
// profile). The shared conformance suite runs here (one swarm engine at a time on a host: each
// puts docker_gwbridge in the host's network namespace), then what only Swarm has: its secrets,
// the run's own network, the node defaults Rampart relies on, and what is left after a run.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server as Server_ } from 'node:http';
import { networkInterfaces } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RampartError } from '../../src/core/errors.js';
import { dockerSeccompProfile } from '../../src/sandbox/seccomp.js';
import { checkSeccompDefault } from '../../src/sandbox/swarm/host.js';
import { verifyProcess } from '../../src/sandbox/swarm/run.js';
import { BIN, rampart, rampartAsync, startServer, type Server } from '../support/cli.js';
import { conformance } from '../support/conformance.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { dockerSkip, importBusybox, startDockerd, type Dockerd } from '../support/docker.js';
import {
  sandboxControlPlaneDir,
  sandboxHarness,
  sandboxSkip,
  type SandboxHarness,
} from '../support/sandbox.js';
import { tempDir } from '../support/tmp.js';
import { detection, freezerState, responseAction } from '../support/detections.js';
import { eventually } from '../support/wait.js';

const sh = (script: string): string[] => ['/bin/busybox', 'sh', '-c', script];
const skip = sandboxSkip() || dockerSkip();

/** One swarm engine for the whole file, started by the first suite that needs it. */
let engine: Promise<{ d: Dockerd; image: string }> | undefined;
function swarm(): Promise<{ d: Dockerd; image: string }> {
  return (engine ??= (async () => {
    // The node's profile as an operator gets it (docs/runtimes.md): `rampart harden --seccomp-profile`.
    const profile = rampart(['harden', '--seccomp-profile'], { cwd: '/' });
    if (profile.code !== 0) throw new Error(profile.stderr);
    const d = await startDockerd({ swarm: { seccompProfile: profile.stdout } });
    try {
      return { d, image: await importBusybox(d) };
    } catch (e) {
      await d.stop();
      throw e;
    }
  })());
}

// Every suite below shares the engine; it goes when the file is done.
after(async () => {
  if (engine) await (await engine).d.stop();
});

conformance({
  name: 'swarm',
  skip,
  async setup() {
    const { d, image } = await swarm();
    return {
      harness: sandboxHarness({ socket: d.socket, image, runtime: 'swarm' }),
      stop: () => Promise.resolve(),
    };
  },
});

describe('swarm runtime', { skip }, () => {
  let h: SandboxHarness;
  let d: Dockerd;
  let server: Server_;
  let port: number;
  before(async () => {
    let image: string;
    ({ d, image } = await swarm());
    h = sandboxHarness({ socket: d.socket, image, runtime: 'swarm' });
    // A service on every address of the host, which no task may reach.
    server = createServer((_q, r) => r.end('HOST-SERVICE-ANSWERED'));
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server?.close();
    h?.cleanup();
  });

  const listed = async (kind: 'services' | 'networks' | 'secrets', runId: string): Promise<number> => {
    const filter = encodeURIComponent(JSON.stringify({ label: [`io.rampart.run=${runId}`] }));
    const r = await d.api('GET', `/${kind}?filters=${filter}`);
    assert.equal(r.status, 200, r.body);
    return (JSON.parse(r.body) as unknown[]).length;
  };

  it('proves the baseline from inside the task: pid 1 has a filter, no privileges to gain, no capabilities', async () => {
    const r = await h.run({
      command: sh('busybox grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/1/status'),
    });
    assert.deepEqual(
      Object.fromEntries(
        r.stdout
          .trim()
          .split('\n')
          .map((l) => l.split(/:\s+/)),
      ),
      {
        CapEff: '0000000000000000',
        CapBnd: '0000000000000000',
        NoNewPrivs: '1',
        Seccomp: '2',
      },
    );
  });

  it("delivers secrets as the run's own Swarm secrets, and removes them, its service and its network after", async () => {
    const spec = h.svc.prepare({
      agent: 'tester',
      workspace: h.workspace(),
      command: sh(
        'busybox stat -c "%a %u" /run/secrets/api; cat /run/secrets/api; echo; echo up; busybox sleep 60',
      ),
      secrets: new Map([['api', Buffer.from('SWARM-SECRET-1')]]),
      stdio: 'pipe',
    });
    const run = await h.start(spec);
    let out = '';
    await new Promise<void>((r) =>
      run.stdout.on('data', (c: Buffer) => ((out += c.toString()), out.includes('up') && r())),
    );
    assert.equal(out, `400 ${spec.uid}\nSWARM-SECRET-1\nup\n`);
    assert.equal(await listed('secrets', spec.id), 1);
    assert.equal(await listed('services', spec.id), 1);
    assert.equal(await listed('networks', spec.id), 1);
    // The secret's value is not readable back through the API (Swarm never returns it).
    const secrets = await d.api('GET', '/secrets');
    assert.ok(!secrets.body.includes(Buffer.from('SWARM-SECRET-1').toString('base64')));
    h.twin().kill(spec.id, 0);
    await run.done;
    await run.cleaned();
    h.svc.uids.release(spec.uid);
    assert.equal(await listed('secrets', spec.id), 0);
    assert.equal(await listed('services', spec.id), 0);
    // The swarm's network is gone; the node's copy goes when the swarm's agent has reaped the task.
    await eventually(
      async () => ((await listed('networks', spec.id)) === 0 ? true : undefined),
      "the run's network to be gone from the node",
    );
  });

  it("is on its own internal network: no route out, nothing of the host's answers", async () => {
    const addrs = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a && a.family === 'IPv4')
      .map((a) => a!.address);
    const tries = addrs.map((a) => `busybox nc -w 2 ${a} ${port} </dev/null; `).join('');
    const r = await h.run({ command: sh(`busybox ip route; ${tries} echo done`) });
    assert.ok(!/default/.test(r.stdout), `a default route: ${r.stdout}`);
    assert.ok(!r.stdout.includes('HOST-SERVICE-ANSWERED'), r.stdout);
    assert.match(r.stdout, /done\n$/);
  });

  it("refuses a node whose default seccomp profile is not Rampart's", () => {
    const dir = tempDir();
    try {
      const other = join(dir.dir, 'other.json');
      writeFileSync(other, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW' }));
      const ours = join(dir.dir, 'ours.json');
      writeFileSync(ours, dockerSeccompProfile());
      for (const opt of [
        'name=seccomp,profile=default',
        'name=seccomp,profile=unconfined',
        `name=seccomp,profile=${other}`,
      ])
        assert.throws(
          () => checkSeccompDefault(['name=apparmor', opt]),
          (e: unknown) => e instanceof RampartError && e.code === 'RAMPART_E_RUNTIME',
          opt,
        );
      assert.throws(() => checkSeccompDefault([]), /absent/);
      checkSeccompDefault([`name=seccomp,profile=${ours}`]);
    } finally {
      dir.cleanup();
    }
  });

  it('never releases a task process that could gain privileges, has capabilities or no filter', async () => {
    // A process of this host (root, unconfined) in place of a task's: every check says why.
    const p = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise<void>((r) => p.once('spawn', () => r()));
      assert.throws(
        () => verifyProcess(p.pid!, 2_100_000_123),
        (e: unknown) =>
          e instanceof RampartError &&
          /uid 0/.test(e.message) &&
          /may gain privileges/.test(e.message) &&
          /no seccomp filter/.test(e.message) &&
          /capabilities/.test(e.message),
      );
    } finally {
      p.kill('SIGKILL');
    }
  });

  it('refuses a profile that adds syscalls (a service cannot have a seccomp profile of its own)', async () => {
    const spec = h.svc.prepare({ agent: 'tester', workspace: h.workspace(), command: ['/bin/true'] });
    try {
      await assert.rejects(
        h.svc.swarmPlan(spec, 'sha256:' + '0'.repeat(64), {
          token: false,
          bridge: '/bin/true',
          seccompExtra: ['ptrace'],
        }),
        /cannot be given/,
      );
    } finally {
      h.svc.uids.release(spec.uid);
    }
  });
});

describe('rampart run --runtime swarm', { skip }, () => {
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let server: Server;
  let admin: Api;
  let origin: Server_;
  let port = 0;
  let d: Dockerd;

  before(async () => {
    let image: string;
    ({ d, image } = await swarm());
    origin = createServer((req, res) => res.end(`origin saw ${req.method} ${req.url}`));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.2', r));
    port = (origin.address() as AddressInfo).port;
    cp = sandboxControlPlaneDir(
      `  runtime: swarm\n  docker:\n    socket: ${d.socket}\n    images: ["${image}"]\n` +
        `egress:\n  allow_ranges: [127.0.0.2/32]\n  allow: ['127.0.0.2:${port}']\n`,
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
    admin = api(server.url, adminToken(cp.dir.dir));
    writeFileSync(join(cp.dir.dir, 'api.secret'), 'SWEPT-SECRET', { mode: 0o600 });
  });
  after(async () => {
    origin?.close();
    await server?.stop();
    cp?.cleanup();
  });

  it('runs as a service, on record with its runtime, image and admission verdict, through redaction and its egress channel', async () => {
    const r = await rampartAsync(
      [
        'run',
        '--image',
        'rampart-test/busybox:1',
        '--agent',
        'swarmed',
        '--',
        '/bin/busybox',
        'sh',
        '-c',
        `busybox wget -q -O- http://127.0.0.2:${port}/in; echo; busybox wget -q -O- http://127.0.0.2:${port + 1}/ 2>&1 | busybox head -1; echo "key AKIAQYLPMN5HHHFPZAM2"; exit 3`,
      ],
      { cwd: cp.dir.dir },
    );
    assert.equal(r.code, 3, r.stderr);
    const [first, second, third] = r.stdout.split('\n');
    assert.equal(first, 'origin saw GET /in');
    assert.match(second ?? '', /403|Forbidden/);
    assert.equal(third, 'key [REDACTED-AWS-ACCESS-KEY-ID]');
    const started = await eventually(async () => {
      const recs = ((await admin('GET', '/v1/audit/records?limit=1000')).json as { records: Json[] }).records;
      return recs.find((x) => x.action === 'event.sandbox.run_started' && x.details.data.agent === 'swarmed');
    }, 'the run_started record');
    assert.equal(started.details.data.runtime, 'swarm');
    assert.deepEqual(started.details.data.admission, [{ check: 'healthcheck', severity: 'info' }]);
    const left = await d.docker(['service', 'ls', '-q', '--filter', 'label=io.rampart.run']);
    assert.equal(left.stdout.trim(), '');
  });

  it('is watched and contained like any run: a read of /etc/shadow in the task is detected and the task frozen', async () => {
    const r = rampartAsync(
      [
        'run',
        '--image',
        'rampart-test/busybox:1',
        '--agent',
        'swarm-watched',
        '--',
        '/bin/busybox',
        'sh',
        '-c',
        'busybox cat /etc/shadow > /dev/null 2>&1; busybox sleep 30',
      ],
      { cwd: cp.dir.dir },
    );
    const d = await detection(admin, 'shadow-file-read', 'swarm-watched', 15_000);
    assert.match(d.output, /read \/etc\/shadow in run run_/);
    // The shipped credential-access playbook freezes the run: the task's process is in the run's
    // cgroup, so the freezer holds it, checked from outside.
    const run = d.run as string;
    const frozen = await responseAction(admin, run, 'freeze');
    assert.equal(frozen.playbook, 'credential-access');
    assert.equal(freezerState(cp.cgroupParent, run), 'FROZEN');
    assert.equal((await rampartAsync(['kill', run], { cwd: cp.dir.dir })).code, 0);
    assert.notEqual((await r).code, 0);
  });

  it('leaves nothing on the swarm when its runner is killed: the control plane sweeps it', async () => {
    const runner = spawn(
      process.execPath,
      [
        BIN,
        'run',
        '--image',
        'rampart-test/busybox:1',
        '--agent',
        'orphaned',
        '--secret',
        'api=api.secret',
        '--',
        '/bin/busybox',
        'sh',
        '-c',
        'echo up; busybox sleep 60',
      ],
      { cwd: cp.dir.dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    await new Promise<void>((r) =>
      runner.stdout.on('data', (c: Buffer) => c.toString().includes('up') && r()),
    );
    const service = await d.docker([
      'service',
      'ls',
      '--filter',
      'label=io.rampart.agent=orphaned',
      '--format',
      '{{.Name}}',
    ]);
    const runId = service.stdout.trim().replace(/^rampart-/, '');
    assert.match(runId, /^run_/);
    const labelled = async (kind: string): Promise<string> =>
      (await d.docker([kind, 'ls', '-q', '--filter', `label=io.rampart.run=${runId}`])).stdout.trim();
    for (const kind of ['service', 'secret', 'network']) assert.notEqual(await labelled(kind), '', kind);
    runner.kill('SIGKILL');
    for (const kind of ['service', 'secret', 'network'])
      await eventually(
        async () => ((await labelled(kind)) === '' ? true : undefined),
        `the run's ${kind} to be swept`,
        30_000,
      );
  });
});

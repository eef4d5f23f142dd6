// `rampart run --runtime docker` as an operator uses it: a control plane, a private Docker Engine
// (Debian's dockerd 20.10) and a busybox image imported for the test and approved by its id in
// sandbox.docker.images. The run is on record with its runtime and image, reaches an allowed
// host through its egress channel and nothing else, is refused an image off the list (even by a
// tag that names an approved one elsewhere), and is ended by `rampart kill` and the kill switch
// from another process. The conformance suite (conformance.test.ts) holds the rest.

import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { rampart, rampartAsync, startServer, type Server } from '../support/cli.js';
import { dockerSkip, importBusybox, startDockerd, type Dockerd } from '../support/docker.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import { detection, freezerState, responseAction } from '../support/detections.js';
import { eventually } from '../support/wait.js';

const skip = sandboxSkip() || dockerSkip();

describe('rampart run --runtime docker', { skip }, () => {
  let d: Dockerd;
  let image: string;
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let server: Server;
  let admin: Api;
  let origin: HttpServer;
  let port = 0;

  before(async () => {
    d = await startDockerd();
    image = await importBusybox(d);
    await importBusybox(d, 'rampart-test/unapproved:1');
    origin = createServer((req, res) => res.end(`origin saw ${req.method} ${req.url}`));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.2', r));
    port = (origin.address() as AddressInfo).port;
    cp = sandboxControlPlaneDir(
      `  runtime: docker\n  docker:\n    socket: ${d.socket}\n    images: ["${image}"]\n` +
        `  profiles:\n    tunnel:\n      devices: [/dev/net/tun]\n` +
        `egress:\n  allow_ranges: [127.0.0.2/32]\n  allow: ['127.0.0.2:${port}']\n`,
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
    admin = api(server.url, adminToken(cp.dir.dir));
  });
  after(async () => {
    origin.close();
    await server?.stop();
    cp?.cleanup();
    await d?.stop();
  });

  const run = (args: string[], script: string): ReturnType<typeof rampartAsync> =>
    rampartAsync(
      ['run', '--image', 'rampart-test/busybox:1', ...args, '--', '/bin/busybox', 'sh', '-c', script],
      {
        cwd: cp.dir.dir,
      },
    );

  it('is watched and contained like any run: a read of /etc/shadow in the container is detected and the container frozen', async () => {
    const r = run(['--agent', 'watched-box'], 'cat /etc/shadow > /dev/null 2>&1; sleep 30');
    const d = await detection(admin, 'shadow-file-read', 'watched-box');
    assert.match(d.output, /^cat read \/etc\/shadow in run run_/);
    // The shipped credential-access playbook freezes the run: its container with it (the
    // container lives in the run's cgroup), checked from outside.
    const run_ = d.run as string;
    const frozen = await responseAction(admin, run_, 'freeze');
    assert.equal(frozen.playbook, 'credential-access');
    assert.equal(freezerState(cp.cgroupParent, run_), 'FROZEN');
    assert.equal((await rampartAsync(['kill', run_], { cwd: cp.dir.dir })).code, 0);
    assert.notEqual((await r).code, 0);
  });

  it('runs in a container, on record with its runtime and image', async () => {
    const r = await run(['--agent', 'boxed'], 'echo hello from $(busybox hostname); exit 4');
    assert.equal(r.code, 4, r.stderr);
    assert.equal(r.stdout, 'hello from sandbox\n');
    const started = await eventually(async () => {
      const recs = ((await admin('GET', '/v1/audit/records?limit=1000')).json as { records: Json[] }).records;
      return recs.find((x) => x.action === 'event.sandbox.run_started' && x.details.data.agent === 'boxed');
    }, 'the run_started record');
    assert.equal(started.details.data.runtime, 'docker');
    assert.equal(started.details.data.image, image);
    // The admission verdict on the container, as started: nothing at or above high.
    assert.deepEqual(started.details.data.admission, [{ check: 'healthcheck', severity: 'info' }]);
    // Nothing of the run is left on the Engine.
    const left = await d.docker(['ps', '-aq', '--filter', 'label=io.rampart.run']);
    assert.equal(left.stdout.trim(), '');
  });

  it("passes the run's output through redaction to the terminal, and keeps its end with the record", async () => {
    const r = await run(
      ['--agent', 'leaky'],
      'echo "key AKIAQYLPMN5HHHFPZAM2 in stdout"; echo "password=Sup3rS3cret!xy on stderr" >&2',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'key [REDACTED-AWS-ACCESS-KEY-ID] in stdout\n');
    assert.match(r.stderr, /password=\[REDACTED-PASSWORD\] on stderr/);
    assert.ok(!r.stderr.includes('Sup3rS3cret'));
    // Its end is kept with the run's record, redacted as the terminal saw it.
    const runs = ((await admin('GET', '/v1/runs')).json as { runs: Json[] }).runs;
    const tail = runs.find((x: Json) => x.agent === 'leaky').result.output_tail as string;
    assert.match(tail, /key \[REDACTED-AWS-ACCESS-KEY-ID\] in stdout/);
    assert.match(tail, /password=\[REDACTED-PASSWORD\] on stderr/);
    assert.ok(!tail.includes('AKIAQYLPMN5HHHFPZAM2') && !tail.includes('Sup3rS3cret'));
  });

  it('reaches an allowed host through its egress channel, and nothing else', async () => {
    const r = await run(
      ['--agent', 'fetcher'],
      `busybox wget -q -O- http://127.0.0.2:${port}/in; echo; busybox wget -q -O- http://127.0.0.2:${port + 1}/ 2>&1 | busybox head -1`,
    );
    assert.equal(r.code, 0, r.stderr);
    const [first, second] = r.stdout.split('\n');
    assert.equal(first, 'origin saw GET /in');
    assert.match(second ?? '', /403|Forbidden/);
  });

  it('refuses an image that is not approved by digest, and runs nothing', async () => {
    // Imported again: the same files, another image (its id is its own digest).
    const r = await rampartAsync(['run', '--image', 'rampart-test/unapproved:1', '--', 'true'], {
      cwd: cp.dir.dir,
    });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /RAMPART_E_IMAGE_NOT_ALLOWED: image rampart-test\/unapproved:1 \(sha256:[0-9a-f]{64}\) is not approved/,
    );
    assert.match(r.stderr, /sandbox\.docker\.images/);
    // Another name for the approved image is the approved image: approval is by digest.
    assert.equal((await d.docker(['tag', image, 'elsewhere/alias:7'])).code, 0);
    const alias = await rampartAsync(['run', '--image', 'elsewhere/alias:7', '--', '/bin/busybox', 'true'], {
      cwd: cp.dir.dir,
    });
    assert.equal(alias.code, 0, alias.stderr);
    const missing = await rampartAsync(['run', '--image', 'rampart-test/nowhere:1', '--', 'true'], {
      cwd: cp.dir.dir,
    });
    assert.equal(missing.code, 2);
    assert.match(
      missing.stderr,
      /RAMPART_E_IMAGE_NOT_ALLOWED: image rampart-test\/nowhere:1 is not on this Docker Engine/,
    );
    const noImage = rampart(['run', '--', 'true'], { cwd: cp.dir.dir });
    assert.equal(noImage.code, 2);
    assert.match(noImage.stderr, /--runtime docker needs --image/);
  });

  it('puts every container through admission first: a profile the checks refuse starts nothing', async () => {
    const r = await run(['--profile', 'tunnel'], 'echo should-not-run');
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /RAMPART_E_RUN_INVALID: admission refuses run run_\w+'s container: high devices-allowed: container gets device \/dev\/net\/tun/,
    );
    assert.ok(!r.stdout.includes('should-not-run'));
    const left = await d.docker(['ps', '-aq']);
    assert.equal(left.stdout.trim(), '');
  });

  it('is ended by rampart kill and by the kill switch, from another process', async () => {
    const running = run(['--agent', 'long'], 'echo up; busybox sleep 60');
    const id = await eventually(async () => {
      const runs = ((await admin('GET', '/v1/runs')).json as { runs: Json[] }).runs;
      return runs.find((x: Json) => x.agent === 'long' && x.status === 'running')?.id as string | undefined;
    }, 'the running run');
    const k = rampart(['kill', id, '--reason', 'test kill'], { cwd: cp.dir.dir });
    assert.equal(k.code, 0, k.stderr);
    const r = await running;
    assert.equal(r.code, 137, r.stderr);
    assert.match(r.stderr, /was killed by admin: test kill/);

    const many = [0, 1, 2].map(() => run(['--agent', 'many'], 'busybox sleep 60'));
    await eventually(async () => {
      const runs = ((await admin('GET', '/v1/runs')).json as { runs: Json[] }).runs;
      return runs.filter((x: Json) => x.agent === 'many' && x.status === 'running').length === 3 || undefined;
    }, 'three running runs');
    const all = rampart(['destroy', '--all', '--reason', 'drill'], { cwd: cp.dir.dir });
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^destroyed 3 run\(s\)/);
    for (const m of await Promise.all(many)) assert.equal(m.code, 137);
  });
});

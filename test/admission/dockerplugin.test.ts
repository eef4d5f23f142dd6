// The Docker authorization plugin against a real Engine: Debian's dockerd started with
// --authorization-plugin pointing at a real `rampart up`. Everyday requests pass (docker info,
// _ping, pulls of nothing, a hardened create), the docker CLI's --privileged and the raw-API
// spellings an attacker would try (keys in other cases, repeated keys, a privileged exec) are
// refused, and with the control plane gone the Engine refuses everything: fail closed.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { provisionKeyPath, readProvisionKey, signBody } from '../../src/core/provenance.js';
import { rampartAsync, startServer, type Server } from '../support/cli.js';
import { dockerSkip, importBusybox, startDockerd, type Dockerd } from '../support/docker.js';
import { adminToken, api } from '../support/http.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';

const skip = dockerSkip() || sandboxSkip();
const IMAGE = 'rampart-test/busybox:1';
const HARDENED = [
  '--read-only',
  '--cap-drop',
  'ALL',
  '--security-opt',
  'no-new-privileges',
  '--user',
  '1000:1000',
  '--memory',
  '64m',
  '--cpus',
  '1',
  '--pids-limit',
  '64',
  '--network',
  'none',
  '--restart',
  'no',
  '--health-cmd',
  'true',
];

describe('Docker authorization plugin with a real dockerd', { skip }, () => {
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let server: Server;
  let d: Dockerd;
  let image = '';
  const name = `rampart-test-${randomBytes(4).toString('hex')}`;
  const socket = `/run/docker/plugins/${name}.sock`;

  before(async () => {
    mkdirSync('/run/docker/plugins', { recursive: true });
    cp = sandboxControlPlaneDir(`admission:\n  docker_plugin:\n    socket: ${socket}\n`);
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
    d = await startDockerd({ authzPlugin: name });
    image = await importBusybox(d, IMAGE);
    // `rampart run`'s configuration: the control plane's, with this Engine and its image.
    const config = readFileSync(join(cp.dir.dir, 'rampart.yaml'), 'utf8').replace(
      'sandbox:\n',
      `sandbox:\n  docker:\n    socket: ${d.socket}\n    images: ["${image}"]\n`,
    );
    writeFileSync(join(cp.dir.dir, 'run.yaml'), config);
  });
  after(async () => {
    await d?.stop();
    await server?.stop();
    cp?.cleanup();
  });

  it('lets everyday requests through: info, version, _ping, images', async () => {
    for (const args of [['info'], ['version'], ['images']]) {
      const r = await d.docker(args);
      assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    }
    assert.equal((await d.api('HEAD', '/_ping')).status, 200);
  });

  it("says in the control plane's health that dockerd depends on it", async () => {
    const admin = api(server.url, adminToken(cp.dir.dir));
    const h = (await admin('GET', '/v1/health')).json as { components: Record<string, { detail: string }> };
    assert.match(
      h.components['admission']!.detail,
      /Docker plugin on .*refuses every request while it is down/,
    );
  });

  it('admits a hardened create and refuses `docker create --privileged`', async () => {
    const ok = await d.docker(['create', ...HARDENED, IMAGE, 'true']);
    assert.equal(ok.code, 0, ok.stderr);
    const bad = await d.docker(['create', ...HARDENED, '--privileged', IMAGE, 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(
      bad.stderr,
      /authorization denied by plugin .*rampart: denied by .*no-privileged \(critical\)/,
    );
  });

  it('refuses the raw-API spellings the Engine reads as privileged, host mounts and host PID', async () => {
    const base = '{"Image":"rampart-test/busybox:1","User":"1000:1000"';
    const bodies: [string, RegExp][] = [
      [
        `${base},"HostConfig":{"privileged":true,"binds":["/:/host"],"pidmode":"host"}}`,
        /no-privileged.*no-host-pid|no-host-pid.*no-privileged/,
      ],
      [`${base},"HostConfig":{"Privileged":false,"privileged":true}}`, /no-privileged/],
      [`${base},"HostConfig":{"Privileged":true},"hostconfig":{"Memory":67108864}}`, /no-privileged/],
      [`${base},"HostConfig":{"Privileged":true,"Privileged":null}}`, /no-privileged/],
      [`${base},"HOSTCONFIG":{"BINDS":["/etc:/e"]}}`, /no-host-mounts/],
      [`${base},"HostConfig":{"MaskedPaths":[]}}`, /no-unmasked-paths/],
    ];
    for (const [body, why] of bodies) {
      const r = await d.api('POST', '/containers/create', body);
      assert.equal(r.status, 403, `${body} was not refused: ${r.status} ${r.body}`);
      assert.match(r.body, why, body);
    }
  });

  it('refuses a privileged exec however it is spelled, and allows a plain one', async () => {
    const created = await d.docker(['run', '-d', ...HARDENED, IMAGE, 'sleep', '300']);
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    for (const body of [
      '{"Cmd":["id"],"privileged":true}',
      '{"Cmd":["id"],"Privileged":false,"PRIVILEGED":true}',
    ]) {
      const r = await d.api('POST', `/containers/${id}/exec`, body);
      assert.equal(r.status, 403, `${body}: ${r.body}`);
      assert.match(r.body, /privileged exec is denied/);
    }
    assert.equal((await d.api('POST', `/containers/${id}/exec`, '{"Cmd":["id"]}')).status, 201);
    const update = await d.api('POST', `/containers/${id}/update`, '{"pidslimit":-1}');
    assert.equal(update.status, 403, update.body);
    await d.docker(['rm', '-f', id]);
  });

  it("admits the containers `rampart run` makes (signed by the control plane's key), though they bind host paths", async () => {
    const r = await rampartAsync(
      [
        'run',
        '-c',
        'run.yaml',
        '--runtime',
        'docker',
        '--image',
        IMAGE,
        '--no-network',
        '--',
        '/bin/busybox',
        'echo',
        'admitted',
      ],
      { cwd: cp.dir.dir },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'admitted\n');
  });

  it('refuses a body that claims to be a run unless signed, unaltered and new', async () => {
    const key = readProvisionKey(provisionKeyPath(join(cp.dir.dir, '.rampart')));
    const labels: Record<string, string> = { 'io.rampart.run': 'run_claimed' };
    const body = {
      Image: image,
      User: '1000:1000',
      Labels: labels,
      HostConfig: { Binds: ['/etc:/host-etc:ro'] },
    };
    // Unsigned: a run label is a claim, and a claim needs Rampart's signature.
    const unsigned = await d.api('POST', '/containers/create', JSON.stringify(body));
    assert.equal(unsigned.status, 403, unsigned.body);
    assert.match(unsigned.body, /without a Rampart signature/);
    // Signed by another key.
    const forged = signBody(body, labels, randomBytes(32), Date.now()).toString();
    assert.match((await d.api('POST', '/containers/create', forged)).body, /does not match/);
    // Signed, then one setting changed on the way: the bytes are what is signed.
    const signed = signBody(body, labels, key, Date.now()).toString();
    const altered = signed.replace('"User":"1000:1000"', '"User":"0:0"');
    assert.match((await d.api('POST', '/containers/create', altered)).body, /does not match/);
    // Signed and unaltered: admitted once (its host bind included), refused when replayed.
    const first = await d.api('POST', '/containers/create', signed);
    assert.equal(first.status, 201, first.body);
    const replay = await d.api('POST', '/containers/create', signed);
    assert.equal(replay.status, 403, replay.body);
    assert.match(replay.body, /good for one create/);
    // An expired signature is refused.
    const old = signBody(body, labels, key, Date.now() - 600_000).toString();
    assert.match((await d.api('POST', '/containers/create', old)).body, /expired/);
    await d.api('DELETE', `/containers/${(JSON.parse(first.body) as { Id: string }).Id}?force=1`);
  });

  it('with the control plane gone, the Engine refuses every request (fail closed)', async () => {
    await server.stop();
    const r = await d.docker(['info']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /plugin|authorization/i);
    const c = await d.docker(['create', ...HARDENED, IMAGE, 'true']);
    assert.notEqual(c.code, 0);
  });
});

// A real `rampart run` sandbox reaching the network through its egress channel: the proxy names
// the run from the socket the connection arrived on (no token is sent), policy still applies,
// the run cannot go around the proxy, Node's fetch() follows the proxy, and the channel is gone
// once the run ends.

import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rampartAsync, startServer, type Server } from '../support/cli.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import type { TempDir } from '../support/tmp.js';
import { eventually } from '../support/wait.js';

const skip = sandboxSkip();

describe('sandbox traffic through the egress channel', { skip }, () => {
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let dir: TempDir;
  let server: Server;
  let admin: Api;
  let origin: HttpServer;
  let port = 0;

  before(async () => {
    origin = createServer((req, res) => res.end(`origin saw ${req.method} ${req.url}`));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.2', r));
    port = (origin.address() as AddressInfo).port;
    // Playbooks off: these runs go around the proxy on purpose, and a freeze would race their end.
    cp = sandboxControlPlaneDir(
      `egress:\n  allow_ranges: [127.0.0.2/32]\n  allow: ['127.0.0.2:${port}']\nrespond:\n  enabled: false\n`,
    );
    dir = cp.dir;
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
    admin = api(server.url, adminToken(dir.dir));
  });
  after(async () => {
    origin.close();
    await server.stop();
    cp.cleanup();
  });

  const egressRecords = async (): Promise<Json[]> =>
    ((await admin('GET', '/v1/audit/records?limit=1000')).json as { records: Json[] }).records.filter(
      (r: Json) => r.action === 'event.egress.connection',
    );

  const run = (
    agent: string,
    ...cmd: string[]
  ): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    rampartAsync(['run', '--agent', agent, '--', ...cmd], { cwd: dir.dir });

  /** The HTTP status curl got through the proxy, from inside a sandbox. */
  const status = async (agent: string, url: string): Promise<string> =>
    (await run(agent, 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', url)).stdout;

  it('reaches an allowed host with curl, and the record names the run and agent from the channel', async () => {
    const r = await run('curler', 'curl', '-sS', '--max-time', '5', `http://127.0.0.2:${port}/hello`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'origin saw GET /hello');
    const rec = await eventually(
      async () => (await egressRecords()).find((e) => e.details.data.agent === 'curler'),
      'the connection record',
    );
    assert.equal(rec.details.data.decision, 'allow');
    assert.match(rec.details.data.run as string, /^run_/);
    // A CONNECT tunnel through the bridge, as HTTPS clients make.
    const tunnel = await run('curler', 'curl', '-sS', '--proxytunnel', `http://127.0.0.2:${port}/tunnel`);
    assert.equal(tunnel.stdout, 'origin saw GET /tunnel', tunnel.stderr);
    assert.equal(await status('curler', `http://127.0.0.2:${port + 1}/`), '403');
  });

  it('is refused what the rules do not allow, and the refusal is on record', async () => {
    assert.equal(await status('blocked', 'http://169.254.169.254/latest/meta-data/'), '403');
    const rec = await eventually(
      async () => (await egressRecords()).find((e) => e.details.data.agent === 'blocked'),
      'the refusal',
    );
    assert.equal(rec.details.data.decision, 'deny');
  });

  it('cannot go around the proxy, nor claim another identity through it', async () => {
    // Directly: the sandbox has no route off its own loopback.
    const direct = await run(
      'sneaky',
      'curl',
      '-sS',
      '--noproxy',
      '*',
      '--max-time',
      '3',
      `http://127.0.0.2:${port}/`,
    );
    assert.notEqual(direct.code, 0);
    assert.doesNotMatch(direct.stdout, /origin saw/);
    // A forged token in Proxy-Authorization changes nothing: the channel names the caller.
    const forged = await run(
      'sneaky',
      'curl',
      '-sS',
      '--proxy-header',
      'Proxy-Authorization: Bearer forged',
      `http://127.0.0.2:${port}/forged`,
    );
    assert.equal(forged.stdout, 'origin saw GET /forged');
    const rec = await eventually(
      async () =>
        (await egressRecords()).find(
          (e) => e.details.data.agent === 'sneaky' && e.details.data.decision === 'allow',
        ),
      'the record',
    );
    assert.equal(rec.details.data.agent, 'sneaky');
  });

  it("makes Node's fetch() use the proxy", async () => {
    const r = await run(
      'noder',
      process.execPath,
      '-e',
      `fetch('http://127.0.0.2:${port}/from-node').then((r) => r.text()).then((t) => process.stdout.write(t))`,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'origin saw GET /from-node');
  });

  it('has no network with --no-network, and leaves no channel behind', async () => {
    const r = await rampartAsync(
      ['run', '--agent', 'offline', '--no-network', '--', 'sh', '-c', 'echo "$HTTPS_PROXY"; ls /run/rampart'],
      { cwd: dir.dir },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /127\.0\.0\.1:3128|egress/);
    const channels = join(dir.dir, 'ws', '.egress');
    await eventually(
      async () => !existsSync(channels) || readdirSync(channels).length === 0,
      'no channel left',
    );
    const health = (await admin('GET', '/v1/health')).json;
    assert.match(health.components.egress.detail, /0 run channel/);
  });
});

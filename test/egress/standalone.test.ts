// `rampart proxy`: the egress proxy on its own, beside `rampart up` on the same data directory.
// Callers outside a sandbox name themselves with a workload token; connections land in the shared
// audit log; stopping the proxy leaves the control plane's discovery file alone.

import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rampartAsync, startProxy, startServer, type Server } from '../support/cli.js';
import { curlViaProxy } from '../support/curl.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { tempDir, type TempDir } from '../support/tmp.js';
import { eventually } from '../support/wait.js';

describe('rampart proxy', () => {
  let dir: TempDir;
  let origin: HttpServer;
  let port = 0;
  let server: Server;
  let proxy: Server;
  let admin: Api;

  before(async () => {
    dir = tempDir();
    origin = createServer((req, res) => res.end(`origin saw ${req.url}`));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.2', r));
    port = (origin.address() as AddressInfo).port;
    writeFileSync(
      join(dir.dir, 'rampart.yaml'),
      `egress:\n  allow_ranges: [127.0.0.2/32]\n  allow: ['127.0.0.2:${port}']\n`,
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
    admin = api(server.url, adminToken(dir.dir));
    proxy = await startProxy([], { cwd: dir.dir });
  });
  after(async () => {
    origin.close();
    await proxy.stop().catch(() => undefined);
    await server.stop();
    dir.cleanup();
  });

  it('serves callers with a workload token and records them in the shared audit log', async () => {
    const token = (await admin('POST', '/v1/tokens', { agent: 'outside', namespace: 'ci' })).json
      .token as string;
    const ok = await curlViaProxy(proxy.url, `http://127.0.0.2:${port}/ok`, token, dir.dir);
    assert.equal(ok.code, '200');
    assert.equal(ok.body, 'origin saw /ok');
    assert.equal((await curlViaProxy(proxy.url, `http://127.0.0.2:${port}/`, null, dir.dir)).code, '407');
    assert.equal(
      (await curlViaProxy(proxy.url, 'http://169.254.169.254/latest/', token, dir.dir)).code,
      '403',
    );
    const recs = await eventually(async () => {
      const all = ((await admin('GET', '/v1/audit/records?limit=1000')).json as { records: Json[] }).records;
      const mine = all.filter(
        (r: Json) => r.action === 'event.egress.connection' && r.details.data.agent === 'outside',
      );
      return mine.length >= 2 ? mine : undefined;
    }, 'both connections on record');
    assert.deepEqual(recs.map((r: Json) => r.details.data.decision).sort(), ['allow', 'deny']);
    // The log the two processes wrote together still verifies.
    const verify = await rampartAsync(['audit', 'verify'], { cwd: dir.dir });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });

  it('stops cleanly without touching the control plane it ran beside', async () => {
    const r = await proxy.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(dir.dir, '.rampart', 'control-plane.json')));
    assert.equal((await admin('GET', '/v1/health')).status, 200);
  });

  it('says what is wrong with a bad --listen', async () => {
    const r = await rampartAsync(['proxy', '--listen', 'nowhere'], { cwd: dir.dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /RAMPART_E_USAGE.*--listen "nowhere" is not host:port/);
  });
});

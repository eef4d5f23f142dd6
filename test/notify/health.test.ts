// A component that fails pages: a notification channel that keeps failing makes the notify
// component degraded, the control plane's health watch publishes health.changed, and another
// channel delivers it to a real local receiver; when the failing channel delivers again, the
// recovery is told too.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer, type Server } from '../support/cli.js';
import { adminToken, api, startReceiver, type Api } from '../support/http.js';
import { tempDir } from '../support/tmp.js';
import { eventually } from '../support/wait.js';

describe('health changes are paged', () => {
  const dir = tempDir();
  let server: Server;
  let admin: Api;
  let pager: Awaited<ReturnType<typeof startReceiver>>;
  // The flaky collector refuses (503) until told otherwise.
  let collectorUp = false;
  let collector: Awaited<ReturnType<typeof startReceiver>>;

  before(async () => {
    pager = await startReceiver();
    collector = await startReceiver(() =>
      collectorUp ? { status: 200, body: '{}' } : { status: 503, body: 'down' },
    );
    writeFileSync(join(dir.dir, 'k'), 'whsec-0123456789abcdef0123456789abcdef\n', { mode: 0o600 });
    writeFileSync(
      join(dir.dir, 'rampart.yaml'),
      [
        'detect:',
        '  telemetry: off',
        'notify:',
        '  retry: {attempts: 1, backoff: 10ms, timeout: 1s}',
        '  channels:',
        `    - {name: collector, type: webhook, url: '${collector.url}/c', secret_file: ./k, min_severity: medium, types: [respond.action]}`,
        `    - {name: pager, type: webhook, url: '${pager.url}/p', secret_file: ./k, min_severity: info, types: [health.changed]}`,
        '',
      ].join('\n'),
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
    admin = api(server.url, adminToken(dir.dir));
  });
  after(async () => {
    await server?.stop();
    await pager?.close();
    await collector?.close();
    dir.cleanup();
  });

  const changes = (): { component: string; from: string; to: string; detail?: string; severity: string }[] =>
    pager.got.map((g) => {
      const b = JSON.parse(g.body) as {
        severity: string;
        data: { component: string; from: string; to: string; detail?: string };
      };
      return { ...b.data, severity: b.severity };
    });

  it('a channel that keeps failing degrades notify, and the change reaches the pager; so does the recovery', async () => {
    assert.equal(
      (await admin('POST', '/v1/respond/block-agent', { agent: 'x', reason: 'drill' })).status,
      200,
    );
    const down = await eventually(
      async () => changes().find((c) => c.component === 'notify' && c.to === 'degraded'),
      'health.changed for notify at the pager',
    );
    assert.equal(down.severity, 'high');
    assert.equal(down.from, 'ok');
    // What a person needs from the page: which channel, and why.
    assert.match(down.detail ?? '', /^channel collector failing since .*: channel collector: HTTP 503$/);
    assert.equal((await admin('GET', '/v1/health')).json.components.notify.status, 'degraded');

    // The next delivery to the collector succeeds: the channel, and notify, are ok again.
    collectorUp = true;
    const again = await admin('POST', '/v1/respond/block-agent', { agent: 'y', reason: 'drill' });
    assert.equal(again.status, 200);
    const up = await eventually(
      async () => changes().find((c) => c.component === 'notify' && c.to === 'ok'),
      'the recovery at the pager',
    );
    assert.equal(up.severity, 'info');
  });
});

// Notifications delivered to real local receivers: an HTTP server standing in for a webhook
// collector, Slack's incoming webhook and PagerDuty's Events API, an SMTP server (smtp-server)
// for email, and a channel that refuses every connection. A person's containment action (a
// respond.action, routed here by type) reaches every working channel while the dead one is
// retried and given up; the failure is on record, in health and in /metrics; no secret is in a
// record.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { rampart, startServer, type Server } from '../support/cli.js';
import { adminToken, api, startReceiver, type Api, type Json, type Received } from '../support/http.js';
import { tempDir } from '../support/tmp.js';
import { eventually } from '../support/wait.js';

describe('notifications to real receivers', () => {
  const dir = tempDir();
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let smtp: SMTPServer;
  let server: Server;
  let admin: Api;
  const got = (): Received[] => receiver.got;
  const mail: { from: string; to: string[]; text: string }[] = [];
  const KEY = 'whsec-0123456789abcdef0123456789abcdef';
  const ROUTING = 'pd-routing-key-0123456789abcdef';
  let slackUrl = '';

  before(async () => {
    receiver = await startReceiver((path) => ({ status: path === '/pagerduty' ? 202 : 200, body: '{}' }));
    const port = new URL(receiver.url).port;
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, session, done) {
        let text = '';
        stream.on('data', (c: Buffer) => (text += c.toString()));
        stream.on('end', () => {
          mail.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            text,
          });
          done();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
    const smtpPort = (smtp.server.address() as AddressInfo).port;
    // A port that refuses: bound, then closed.
    const dead = netServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));

    slackUrl = `http://127.0.0.1:${port}/slack/T000/B000/XXXXSECRETXXXX`;
    const secret = (name: string, value: string): string => {
      writeFileSync(join(dir.dir, name), value + '\n', { mode: 0o600 });
      return join(dir.dir, name);
    };
    const types = '[respond.action, notify.delivery_failed]';
    writeFileSync(
      join(dir.dir, 'rampart.yaml'),
      [
        'detect:',
        '  telemetry: off',
        'notify:',
        '  retry: {attempts: 3, backoff: 50ms, timeout: 1s}',
        '  channels:',
        `    - {name: collector, type: webhook, url: 'http://127.0.0.1:${port}/hook', secret_file: ${secret('hook.key', KEY)}, min_severity: medium, types: ${types}}`,
        `    - {name: chat, type: slack, url_file: ${secret('slack.url', slackUrl)}, min_severity: medium, types: ${types}}`,
        `    - {name: oncall, type: pagerduty, url: 'http://127.0.0.1:${port}/pagerduty', secret_file: ${secret('pd.key', ROUTING)}, min_severity: medium, types: ${types}}`,
        `    - {name: mail, type: email, min_severity: medium, types: ${types}, smtp: {host: 127.0.0.1, port: ${smtpPort}, tls: none, from: rampart@example.test, to: [secops@example.test]}}`,
        `    - {name: dead, type: webhook, url: 'http://127.0.0.1:${deadPort}/', secret_file: ${secret('dead.key', KEY)}, min_severity: medium, types: ${types}}`,
        '',
      ].join('\n'),
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
    admin = api(server.url, adminToken(dir.dir));
  });
  after(async () => {
    await server?.stop();
    await receiver?.close();
    await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
    dir.cleanup();
  });

  it('tells every working channel at once; the dead one is retried, given up, and on record', async () => {
    const r = await admin('POST', '/v1/respond/block-agent', { agent: 'suspect', reason: 'INC-12 triage' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    await eventually(
      async () =>
        got().filter((g) => !g.body.includes('delivery_failed')).length >= 3 && mail.length >= 1
          ? true
          : undefined,
      'the deliveries',
    );
    const hook = got().find((g) => g.path === '/hook')!;
    const body = JSON.parse(hook.body);
    assert.equal(body.type, 'respond.action');
    assert.equal(body.data.action, 'block_agent');
    assert.match(body.summary, /^\[medium\] respond\.action: INC-12 triage \(agent suspect, record \d+\)$/);
    // The signature verifies with the key over "<t>.<body>", and t is now.
    const [t, v1] = String(hook.headers['x-rampart-signature'])
      .split(',')
      .map((p) => p.split('=')[1]!);
    assert.equal(v1, createHmac('sha256', KEY).update(`${t}.${hook.body}`).digest('hex'));
    assert.ok(Math.abs(Number(t) - Date.now() / 1000) < 60);
    assert.equal(hook.headers['x-rampart-event'], 'respond.action');

    const slack = got().find((g) => g.path.startsWith('/slack/'))!;
    assert.deepEqual(Object.keys(JSON.parse(slack.body)), ['text']);
    assert.match(JSON.parse(slack.body).text, /INC-12 triage/);

    const pd = JSON.parse(got().find((g) => g.path === '/pagerduty')!.body);
    assert.equal(pd.routing_key, ROUTING);
    assert.equal(pd.event_action, 'trigger');
    assert.equal(pd.dedup_key, 'rampart:suspect:respond.action');
    assert.equal(pd.payload.severity, 'warning');
    assert.equal(pd.payload.source, 'rampart');

    assert.deepEqual(mail[0]!.to, ['secops@example.test']);
    assert.match(mail[0]!.text, /Subject: \[Rampart\] \[medium\] respond\.action: INC-12 triage/);

    // The dead channel: three tries, then given up, on record, and the others told of it.
    const failed = await eventually(async () => {
      const rs = ((await admin('GET', '/v1/audit/records?limit=10000')).json as { records: Json[] }).records;
      return rs.find((x) => x.action === 'event.notify.delivery_failed')?.details.data;
    }, 'the failure on record');
    assert.equal(failed.channel, 'dead');
    assert.equal(failed.about, 'respond.action');
    assert.equal(failed.attempts, 3);
    assert.match(failed.error, /^channel dead: no answer \(ECONNREFUSED\)$/);
    await eventually(
      async () =>
        got().some((g) => g.path === '/hook' && g.body.includes('"notify.delivery_failed"'))
          ? true
          : undefined,
      'the failure told to the working channels',
    );
    const health = (await admin('GET', '/v1/health')).json.components.notify;
    assert.equal(health.status, 'degraded');
    assert.match(health.detail, /channel dead failing since .*: channel dead: no answer \(ECONNREFUSED\)/);
    const metrics = String((await admin('GET', '/metrics')).json);
    assert.match(metrics, /rampart_notify_failed_total\{channel="dead"\} 1/);
    assert.match(metrics, /rampart_notify_sent_total\{channel="collector"\} [1-9]/);
    // No secret went on record.
    const all = JSON.stringify((await admin('GET', '/v1/audit/records?limit=10000')).json);
    for (const s of [KEY, ROUTING, 'XXXXSECRETXXXX']) assert.ok(!all.includes(s), `${s} is on record`);
  });

  it('refuses a channel that cannot work, naming it', async () => {
    const bad = tempDir();
    try {
      writeFileSync(
        join(bad.dir, 'rampart.yaml'),
        "notify:\n  channels:\n    - {name: a, type: webhook, url: 'http://127.0.0.1:1/'}\n    - {name: b, type: slack}\n    - {name: c, type: email}\n    - {name: d, type: pagerduty, secret_file: /nonexistent, types: [no.such]}\n",
      );
      const up = rampart(['up', '--listen', '127.0.0.1:0'], { cwd: bad.dir });
      assert.equal(up.code, 2, up.stderr);
      const r = up.stderr;
      assert.match(
        r,
        /rampart\.yaml:3:7: RAMPART_E_CONFIG_INVALID: notify\.channels\[0\] \(a\): a webhook is signed: give secret_file/,
      );
      assert.match(r, /notify\.channels\[1\] \(b\): a slack channel needs url or url_file/);
      assert.match(r, /notify\.channels\[2\] \(c\): an email channel needs smtp/);
      assert.match(r, /notify\.channels\[3\] \(d\): "no\.such" is not an event type/);
    } finally {
      bad.cleanup();
    }
  });
});

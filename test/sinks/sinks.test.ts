// The audit log streamed off the host to real collectors: Debian's rsyslog (imtcp, octet-counted
// RFC 5424 over TCP), a TLS collector verified against its CA, and local HTTP receivers in the
// shapes of Splunk's HEC, Elasticsearch's _bulk and a checkpoint witness. Every record arrives,
// verbatim (the canonical JSON its leaf hash is over), and an output that fails says so and then
// catches up with nothing missing.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServer as tlsServer } from 'node:tls';
import { startServer, type Server } from '../support/cli.js';
import { adminToken, api, startReceiver, type Api, type Json, type Received } from '../support/http.js';
import { selfSignedCert } from '../support/tls.js';
import { tempDir } from '../support/tmp.js';
import { eventually } from '../support/wait.js';

const RSYSLOGD = '/usr/sbin/rsyslogd';
const skip = existsSync(RSYSLOGD)
  ? false
  : process.env['CI'] === 'true'
    ? (() => {
        throw new Error('CI=true but rsyslog is not installed (.ci/run installs it)');
      })()
    : 'rsyslog is not installed (.ci/run installs it)';

async function freePort(): Promise<number> {
  const s = netServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Splits an octet-counted stream (RFC 6587) into messages. */
function frames(data: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < data.length) {
    const sp = data.indexOf(0x20, at);
    if (sp < 0) break;
    const len = Number(data.subarray(at, sp).toString('ascii'));
    if (sp + 1 + len > data.length) break;
    out.push(data.subarray(sp + 1, sp + 1 + len).toString('utf8'));
    at = sp + 1 + len;
  }
  return out;
}

describe('audit sinks to real collectors', { skip }, () => {
  const dir = tempDir();
  let rsyslog: ChildProcess;
  let server: Server;
  let admin: Api;
  let web: Awaited<ReturnType<typeof startReceiver>>;
  const http = (): Received[] => web.got;
  let elasticDown = true;
  let tlsData = Buffer.alloc(0);
  const closers: (() => void)[] = [];

  before(async () => {
    const syslogPort = await freePort();
    writeFileSync(
      join(dir.dir, 'rsyslog.conf'),
      [
        `global(workDirectory="${dir.dir}")`,
        'module(load="imtcp")',
        `input(type="imtcp" port="${syslogPort}" address="127.0.0.1" ruleset="audit")`,
        'template(name="raw" type="string" string="%rawmsg%\\n")',
        `ruleset(name="audit") { action(type="omfile" file="${join(dir.dir, 'syslog.out')}" template="raw") }`,
        '',
      ].join('\n'),
    );
    rsyslog = spawn(
      RSYSLOGD,
      ['-n', '-f', join(dir.dir, 'rsyslog.conf'), '-i', join(dir.dir, 'rsyslog.pid')],
      {
        stdio: 'ignore',
      },
    );
    await eventually(
      () =>
        new Promise<true | undefined>((r) => {
          const s = netServer().listen(syslogPort, '127.0.0.1');
          s.on('listening', () => s.close(() => r(undefined)));
          s.on('error', () => r(true));
        }),
      'rsyslog listening',
    );

    web = await startReceiver((path) =>
      path === '/es/_bulk' && elasticDown
        ? { status: 503, body: '{}' }
        : {
            status: 200,
            body:
              path === '/hec/services/collector/event'
                ? '{"text":"Success","code":0}'
                : path === '/es/_bulk'
                  ? '{"errors":false,"items":[]}'
                  : 'ok',
          },
    );
    const webPort = new URL(web.url).port;

    // A TLS collector with a certificate for "collector.test", signed by itself (the CA file).
    selfSignedCert(dir.dir, 'collector.test');
    const tls = tlsServer(
      { key: readFileSync(join(dir.dir, 'tls.key')), cert: readFileSync(join(dir.dir, 'tls.crt')) },
      (s) => s.on('data', (d: Buffer) => (tlsData = Buffer.concat([tlsData, d]))),
    );
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    closers.push(() => tls.close());
    const tlsPort = (tls.address() as AddressInfo).port;

    writeFileSync(join(dir.dir, 'hec.token'), 'hec-token-0123456789abcdef\n', { mode: 0o600 });
    writeFileSync(
      join(dir.dir, 'rampart.yaml'),
      [
        'detect:',
        '  telemetry: off',
        'audit:',
        '  checkpoint_every: 5',
        'sinks:',
        '  outputs:',
        `    - {name: rsyslog, type: syslog, address: '127.0.0.1:${syslogPort}'}`,
        `    - {name: tls, type: syslog, address: '127.0.0.1:${tlsPort}', tls: {ca_file: tls.crt, server_name: collector.test}}`,
        `    - {name: hec, type: splunk, url: 'http://127.0.0.1:${webPort}/hec', token_file: hec.token}`,
        `    - {name: es, type: elasticsearch, url: 'http://127.0.0.1:${webPort}/es', index: audit-test, batch: 7}`,
        `    - {name: witness, type: witness, url: 'http://127.0.0.1:${webPort}/witness'}`,
        '',
      ].join('\n'),
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
    admin = api(server.url, adminToken(dir.dir));
  });
  after(async () => {
    await server?.stop();
    rsyslog?.kill('SIGTERM');
    for (const c of closers) c();
    await web?.close();
    dir.cleanup();
  });

  const records = async (): Promise<Json[]> =>
    ((await admin('GET', '/v1/audit/records?limit=10000')).json as { records: Json[] }).records;

  it('streams every record verbatim to syslog over TCP and TLS, to HEC, and checkpoints to the witness', async () => {
    for (let i = 0; i < 10; i++)
      await admin('POST', '/v1/respond/block-agent', { agent: `a${i}`, reason: 'sink test' });
    await admin('POST', '/v1/audit/checkpoints');
    // Later records (a health change, a checkpoint) may still be on their way: check the ones that
    // were on record when the wait began, which rsyslog receives in order.
    const sent = await records();
    const head = sent.length;
    const lines = await eventually(
      () => {
        const f = join(dir.dir, 'syslog.out');
        const ls = existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n') : [];
        return Promise.resolve(ls.length >= head ? ls : undefined);
      },
      `${head} records in rsyslog's file`,
      15_000,
    );
    for (const r of sent) {
      const line = lines.find((l) => l.includes(`seq="${r.seq}"`));
      assert.ok(line, `record ${r.seq} reached rsyslog`);
      assert.match(
        line,
        /^<1\d\d>1 \S+ \S+ rampart \d+ AUDIT \[rampart@32473 seq="\d+" action="[^"]+" outcome="\w+"\] \{/,
      );
      // The record as the log holds it: the same canonical JSON.
      assert.deepEqual(JSON.parse(line.slice(line.indexOf('] {') + 2)), {
        seq: r.seq,
        time: r.time,
        actor: r.actor,
        action: r.action,
        target: r.target,
        outcome: r.outcome,
        details: r.details,
      });
    }
    const tlsFrames = await eventually(
      () => Promise.resolve(frames(tlsData).length >= head ? frames(tlsData) : undefined),
      'the TLS collector',
    );
    assert.match(tlsFrames[0]!, /^<\d+>1 /);
    const hec = http().filter((h) => h.path === '/hec/services/collector/event');
    assert.equal(hec[0]!.headers.authorization, 'Splunk hec-token-0123456789abcdef');
    const hecEvents = hec.flatMap((h) =>
      h.body
        .replace(/\}\{"time"/g, '}\n{"time"')
        .split('\n')
        .map((l) => JSON.parse(l)),
    );
    assert.ok(hecEvents.length >= head);
    assert.equal(hecEvents[0].sourcetype, 'rampart:audit');
    const witness = await eventually(
      () => Promise.resolve(http().find((h) => h.path === '/witness')),
      'a checkpoint at the witness',
    );
    // A C2SP signed note: origin, size, root hash, Rampart's extension lines, then the signature.
    assert.match(witness.body, /^rampart\.audit\/\S+\n\d+\n\S+=\n(?:.+\n)*\n— rampart-audit-\S+ \S+\n$/);
    const metrics = String((await admin('GET', '/metrics')).json);
    assert.match(metrics, /rampart_sinks_sent_total\{output="rsyslog"\} [1-9]/);
  });

  it('an output that fails is degraded in health, then catches up with nothing missing', async () => {
    const health = (await admin('GET', '/v1/health')).json.components.sinks;
    assert.equal(health.status, 'degraded');
    assert.match(health.detail, /output es \d+ record\(s\) behind, failing since .*: output es: HTTP 503/);
    elasticDown = false;
    const head = (await records()).length;
    const ids = await eventually(() => {
      const bulk = http().filter((h) => h.path === '/es/_bulk');
      const got = bulk.flatMap((b) =>
        b.body
          .trim()
          .split('\n')
          .filter((_, i) => i % 2 === 0)
          .map((l) => (JSON.parse(l) as { index: { _id: string; _index: string } }).index),
      );
      return Promise.resolve(got.length >= head ? got : undefined);
    }, 'the bulk requests');
    assert.equal(ids[0]!._index, 'audit-test');
    const seqs = new Set(ids.map((i) => Number(i._id.split('-').pop())));
    for (let s = 0; s < head; s++) assert.ok(seqs.has(s), `record ${s} indexed`);
    await eventually(
      async () =>
        (await admin('GET', '/v1/health')).json.components.sinks.status === 'ok' ? true : undefined,
      'sinks healthy again',
    );
  });
});

// Detection in `rampart up`: the shipped set and a site's directory loaded, a detection on record
// after the event it points to, a rules change hot-reloaded on record, and a broken change
// refused with the previous set serving and health saying so.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rampart, startServer, type Server } from '../support/cli.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { tempDir } from '../support/tmp.js';
import { eventually } from '../support/wait.js';

const SITE_RULE = (priority: string): string =>
  [
    '- rule: agent-tokens-revoked',
    '  desc: Every token of an agent was revoked by a person.',
    "  condition: evt.type == 'identity.revoked' && data.kind == 'agent'",
    '  output: "tokens of agent %data.value revoked by %data.by: %data.reason"',
    `  priority: ${priority}`,
    '  tags: [T1531]',
  ].join('\n') + '\n';

describe('detection in the control plane', () => {
  const t = tempDir();
  const site = join(t.dir, 'site-rules');
  let server: Server;
  let admin: Api;

  const records = async (): Promise<Json[]> =>
    ((await admin('GET', '/v1/audit/records?limit=10000')).json as { records: Json[] }).records;

  before(async () => {
    mkdirSync(site);
    writeFileSync(join(site, 'site.yaml'), SITE_RULE('medium'));
    writeFileSync(join(t.dir, 'rampart.yaml'), `detect:\n  rules: [${site}]\n  dedup_window: 1s\n`);
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: t.dir });
    admin = api(server.url, adminToken(t.dir));
  });
  after(async () => {
    await server?.stop();
    t.cleanup();
  });

  it('serves the loaded set: shipped rules and the site directory, each rule located', async () => {
    const r = await admin('GET', '/v1/detect/rules');
    assert.equal(r.status, 200);
    assert.match(r.json.version, /^r-[0-9a-f]{16}$/);
    assert.ok(r.json.rules.length >= 31);
    const mine = r.json.rules.find((x: Json) => x.name === 'agent-tokens-revoked');
    assert.deepEqual(mine.types, ['identity.revoked']);
    assert.match(mine.location, /site\.yaml:1:3$/);
    const h = (await admin('GET', '/v1/health')).json;
    assert.equal(h.components.detect.status, 'ok');
  });

  it('records a detection after the event it names, with its rule, priority, output and tags', async () => {
    const rev = await admin('POST', '/v1/tokens/revocations', {
      kind: 'agent',
      value: 'a1',
      reason: 'drill',
    });
    assert.equal(rev.status, 200, JSON.stringify(rev.json));
    const d = await eventually(async () => {
      const rs = await records();
      const det = rs.find(
        (x) => x.action === 'event.detect.detection' && x.details.data.rule === 'agent-tokens-revoked',
      );
      return det ? { det, rs } : undefined;
    }, 'the detection');
    const data = d.det.details.data;
    assert.equal(data.priority, 'medium');
    assert.equal(d.det.details.severity, 'medium');
    assert.equal(data.output, 'tokens of agent a1 revoked by admin: drill');
    assert.deepEqual(data.tags, ['T1531']);
    const [seq] = data.events;
    const source = d.rs.find((x) => x.seq === seq);
    assert.equal(source.action, 'event.identity.revoked');
    assert.ok(seq < d.det.seq, 'the detection is recorded after its event');
  });

  it('evaluates the events on record offline: rampart events --format json into rampart rules eval', () => {
    const events = rampart(['events', '--format', 'json'], { cwd: t.dir });
    assert.equal(events.code, 0, events.stderr);
    writeFileSync(join(t.dir, 'recorded.jsonl'), events.stdout);
    const r = rampart(['rules', 'eval', '--events', 'recorded.jsonl', site], { cwd: t.dir });
    assert.equal(r.code, 0, r.stderr);
    const found = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { rule: string; output: string });
    assert.ok(
      found.some(
        (d) => d.rule === 'agent-tokens-revoked' && d.output === 'tokens of agent a1 revoked by admin: drill',
      ),
      r.stdout,
    );
  });

  it('counts in /metrics, and reloads on demand from the CLI', async () => {
    const m = await fetch(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${adminToken(t.dir)}` },
    });
    const text = await m.text();
    for (const line of [
      /^rampart_detect_events_total [1-9]\d*$/m,
      /^rampart_detect_detections_total [1-9]\d*$/m,
      /^rampart_detect_matches_total\{fate="excepted"\} 0$/m,
      /^rampart_detect_rule_errors_total 0$/m,
      /^rampart_detect_rules 40$/m,
      /^rampart_detect_latency_seconds_bucket\{le="0.005"\} \d+$/m,
    ])
      assert.match(text, line);
    const r = rampart(['rules', 'reload'], { cwd: t.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^unchanged: rules version r-[0-9a-f]{16}$/m);
  });

  it('hot-reloads a change on record, and refuses a broken one while the previous set serves', async () => {
    const before = (await admin('GET', '/v1/detect/rules')).json.version;
    writeFileSync(join(site, 'site.yaml'), SITE_RULE('high'));
    const activated = await eventually(
      async () =>
        (await records()).find(
          (x) => x.action === 'event.detect.rules_activated' && x.details.data.previous === before,
        ),
      'the new set activated',
      15_000,
    );
    const now = activated.details.data.version;
    assert.notEqual(now, before);
    writeFileSync(join(site, 'site.yaml'), SITE_RULE('urgent'));
    const failed = await eventually(
      async () => (await records()).find((x) => x.action === 'event.detect.rules_load_failed'),
      'the load failure on record',
      15_000,
    );
    assert.equal(failed.details.data.serving, now);
    assert.match(
      failed.details.data.errors[0],
      /site\.yaml:5:13: RAMPART_E_RULES_INVALID: rule agent-tokens-revoked: priority/,
    );
    assert.equal((await admin('GET', '/v1/detect/rules')).json.version, now);
    const h = (await admin('GET', '/v1/health')).json;
    assert.equal(h.components.detect.status, 'degraded');
    assert.match(h.components.detect.detail, /the last change did not load/);
  });
});

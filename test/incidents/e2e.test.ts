// An incident from a real run that does the bad thing: `rampart up` with kernel telemetry and the
// shipped rules, playbooks and runbooks; `rampart run` reads /etc/shadow; the detection opens an
// incident, the playbook's freeze stops its clock, a person's quarantine adds the archive as
// evidence; PagerDuty (a local receiver in its shape) is triggered, acknowledged and resolved on
// the incident's dedup_key; the report in every format is checked offline by `rampart audit
// verify-proof`, and an edited report is caught.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, ROOT, rampartAsync, startServer, type Server } from '../support/cli.js';
import { adminToken, api, startReceiver, type Api, type Json } from '../support/http.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import { eventually, exited } from '../support/wait.js';

const TELEMETRY = join(ROOT, 'dist', 'rampart-telemetry');
const skip =
  sandboxSkip() || (!existsSync(TELEMETRY) && 'kernel telemetry was not built (dist/rampart-telemetry)');

describe('an incident from a real run, to a verified report', { skip }, () => {
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let server: Server;
  let admin: Api;
  let pd: Awaited<ReturnType<typeof startReceiver>>;
  const children: ChildProcess[] = [];
  const cli = (...args: string[]) => rampartAsync(args, { cwd: cp.dir.dir });
  const pages = (): { event_action: string; dedup_key: string; payload?: { severity: string } }[] =>
    pd.got.map((g) => JSON.parse(g.body) as never);

  before(async () => {
    pd = await startReceiver(() => ({ status: 202, body: '{"status":"success"}' }));
    cp = sandboxControlPlaneDir(
      [
        'notify:',
        '  retry: {attempts: 3, backoff: 50ms, timeout: 1s}',
        '  channels:',
        `    - {name: oncall, type: pagerduty, url: '${pd.url}/v2/enqueue', secret_file: ./pd.key, min_severity: low, types: [incident.opened, incident.acknowledged, incident.resolved]}`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(cp.dir.dir, 'pd.key'), 'pd-routing-key-0123456789abcdef\n', { mode: 0o600 });
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
    admin = api(server.url, adminToken(cp.dir.dir));
  });
  after(async () => {
    spawnSync(process.execPath, [BIN, 'destroy', '--all'], { cwd: cp.dir.dir, timeout: 20_000 });
    await exited(children);
    await server?.stop();
    await pd?.close();
    cp.cleanup();
  });

  it('opens, contains, pages, and reports with proofs that verify offline', async () => {
    const c = spawn(
      process.execPath,
      [BIN, 'run', '--agent', 'inc-agent', '--', 'sh', '-c', 'cat /etc/shadow >/dev/null; sleep 60'],
      {
        cwd: cp.dir.dir,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    children.push(c);
    const inc = await eventually(
      async () => {
        const l = (await admin('GET', '/v1/incidents?status=active')).json as { incidents: Json[] };
        const i = l.incidents.find((x) => x.agents.includes('inc-agent'));
        if (!i) return undefined;
        const full = (await admin('GET', `/v1/incidents/${i.id}`)).json;
        return full.times.contained ? full : undefined;
      },
      'the incident, contained',
      20_000,
    );
    const run = inc.observables.runs[0] as string;
    assert.equal(inc.kind, 'detection');
    assert.equal(inc.severity, 'high');
    assert.equal(inc.phase, 'containment');
    assert.deepEqual(
      inc.detections.map((d: Json) => d.rule),
      ['shadow-file-read'],
    );
    assert.ok(inc.runbooks.includes('credential-access'));
    assert.ok(inc.tasks.length > 0);
    assert.ok(inc.actions.some((a: Json) => a.action === 'freeze' && a.outcome === 'done'));
    const detectMs = Date.parse(inc.times.opened) - Date.parse(inc.times.firstEvent);
    const containMs = Date.parse(inc.times.contained) - Date.parse(inc.times.opened);
    assert.ok(detectMs >= 0 && detectMs < 5000, `time to detect ${detectMs} ms`);
    assert.ok(containMs >= 0 && containMs < 5000, `time to contain ${containMs} ms`);

    // PagerDuty: triggered on the incident's key.
    const key = `rampart:incident:${inc.id}`;
    await eventually(
      async () =>
        pages().some((p) => p.dedup_key === key && p.event_action === 'trigger') ? true : undefined,
      'the page',
    );

    // A person quarantines the frozen run: its archive becomes evidence.
    const q = await cli('quarantine', run, '--reason', `${inc.id}: keep the evidence`);
    assert.equal(q.code, 0, q.stderr);
    const withEvidence = await eventually(async () => {
      const i = (await admin('GET', `/v1/incidents/${inc.id}`)).json;
      return i.evidence.length > 0 ? i : undefined;
    }, 'the evidence');
    assert.match(withEvidence.evidence[0].sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(withEvidence.observables.files, [withEvidence.evidence[0].sha256]);

    const shown = await cli('incident', 'show', inc.id);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`^${inc.id}  HIGH  open  phase containment  \\(detection\\)`));
    assert.match(shown.stdout, /\nDetections \(\d+\):\n {2}#\d+ \S+ \[high\] shadow-file-read: /);
    assert.match(shown.stdout, /\nTasks \(rampart incident task ID N\):\n {3}0 \[ \] /);
    assert.match(shown.stdout, /\nEvidence:\n {2}#\d+ run \S+: \S+ sha256 [0-9a-f]{64}/);
    assert.equal((await cli('incident', 'ack', inc.id)).code, 0);
    assert.equal(
      (await cli('incident', 'note', inc.id, 'Lessons learned: no agent needs /etc/shadow')).code,
      0,
    );
    await eventually(
      async () =>
        pages().some((p) => p.dedup_key === key && p.event_action === 'acknowledge') ? true : undefined,
      'the acknowledgement',
    );

    // The timeline: the run's story from the log, in order.
    const t = (await admin('GET', `/v1/incidents/${inc.id}/timeline`)).json;
    const actions = t.entries.map((e: Json) => e.action);
    for (const a of [
      'event.sandbox.run_started',
      'event.detect.detection',
      'event.respond.action',
      'event.sandbox.quarantined',
    ])
      assert.ok(actions.includes(a), `${a} in the timeline`);
    const seqs = t.entries.map((e: Json) => e.seq as number);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    );
    assert.equal(t.proofs.records.length, t.entries.length);

    // Reports in every format verify offline; an edit anywhere does not.
    for (const format of ['md', 'html', 'json']) {
      const file = join(cp.dir.dir, `report.${format}`);
      const r = await cli('incident', 'report', inc.id, '--format', format, '-o', file);
      assert.equal(r.code, 0, r.stderr);
      const ok = await cli('audit', 'verify-proof', file);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /^ok: the report's \d+ record\(s\) are in the tree of size \d+ signed by /);
    }
    const md = readFileSync(join(cp.dir.dir, 'report.md'), 'utf8');
    assert.match(md, /## Lessons learned\n\n- Lessons learned: no agent needs \/etc\/shadow/);
    assert.match(md, /Time to contain: \d+\.\d{3} s/);
    const edited = join(cp.dir.dir, 'edited.md');
    writeFileSync(edited, md.replace('shadow-file-read:', 'harmless-read:'));
    const caught = await cli('audit', 'verify-proof', edited);
    assert.equal(caught.code, 1);
    assert.match(caught.stdout, /FAILED: the Markdown report was edited/);
    // A record changed inside the report's data: its proof fails.
    const json = JSON.parse(readFileSync(join(cp.dir.dir, 'report.json'), 'utf8'));
    json.timeline.proofs.records[0].entry = json.timeline.proofs.records[0].entry.replace(
      '"success"',
      '"denied"',
    );
    writeFileSync(join(cp.dir.dir, 'forged.json'), JSON.stringify(json));
    const forged = await cli('audit', 'verify-proof', join(cp.dir.dir, 'forged.json'));
    assert.equal(forged.code, 1);
    assert.match(forged.stdout, /does not hash to its leaf hash/);

    // Resolved with a verdict: PagerDuty resolved; the statistics count it.
    const res = await cli('incident', 'resolve', inc.id, '--verdict', 'true_positive');
    assert.equal(res.code, 0, res.stderr);
    await eventually(
      async () =>
        pages().some((p) => p.dedup_key === key && p.event_action === 'resolve') ? true : undefined,
      'the resolve',
    );
    const stats = JSON.parse((await cli('incident', 'stats', '--since', '1d', '--json')).stdout);
    assert.ok(stats.resolved >= 1);
    assert.equal(stats.accuracy, 1);
    assert.ok(typeof stats.mttcSeconds === 'number' && stats.mttcSeconds < 5);
    const metrics = await (
      await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${adminToken(cp.dir.dir)}` } })
    ).text();
    assert.match(metrics, /^rampart_incidents_mttc_seconds \d/m);
  });
});

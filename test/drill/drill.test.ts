// `rampart drill` against a real `rampart up` with kernel telemetry and the shipped rules and
// playbooks: every scenario built holds, the drill stays in its own namespace (no ban for
// everyone, no page, its incidents resolved and out of the statistics, its agents released), a
// drill agent outside an active drill is refused, and a scenario that does not hold (response
// turned off) fails the drill, opens an incident and says so in health and /metrics.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SCENARIOS } from '../../src/drill/scenarios.js';
import { BIN, ROOT, rampartAsync, startServer, type Server } from '../support/cli.js';
import { makeRepo, startUpstream, upstreamRefs, type GitUpstream } from '../support/gitupstream.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import { tempDir } from '../support/tmp.js';

const TELEMETRY = join(ROOT, 'dist', 'rampart-telemetry');
const UPSTREAM_PASSWORD = 'drill-upstream-password-0123456789';
const skip =
  sandboxSkip() || (!existsSync(TELEMETRY) && 'kernel telemetry was not built (dist/rampart-telemetry)');

// Every scenario built (22 in this version, the git gate's five with the scratch repository), each
// must hold.
const BUILT = SCENARIOS.filter((s) => !s.unavailable).map((s) => s.name);

describe('rampart drill', { skip }, () => {
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let server: Server;
  let admin: Api;
  let hook: HttpServer;
  let upstream: GitUpstream;
  let root: string;
  let upstreamDir: ReturnType<typeof tempDir> | undefined;
  const pages: string[] = [];

  const cli = (...args: string[]): { code: number | null; out: string; err: string } => {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd: cp.dir.dir,
      encoding: 'utf8',
      timeout: 600_000,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  before(async () => {
    // A webhook channel that hears everything: a drill must page nobody.
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        pages.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const port = (hook.address() as { port: number }).port;
    // The git gate's scenarios push to a scratch repository on a real upstream (git http-backend).
    const dir = tempDir();
    root = join(dir.dir, 'upstream');
    makeRepo(root, 'acme/drill', join(dir.dir, 'seed'));
    upstream = await startUpstream(root, 'bot', UPSTREAM_PASSWORD);
    cp = sandboxControlPlaneDir(
      `notify:\n  channels:\n    - name: oncall\n      type: webhook\n      url_file: ./hook.url\n      secret_file: ./hook.key\n      min_severity: info\n` +
        `gitgate:\n  upstreams:\n    - {repos: 'acme/*', url: '${upstream.url}/{repo}.git', credential: 'vault:forge/acme'}\n`,
    );
    upstreamDir = dir;
    writeFileSync(join(cp.dir.dir, 'hook.url'), `http://127.0.0.1:${port}/\n`, { mode: 0o600 });
    writeFileSync(join(cp.dir.dir, 'hook.key'), 'drill-test-signing-key\n', { mode: 0o600 });
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
    admin = api(server.url, adminToken(cp.dir.dir));
    writeFileSync(join(cp.dir.dir, 'cred'), `bot:${UPSTREAM_PASSWORD}\n`, { mode: 0o600 });
    const put = await rampartAsync(['secret', 'put', 'forge/acme', join(cp.dir.dir, 'cred')], {
      cwd: cp.dir.dir,
    });
    assert.equal(put.code, 0, put.stderr);
  });
  after(async () => {
    spawnSync(process.execPath, [BIN, 'destroy', '--all'], { cwd: cp.dir.dir, timeout: 20_000 });
    await server?.stop();
    hook?.close();
    await upstream?.close();
    upstreamDir?.cleanup();
    cp.cleanup();
  });

  it('every scenario built holds on the shipped rules and playbooks, confined to the drill', async () => {
    const refs = upstreamRefs(root, 'acme/drill');
    // Not spawnSync: the upstream the gate fetches from is served by this process.
    const r = await rampartAsync(['drill', '--format', 'json', '--repo', 'acme/drill'], {
      cwd: cp.dir.dir,
      timeoutMs: 600_000,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as { id: string; results: Json[]; summary: Json };
    assert.equal(BUILT.length, 22);
    const status = Object.fromEntries(report.results.map((x) => [x.name, x.status]));
    for (const name of BUILT)
      assert.equal(
        status[name],
        'held',
        `${name}: ${JSON.stringify(report.results.find((x) => x.name === name))}`,
      );
    // The git gate refused every push: the scratch repository is as it was.
    assert.deepEqual(upstreamRefs(root, 'acme/drill'), refs);
    assert.equal(report.summary.held, BUILT.length);
    assert.ok(report.summary.containMs.p99 > 0);

    // Confined: no ban for everyone (recorded as confined), nothing paged, no agent left blocked.
    const records = ((await admin('GET', '/v1/audit/records?limit=10000')).json as { records: Json[] })
      .records;
    const actions = records.filter((x) => x.action === 'event.respond.action').map((x) => x.details.data);
    const bans = actions.filter((a) => a.action === 'ban_destination');
    assert.ok(bans.length > 0, 'the exfiltration and mining playbooks ban');
    assert.ok(
      bans.every((a) => a.outcome === 'confined'),
      JSON.stringify(bans),
    );
    const respond = (await admin('GET', '/v1/respond')).json;
    assert.deepEqual(respond.bans ?? [], []);
    assert.deepEqual(respond.blocked ?? [], []);
    assert.deepEqual(pages, [], 'a drill pages nobody');
    // Its incidents resolved as a drill's, and kept out of the statistics.
    const incidents = (await admin('GET', '/v1/incidents?limit=10000')).json.incidents as Json[];
    const mine = incidents.filter((i) => i.drill === report.id);
    assert.ok(mine.length >= 10, `${mine.length} drill incidents`);
    assert.ok(mine.every((i) => i.status === 'resolved' && i.verdict === 'benign_true_positive'));
    assert.equal((await admin('GET', '/v1/incidents/stats')).json.opened, 0);
    // On record, in health and /metrics.
    assert.ok(records.some((x) => x.action === 'event.drill.finished' && x.details.data.id === report.id));
    const health = (await admin('GET', '/v1/health')).json;
    assert.equal(health.components.drill.status, 'ok', health.components.drill.detail);
    const metrics = await fetch(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${adminToken(cp.dir.dir)}` },
    }).then((m) => m.text());
    assert.match(metrics, new RegExp(`rampart_drill_last_scenarios\\{status="held"\\} ${BUILT.length}`));
    assert.match(metrics, /rampart_drill_last_contain_seconds\{quantile="p99"\} 0\.\d+/);
  });

  it('a drill agent outside an active drill is refused a run', () => {
    const r = cli('run', '--agent', 'drill:abcdef123456:intruder', '--', 'true');
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.err, /RAMPART_E_AGENT_BLOCKED.*drill abcdef123456, which is not active/);
    const junk = cli('run', '--agent', 'drill:x', '--', 'true');
    assert.equal(junk.code, 1);
    assert.match(junk.err, /names no drill/);
  });

  it('without a scratch repository the git scenarios are not available, never passed', () => {
    const r = cli('drill', '--scenario', 'push-main', '--format', 'json');
    assert.equal(r.code, 0, r.out + r.err);
    const report = JSON.parse(r.out) as { results: Json[] };
    assert.equal(report.results[0].status, 'unavailable');
    assert.match(report.results[0].reason, /--repo ORG\/NAME/);
  });

  it('bad options are usage errors; --list names every scenario', () => {
    assert.equal(cli('drill', '--scenario', 'nope').code, 2);
    assert.equal(cli('drill', '--repo', 'not a repo').code, 2);
    assert.equal(cli('drill', '--repeat', '0').code, 2);
    assert.equal(cli('drill', '--chaos', '--repeat', '2').code, 2);
    const list = cli('drill', '--list');
    assert.equal(list.code, 0);
    for (const name of BUILT) assert.match(list.out, new RegExp(`^${name} `, 'm'));
  });

  it('a scenario that does not hold fails the drill, opens an incident and degrades health', async () => {
    // Response off on a restarted control plane: nothing contains the run.
    await server.stop();
    writeFileSync(
      join(cp.dir.dir, 'rampart.yaml'),
      readFileSync(join(cp.dir.dir, 'rampart.yaml'), 'utf8') + 'respond:\n  enabled: false\n',
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
    admin = api(server.url, adminToken(cp.dir.dir));
    const r = cli('drill', '--scenario', 'crypto-miner', '--wait', '5s', '--format', 'junit');
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(
      r.out,
      /<testcase classname="rampart.drill" name="crypto-miner"[^>]*>\s*<failure message="expected detected\+contained, observed detected/,
    );
    const incidents = (await admin('GET', '/v1/incidents?limit=10000')).json.incidents as Json[];
    assert.ok(
      incidents.some((i) => i.kind === 'drill' && /crypto-miner expected detected\+contained/.test(i.title)),
    );
    const health = (await admin('GET', '/v1/health')).json;
    assert.equal(health.components.drill.status, 'degraded');
    assert.match(health.components.drill.detail, /did not hold: crypto-miner/);
  });
});

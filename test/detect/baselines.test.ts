// Baselines and the blocklist in `rampart up`, with real runs: an agent's usual destination is
// learned over its first runs, a new one afterwards is a detection that explains itself, the
// baseline survives in the store and can be shown and reset; a destination on the blocklist feed
// is a detection from the first run, and a change of the feed is picked up.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StreamEvent } from '../../src/core/events.js';
import { Baselines } from '../../src/detect/baselines.js';
import { parseFeed } from '../../src/detect/blocklist.js';
import type { Detection } from '../../src/detect/engine.js';
import { BIN, rampart, startServer, type Server } from '../support/cli.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import { detection as detectionOf } from '../support/detections.js';
import { eventually } from '../support/wait.js';

const skip = sandboxSkip();

describe('blocklist feeds', () => {
  it('reads hosts files, bare domains, addresses and ranges, and ignores the rest', () => {
    const e = parseFeed(
      '# a feed\n0.0.0.0 evil.example other.evil.example\n127.0.0.1 localhost\nbad.example.net\n203.0.113.7\n198.51.100.0/24 # a range\nnot a domain\n',
    );
    assert.deepEqual([...e.domains].sort(), ['bad.example.net', 'evil.example', 'other.evil.example']);
    assert.deepEqual([...e.addresses], ['203.0.113.7']);
    assert.deepEqual(e.ranges, ['198.51.100.0/24']);
  });
});

describe('per-run figures', () => {
  it('learn CPU time and requests per minute per run, then report a run past twice the most', async () => {
    const kept = new Map<string, string>();
    const b = new Baselines({
      store: { get: async (k) => kept.get(k), set: async (k, v) => void kept.set(k, v) },
      learningRuns: 2,
    });
    let seq = 0;
    const at = (ms: number): string => new Date(Date.parse('2026-01-01T00:00:00Z') + ms).toISOString();
    const ev = (type: string, run: string, ms: number, data: object): StreamEvent => ({
      seq: ++seq,
      time: at(ms),
      event: {
        type: type as 'sandbox.run_ended',
        severity: 'info',
        source: 't',
        subject: { run, agent: 'a' },
        data: data as never,
      },
    });
    const runOf = async (run: string, requests: number, cpuMs: number): Promise<Detection[]> => {
      const out: Detection[] = [];
      out.push(...(await b.observe(ev('sandbox.run_started', run, 0, { profile: 'default' }))));
      for (let i = 0; i < requests; i++)
        out.push(
          ...(await b.observe(ev('egress.connection', run, i * 10, { host: 'api.example', bytesUp: 10 }))),
        );
      out.push(...(await b.observe(ev('sandbox.run_ended', run, 60_000, { cpuMs }))));
      return out;
    };
    assert.deepEqual(await runOf('r1', 40, 8000), []);
    assert.deepEqual(await runOf('r2', 40, 9000), []);
    const found = await runOf('r3', 200, 30_000);
    assert.deepEqual(
      found.map((d) => [d.rule, d.output]),
      [
        ['baseline-new-cpu', 'run r3 used 30000 ms of CPU; the most in 2 runs of agent a was 9000'],
        [
          'baseline-new-requests',
          'run r3 used 200 egress requests in a minute; the most in 2 runs of agent a was 40',
        ],
      ],
    );
    await b.stop();
    assert.equal((JSON.parse(kept.get('detect.baseline.agent:a')!) as { runs: number }).runs, 3);
  });
});

describe('baselines and the blocklist in the control plane', { skip }, () => {
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let server: Server;
  let admin: Api;
  let feed: string;

  const run = (agent: string, script: string): void => {
    const r = spawnSync(process.execPath, [BIN, 'run', '--agent', agent, '--', 'sh', '-c', script], {
      cwd: cp.dir.dir,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
  };
  const detection = (rule: string, agent: string): Promise<Json> => detectionOf(admin, rule, agent);
  const none = async (rule: string, agent: string): Promise<boolean> => {
    const rs = (await admin('GET', '/v1/audit/records?limit=10000')).json.records as Json[];
    return !rs.some(
      (x) =>
        x.action === 'event.detect.detection' &&
        x.details.data.rule === rule &&
        x.details.data.agent === agent,
    );
  };

  before(async () => {
    cp = sandboxControlPlaneDir();
    feed = join(cp.dir.dir, 'feed.hosts');
    writeFileSync(feed, '0.0.0.0 evil.example\n');
    writeFileSync(
      join(cp.dir.dir, 'rampart.yaml'),
      `${(await import('node:fs')).readFileSync(join(cp.dir.dir, 'rampart.yaml'), 'utf8')}detect:\n  telemetry: off\n  baselines:\n    learning_runs: 2\n    by: [agent, profile]\n  blocklist: [feed.hosts]\n` +
        // Detection is what is checked here; the shipped playbooks would freeze the runs.
        'respond:\n  enabled: false\n',
    );
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
    admin = api(server.url, adminToken(cp.dir.dir));
  });
  after(async () => {
    await server?.stop();
    cp.cleanup();
  });

  it('learns an agent over its first runs, then reports a new destination once, explained', async () => {
    run('b1', 'curl -s -o /dev/null http://usual.example/; true');
    run('b1', 'curl -s -o /dev/null http://usual.example/; true');
    await eventually(
      async () => ((await admin('GET', '/v1/detect/baselines/b1')).json.runs === 2 ? true : undefined),
      'two runs learned',
    );
    assert.ok(await none('baseline-new-egress', 'b1'), 'nothing is reported while learning');
    run(
      'b1',
      'curl -s -o /dev/null http://usual.example/; curl -s -o /dev/null http://pastebin.example/; curl -s -o /dev/null http://pastebin.example/; true',
    );
    const d = await detection('baseline-new-egress', 'b1');
    assert.deepEqual(d.baseline, { kind: 'egress', value: 'pastebin.example', runs: 2 });
    const rs = (await admin('GET', '/v1/audit/records?limit=10000')).json.records as Json[];
    // Once for the agent and once for its profile (detect.baselines.by), then learned.
    assert.deepEqual(
      rs
        .filter((x) => x.action === 'event.detect.detection' && x.details.data.rule === 'baseline-new-egress')
        .map((x) => x.details.data.output as string)
        .sort(),
      [
        'first connection to pastebin.example in 2 runs of agent b1',
        'first connection to pastebin.example in 2 runs of profile default',
      ],
    );
    // A run's end says how much CPU it used (its cgroup2 group's account), for the CPU baseline.
    const ended = rs.find((x) => x.action === 'event.sandbox.run_ended' && x.details.data.agent === 'b1');
    assert.equal(typeof ended.details.data.cpuMs, 'number');
    const profile = rampart(['baseline', 'show', 'profile:default', '--json'], { cwd: cp.dir.dir });
    assert.equal(profile.code, 0, profile.stderr);
    assert.ok((JSON.parse(profile.stdout) as { egress: string[] }).egress.includes('pastebin.example'));
    const shown = rampart(['baseline', 'show', 'b1'], { cwd: cp.dir.dir });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^agent b1: 3 run\(s\) since /m);
    assert.match(shown.stdout, /^ {2}pastebin\.example$/m);
    const reset = rampart(['baseline', 'reset', 'b1'], { cwd: cp.dir.dir });
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(
      rampart(['baseline', 'show', 'b1'], { cwd: cp.dir.dir }).stdout,
      /agent b1: 0 run\(s\).*learning: 2 more run/,
    );
    assert.equal(rampart(['baseline', 'show', 'nobody'], { cwd: cp.dir.dir }).code, 1);
  });

  it('detects a destination on the blocklist, and a feed change without a restart', async () => {
    run('b2', 'curl -s -o /dev/null http://cdn.evil.example/; true');
    const d = await detection('blocklist-destination', 'b2');
    assert.match(d.output, /asked the proxy for cdn\.evil\.example, on the blocklist as evil\.example$/);
    writeFileSync(feed, '0.0.0.0 evil.example\n203.0.113.0/24\n');
    await eventually(
      async () => {
        const m = await fetch(`${server.url}/metrics`, {
          headers: { authorization: `Bearer ${adminToken(cp.dir.dir)}` },
        });
        return /^rampart_detect_blocklist_entries 2$/m.test(await m.text()) ? true : undefined;
      },
      'the feed reloaded',
      15_000,
    );
    run('b3', 'curl -s -o /dev/null http://203.0.113.9/; true');
    const ip = await detection('blocklist-destination', 'b3');
    assert.match(ip.output, /on the blocklist as 203\.0\.113\.0\/24$/);
  });
});

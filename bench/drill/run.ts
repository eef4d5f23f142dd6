// bench/drill: the figures Rampart publishes about itself. A fresh `rampart up` (kernel telemetry,
// the shipped rules and playbooks, SQLite), then `rampart drill --repeat N` over every
// containment scenario: act -> detection and act -> containment per scenario (p50, p99, max) and
// over all, from the audit log's records, beside `node -e 0` measured in the same run for the
// machine's speed. Goal: act -> containment p99 <= 50 ms over 20 repetitions of each.
//
//   npm run bench:setup && node build/bench/drill/run.js [--repeat 20] [--scenario NAME]...
//
// Needs root, bubblewrap, cgroups and dist/rampart-telemetry.

import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { SCENARIOS } from '../../src/drill/scenarios.js';
import { BIN, startServer } from '../../test/support/cli.js';
import { sandboxControlPlaneDir } from '../../test/support/sandbox.js';
import { nodeStartMs, pct } from '../stats.js';

const { values } = parseArgs({
  options: { repeat: { type: 'string', default: '20' }, scenario: { type: 'string', multiple: true } },
});

// Every scenario built that expects the run contained, or those named.
const CONTAINMENT =
  values.scenario ??
  SCENARIOS.filter((s) => !s.unavailable && s.expect.includes('contained')).map((s) => s.name);

interface Result {
  name: string;
  status: string;
  observed: string;
  reason?: string;
  times: { detectMs?: number; containMs?: number }[];
}

const cells = (xs: number[]): string =>
  xs.length === 0 ? '- | - | -' : `${pct(xs, 0.5)} | ${pct(xs, 0.99)} | ${Math.max(...xs)}`;

async function main(): Promise<void> {
  const cp = sandboxControlPlaneDir();
  const server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
  try {
    console.log(`node -e 0: ${nodeStartMs().toFixed(1)} ms p50 (this machine, this run)`);
    const t0 = performance.now();
    const r = spawnSync(
      process.execPath,
      [
        BIN,
        'drill',
        '--repeat',
        values.repeat,
        '--format',
        'json',
        ...CONTAINMENT.flatMap((s) => ['--scenario', s]),
      ],
      { cwd: cp.dir.dir, encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    if (r.status !== 0 && r.status !== 1) throw new Error(`rampart drill exited ${r.status}: ${r.stderr}`);
    const report = JSON.parse(r.stdout) as { id: string; results: Result[] };
    console.log(`drill ${report.id}: ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
    console.log('| Scenario | held | act → detection p50 | p99 | max | act → containment p50 | p99 | max |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    const all = { d: [] as number[], c: [] as number[] };
    for (const x of report.results) {
      const d = x.times.flatMap((t) => (t.detectMs === undefined ? [] : [t.detectMs]));
      const c = x.times.flatMap((t) => (t.containMs === undefined ? [] : [t.containMs]));
      all.d.push(...d);
      all.c.push(...c);
      console.log(`| ${x.name} | ${x.status} | ${cells(d)} | ${cells(c)} |`);
    }
    console.log(`| **all ${all.c.length}** | | ${cells(all.d)} | **${cells(all.c)}** |`);
    for (const x of report.results.filter((r) => r.status !== 'held'))
      console.log(`\n${x.name}: ${x.status}: ${x.observed}; ${x.reason ?? ''}`);
    // Any response action that failed, and any freeze or kill that took long or began long after
    // its detection: what and why, so that a tail in the table can be explained.
    const actions = spawnSync(
      process.execPath,
      [BIN, 'audit', 'tail', '-n', '100000', '--action', 'event.respond.action'],
      { cwd: cp.dir.dir, encoding: 'utf8', maxBuffer: 512 << 20 },
    );
    if (actions.status !== 0) throw new Error(`rampart audit tail: ${actions.stderr}`);
    // Where the time from detection to containment goes: the detection's record to the freeze's or
    // kill's start (its delivery to the response component), and the action itself.
    const start: number[] = [];
    const took: number[] = [];
    for (const l of actions.stdout.split('\n').filter(Boolean)) {
      const d = (JSON.parse(l) as { details: { data: Record<string, unknown> } }).details.data;
      if ((d['action'] === 'freeze' || d['action'] === 'kill') && d['outcome'] === 'done') {
        start.push(Math.round(Number(d['sinceDetectionMs']) - Number(d['ms'])));
        took.push(Math.round(Number(d['ms'])));
      }
      // A freeze or kill that was slow, late or failed (a quarantine takes its evidence first, and
      // an action replaced by a stronger one is not a failure).
      const contains = d['action'] === 'freeze' || d['action'] === 'kill';
      const fine = ['done', 'confined', 'replaced'].includes(String(d['outcome']));
      if (!fine || (contains && (Number(d['ms']) > 200 || Number(d['sinceDetectionMs']) > 200)))
        console.log(`\nslow or not done: ${JSON.stringify(d).slice(0, 2000)}`);
    }
    console.log(
      `\nfreezes and kills done (${took.length}), ms p50 | p99 | max: detection's time to the action's start ${cells(start)}; the action ${cells(took)}`,
    );
  } finally {
    spawnSync(process.execPath, [BIN, 'destroy', '--all'], { cwd: cp.dir.dir, timeout: 20_000 });
    // A freeze that timed out says which tasks held it up (sandbox/service.ts): shown here.
    const { stderr } = await server.stop();
    for (const l of stderr.split('\n')) if (l.includes('did not freeze')) console.log(l.slice(0, 2000));
    cp.cleanup();
  }
}

await main();

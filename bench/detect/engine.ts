// bench/detect/engine: the rule engine alone, on one core: events per second through 100 rules
// (the 38 shipped rules and 62 more of the same shapes over the same event types), on a mix of
// the event types kernel telemetry and the egress proxy produce. Falco's published figures are
// printed beside it (its own measurements: events per second of its whole pipeline at a CPU
// share, on other hardware), as the issue asks.
//
//   npm run bench:setup && node build/bench/detect/engine.js [--events 200000] [--rounds 5]

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { StreamEvent } from '../../src/core/events.js';
import { DetectionEngine } from '../../src/detect/engine.js';
import { loadRuleSet } from '../../src/detect/load.js';
import { ROOT } from '../../test/support/cli.js';
import { tempDir } from '../../test/support/tmp.js';

const { values } = parseArgs({
  options: { events: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '5' } },
});
const EVENTS = Number(values.events);
const ROUNDS = Number(values.rounds);

/** Rules of the shipped shapes, on the same event types, that do not match the mix below. */
const SHAPES = [
  (i: number) => `spawned_process && proc.name in ['tool-${i}', 'other-${i}'] && proc.uid == ${1000 + i}`,
  (i: number) => `open_read && file.path.startsWith('/opt/secret-${i}/') && !file.name.endsWith('.pub')`,
  (i: number) => `open_write && globAny(file.path, ['*/conf-${i}/*', '*/deploy-${i}.yml'])`,
  (i: number) => `egress && hostMatchesAny(net.host, ['*.bad-${i}.example', 'c2-${i}.example.net'])`,
  (i: number) => `evt.type == 'net.connect' && net.port == ${20000 + i} && net.family == 'inet'`,
  (i: number) => `spawned_process && proc.cmdline.contains('--evil-${i}') && proc.pname in shells`,
];

function grownRules(dir: string): string {
  const out = join(dir, 'extra');
  mkdirSync(out);
  const items: string[] = [];
  for (let i = 0; i < 62; i++)
    items.push(
      `- rule: generated-${i}\n  desc: generated ${i}\n  condition: >-\n    ${SHAPES[i % SHAPES.length]!(i)}\n  output: "generated ${i} %proc.name %file.path %net.host"\n  priority: medium\n`,
    );
  writeFileSync(join(out, 'generated.yaml'), items.join('\n'));
  return out;
}

/** The mix: mostly what a busy run does (exec, exit, file writes), some network, a few hits. */
function events(from: number, n: number): StreamEvent[] {
  const out: StreamEvent[] = [];
  const time = Date.parse('2026-01-01T00:00:00Z');
  const cmds = ['git', 'node', 'npm', 'python3', 'cc', 'ls', 'cat', 'sh', 'make', 'rg'];
  for (let i = from; i < from + n; i++) {
    const run = `run-${i % 50}`;
    const pid = 1000 + (i % 400);
    const k = i % 10;
    const common = { run, agent: `agent-${i % 20}`, pid, ppid: 1, comm: cmds[i % cmds.length]! };
    let e: StreamEvent['event'];
    if (k < 3)
      e = {
        type: 'process.exec',
        severity: 'info',
        source: 'telemetry',
        subject: { run, agent: common.agent },
        data: {
          ...common,
          exe: `/usr/bin/${common.comm}`,
          argv: [common.comm, 'build', `--n=${i}`],
          cwd: '/workspace',
          uid: 1000,
          stdin: 'pipe',
          pcomm: 'sh',
        },
      };
    else if (k < 5)
      e = {
        type: 'process.exit',
        severity: 'info',
        source: 'telemetry',
        subject: { run, agent: common.agent },
        data: { ...common, exitCode: 0, signal: 0 },
      };
    else if (k < 8)
      e = {
        type: 'file.open',
        severity: 'info',
        source: 'telemetry',
        subject: { run, agent: common.agent },
        data: {
          ...common,
          path: `/workspace/src/file-${i % 1000}.ts`,
          flags: ['O_WRONLY', 'O_CREAT', 'O_TRUNC'],
        },
      };
    else if (k < 9)
      e = {
        type: 'net.connect',
        severity: 'info',
        source: 'telemetry',
        subject: { run, agent: common.agent },
        data: { ...common, address: '127.0.0.1', port: 3128, family: 'inet' },
      };
    else
      e = {
        type: 'egress.connection',
        severity: i % 100 === 9 ? 'medium' : 'info',
        source: 'egress',
        subject: { run, agent: common.agent },
        data: {
          agent: common.agent,
          run,
          method: 'CONNECT',
          host: i % 100 === 9 ? 'evil.example' : 'registry.npmjs.org',
          port: 443,
          decision: i % 100 === 9 ? 'deny' : 'allow',
          reason: 'x',
          bytesUp: 1,
          bytesDown: 1,
          durationMs: 1,
        },
      };
    out.push({ seq: i + 1, time: new Date(time + i).toISOString(), event: e });
  }
  return out;
}

const t = tempDir('rampart-bench-detect-');
try {
  const set = loadRuleSet([join(ROOT, 'rules', 'default'), grownRules(t.dir)]);
  const enabled = set.rules.filter((r) => r.enabled);
  const compiled = enabled.filter((r) => r.native).length;
  // A pool of 5,000 distinct events, cycled with fresh record numbers and times: each event's data
  // is as warm as the stream's (just parsed) and no generator's garbage is collected inside the
  // timed loop.
  const POOL = 5000;
  const pool = events(0, POOL);
  const base = Date.parse('2026-01-01T00:00:00Z');
  const times = Array.from({ length: EVENTS }, (_, i) => new Date(base + i).toISOString());
  const rates: number[] = [];
  let detections = 0;
  for (let r = 0; r < ROUNDS + 1; r++) {
    const engine = new DetectionEngine(set, { dedupMs: 60_000 });
    let d = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < EVENTS; i++)
      d += engine.process({ seq: i + 1, time: times[i]!, event: pool[i % POOL]!.event }).length;
    const ns = process.hrtime.bigint() - t0;
    d += engine.drain().length;
    if (r > 0) rates.push(EVENTS / (Number(ns) / 1e9)); // the first round warms the JIT
    detections = d;
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)]!;
  console.log(
    `rules: ${enabled.length} (${compiled} compiled to closures, ${enabled.length - compiled} on cel-js)`,
  );
  console.log(`events per round: ${EVENTS}; detections per round: ${detections}`);
  console.log(
    `Rampart rule engine, one core: median ${Math.round(median).toLocaleString('en')} events/s (rounds: ${rates.map((x) => Math.round(x)).join(', ')})`,
  );
  console.log(
    'Falco (published, whole pipeline): about 4,400 events/s at 38% CPU; 5,200 events/s at 17.5% CPU',
  );
} finally {
  t.cleanup();
}

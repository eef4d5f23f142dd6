// bench/detect/latency: from what a process in a run does to the detection on record, through the
// whole control plane: `rampart up` with kernel telemetry, a `rampart run` that reads /etc/shadow
// every 50 ms (each read a detection: the dedup window is 0 here), and the audit log read back.
// Two figures per detection: from the triggering event on record to the detection on record
// (the rule engine and its publish), and from the moment the run's shell stamped just before the
// read to the detection on record (exec, kernel, loader, the event's own record, the engine).
//
//   npm run bench:setup && node build/bench/detect/latency.js [--reads 200]
//
// Needs root, bubblewrap, cgroups and dist/rampart-telemetry.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BIN, startServer } from '../../test/support/cli.js';
import { adminToken, api } from '../../test/support/http.js';
import { sandboxControlPlaneDir } from '../../test/support/sandbox.js';

const { values } = parseArgs({ options: { reads: { type: 'string', default: '200' } } });
const READS = Number(values.reads);

interface AuditRecord {
  seq: number;
  time: string;
  action: string;
  details: { data: { rule?: string; run?: string; events?: number[] } };
}

const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

// Playbooks off: every read here would freeze the run (the credential-access playbook).
const cp = sandboxControlPlaneDir('detect:\n  dedup_window: 0s\nrespond:\n  enabled: false\n');
const server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
try {
  const admin = api(server.url, adminToken(cp.dir.dir));
  const script = `for i in $(seq 1 ${READS}); do date +%s%N >> /workspace/stamps; cat /etc/shadow 2>/dev/null; sleep 0.05; done; cp /workspace/stamps /workspace/done`;
  const r = spawnSync(process.execPath, [BIN, 'run', '--agent', 'latency', '--', 'sh', '-c', script], {
    cwd: cp.dir.dir,
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(r.stderr);
  const runs = ((await admin('GET', '/v1/runs')).json as { runs: { id: string; agent: string }[] }).runs;
  const run = runs.find((x) => x.agent === 'latency')!;
  const stamps = readFileSync(join(cp.dir.dir, 'ws', run.id, 'done'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => Number(BigInt(l) / 1_000_000n));
  await new Promise((res) => setTimeout(res, 1000));
  const records: AuditRecord[] = [];
  for (let from = 0; ; from += 10_000) {
    const page = (
      (await admin('GET', `/v1/audit/records?from=${from}&limit=10000`)).json as { records: AuditRecord[] }
    ).records;
    records.push(...page);
    if (page.length < 10_000) break;
  }
  const bySeq = new Map(records.map((x) => [x.seq, x]));
  const detections = records.filter(
    (x) =>
      x.action === 'event.detect.detection' &&
      x.details.data.rule === 'shadow-file-read' &&
      x.details.data.run === run.id,
  );
  const engine: number[] = [];
  const total: number[] = [];
  detections.forEach((d, i) => {
    const ev = bySeq.get(d.details.data.events?.[0] ?? -1);
    const at = Date.parse(d.time);
    if (ev) engine.push(at - Date.parse(ev.time));
    if (stamps[i] !== undefined) total.push(at - stamps[i]);
  });
  console.log(`reads: ${READS}; detections: ${detections.length}`);
  console.log(
    `event on record -> detection on record: p50 ${pct(engine, 0.5)} ms, p99 ${pct(engine, 0.99)} ms, max ${Math.max(...engine)} ms`,
  );
  console.log(
    `shell stamp before the read -> detection on record: p50 ${pct(total, 0.5)} ms, p99 ${pct(total, 0.99)} ms, max ${Math.max(...total)} ms`,
  );
  const metrics = await fetch(`${server.url}/metrics`, {
    headers: { authorization: `Bearer ${adminToken(cp.dir.dir)}` },
  });
  const m = await metrics.text();
  for (const line of m.split('\n'))
    if (line.startsWith('rampart_detect_latency_seconds_bucket')) console.log(line);
} finally {
  await server.stop();
  cp.cleanup();
}

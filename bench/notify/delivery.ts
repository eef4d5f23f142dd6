// bench/notify: from a detection on record to its notification delivered, through one working
// channel and one failing channel (a port that refuses, retried with backoff) side by side: the
// failing one must not delay the working one. `rampart up` with kernel telemetry, a `rampart run`
// that reads /etc/shadow every 50 ms (each read a detection: the dedup window is 0, playbooks off),
// and a local HTTP receiver noting when each delivery arrives.
//
//   npm run bench:setup && node build/bench/notify/delivery.js [--reads 200]
//
// Needs root, bubblewrap, cgroups and dist/rampart-telemetry.

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BIN, startServer } from '../../test/support/cli.js';
import { sandboxControlPlaneDir } from '../../test/support/sandbox.js';

const { values } = parseArgs({ options: { reads: { type: 'string', default: '200' } } });
const READS = Number(values.reads);
const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

const arrivals: { at: number; time: string }[] = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    const e = JSON.parse(body) as { type: string; time: string };
    if (e.type === 'detect.detection') arrivals.push({ at: Date.now(), time: e.time });
    res.end('{}');
  });
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const port = (receiver.address() as AddressInfo).port;
const dead = netServer();
await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
const deadPort = (dead.address() as AddressInfo).port;
await new Promise((r) => dead.close(r));

const cp = sandboxControlPlaneDir(
  'detect:\n  dedup_window: 0s\nrespond:\n  enabled: false\nlogging:\n  level: warn\nnotify:\n' +
    '  retry: {attempts: 6, backoff: 500ms, timeout: 2s}\n  channels:\n' +
    `    - {name: working, type: webhook, url: 'http://127.0.0.1:${port}/', secret_file: key, types: [detect.detection]}\n` +
    `    - {name: failing, type: webhook, url: 'http://127.0.0.1:${deadPort}/', secret_file: key, types: [detect.detection]}\n`,
);
writeFileSync(join(cp.dir.dir, 'key'), 'bench-key-0123456789abcdef\n', { mode: 0o600 });
const server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
try {
  const script = `for i in $(seq 1 ${READS}); do cat /etc/shadow 2>/dev/null; sleep 0.05; done`;
  // Not spawnSync: the receiver lives in this process, and must answer while the run runs.
  const code = await new Promise<number | null>((resolve) => {
    const c = spawn(process.execPath, [BIN, 'run', '--agent', 'notify-bench', '--', 'sh', '-c', script], {
      cwd: cp.dir.dir,
      stdio: 'ignore',
    });
    c.on('exit', resolve);
  });
  if (code !== 0) throw new Error(`the run exited ${code}`);
  const until = Date.now() + 10_000;
  while (arrivals.length < READS && Date.now() < until) await new Promise((res) => setTimeout(res, 50));
  const ms = arrivals.map((a) => a.at - Date.parse(a.time));
  console.log(
    `\n${arrivals.length} of ${READS} detections delivered to the working channel beside a failing one\n`,
  );
  console.log('| detection on record → delivered | p50 | p90 | p99 | max |\n| --- | --- | --- | --- | --- |');
  console.log(`| ms | ${pct(ms, 0.5)} | ${pct(ms, 0.9)} | ${pct(ms, 0.99)} | ${Math.max(...ms)} |`);
} finally {
  await server.stop();
  cp.cleanup();
  receiver.close();
}

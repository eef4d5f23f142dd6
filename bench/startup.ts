// bench/startup: wall time from spawning `rampart up` (Node start-up included) until /healthz
// answers, on the embedded SQLite store: first start (creates keys, token and database) and warm
// restarts.
//
//   npm run bench:setup && node build/bench/startup.js [--runs 10]

import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { BIN } from '../test/support/cli.js';
import { tempDir } from '../test/support/tmp.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const RUNS = Number(values.runs);

async function once(cwd: string, port: number): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, 'up', '--listen', `127.0.0.1:${port}`], {
    cwd,
    stdio: 'ignore',
  });
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.ok) break;
    } catch {
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  const ms = performance.now() - t0;
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  return ms;
}

const t = tempDir('rampart-bench-');
const first = await once(t.dir, 17171);
const warm: number[] = [];
for (let i = 0; i < RUNS; i++) warm.push(await once(t.dir, 17171));
warm.sort((a, b) => a - b);
console.log(
  `rampart up → /healthz answers: first start ${first.toFixed(0)} ms; restarts median ${warm[Math.floor(RUNS / 2)]!.toFixed(0)} ms, max ${warm[RUNS - 1]!.toFixed(0)} ms (${RUNS} runs)`,
);
t.cleanup();

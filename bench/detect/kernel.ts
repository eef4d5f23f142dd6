// bench/detect/kernel: what kernel telemetry costs inside a run, and what a burst does to it.
//
// Overhead: 2,000 fork+exec of /bin/true by a shell, (a) with no telemetry loaded, (b) with the
// programs loaded and the shell outside any run (what the host's own processes pay: the in-kernel
// filter), (c) with the programs loaded and the shell in a run's cgroup2 group (everything is
// reported and read). Rounds alternate; medians are compared.
//
// Burst: a small C generator opens a file in a tight loop inside a run (each open is one event,
// much cheaper than a fork+exec) while the loader's output is read the way the control plane
// reads it (JSON lines, parsed). Every event is either delivered or counted as dropped by the
// kernel side; the rate reached and both counts are printed.
//
//   npm run bench:setup && node build/bench/detect/kernel.js [--rounds 5] [--burst 1000000]
//
// Needs root, cgroup2 (at /sys/fs/cgroup/unified on a v1 host), and dist/rampart-telemetry.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ROOT } from '../../test/support/cli.js';
import { tempDir } from '../../test/support/tmp.js';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, burst: { type: 'string', default: '1000000' } },
});
const ROUNDS = Number(values.rounds);
const BURST = Number(values.burst);
const LOADER = join(ROOT, 'dist', 'rampart-telemetry');
const CG2 = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
const PARENT = `rampart-bench-${process.pid}`;
const RUN = join(CG2, PARENT, 'run');

interface Reader {
  child: ChildProcess;
  lines: Record<string, number>;
  drops: number;
  ready: Promise<void>;
  stop(): Promise<void>;
}

function startLoader(): Reader {
  const child = spawn(LOADER, ['--parent', PARENT, '--level', '1', '--deny', 'mount,unshare'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const r: Reader = {
    child,
    lines: {},
    drops: 0,
    ready: Promise.resolve(),
    stop: () =>
      new Promise((resolve) => {
        child.on('exit', () => resolve());
        child.stdin.end();
      }),
  };
  r.ready = new Promise((resolve) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      const o = JSON.parse(l) as { t: string; total?: number };
      if (o.t === 'ready') resolve();
      else if (o.t === 'drops') r.drops = o.total ?? 0;
      else r.lines[o.t] = (r.lines[o.t] ?? 0) + 1;
    });
  });
  return r;
}

/** Runs `script` in sh, inside the run's group when `inRun`; resolves with wall-clock ms. */
function timed(script: string, inRun: boolean): Promise<number> {
  const wrapped = inRun ? `echo $$ > ${join(RUN, 'cgroup.procs')} && exec sh -c '${script}'` : script;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn('sh', ['-c', wrapped], { stdio: 'ignore' });
    c.on('exit', (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`exit ${code}`)),
    );
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const t = tempDir('rampart-bench-kernel-');
mkdirSync(RUN, { recursive: true });
try {
  const nodeStart = spawnSync(process.execPath, ['-e', '0']);
  void nodeStart;
  const n0 = performance.now();
  for (let i = 0; i < 5; i++) spawnSync(process.execPath, ['-e', '0']);
  console.log(
    `node -e 0: ${((performance.now() - n0) / 5).toFixed(0)} ms (this machine's speed, for comparison)`,
  );

  // ---------------------------------------------------------------- overhead
  const LOOP = 'i=0; while [ $i -lt 2000 ]; do /bin/true; i=$((i+1)); done';
  const off: number[] = [];
  const host: number[] = [];
  const run: number[] = [];
  await timed(LOOP, false);
  for (let r = 0; r < ROUNDS; r++) {
    off.push(await timed(LOOP, true));
    const reader = startLoader();
    await reader.ready;
    host.push(await timed(LOOP, false));
    run.push(await timed(LOOP, true));
    await reader.stop();
  }
  const base = median(off);
  console.log(`2,000 fork+exec of /bin/true (median of ${ROUNDS}):`);
  console.log(`  telemetry off:                     ${base.toFixed(0)} ms`);
  console.log(
    `  on, process outside any run:       ${median(host).toFixed(0)} ms (${(median(host) / base).toFixed(3)}x)`,
  );
  console.log(
    `  on, process in a run (reported):   ${median(run).toFixed(0)} ms (${(median(run) / base).toFixed(3)}x)`,
  );

  // ---------------------------------------------------------------- burst
  const src = join(t.dir, 'burst.c');
  const bin = join(t.dir, 'burst');
  writeFileSync(
    src,
    `#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int c, char **v) {
  long n = atol(v[1]);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) { int fd = open("/etc/hostname", O_RDONLY); if (fd >= 0) close(fd); }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%ld %f\\n", n, (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
  return 0;
}
`,
  );
  execFileSync('cc', ['-O2', '-o', bin, src]);
  const reader = startLoader();
  await reader.ready;
  // Spawned, not run synchronously: the reader must keep reading while the generator runs.
  const out = await new Promise<string>((resolve, reject) => {
    const g = spawn('sh', ['-c', `echo $$ > ${join(RUN, 'cgroup.procs')} && exec ${bin} ${BURST}`]);
    let text = '';
    g.stdout.on('data', (b: Buffer) => (text += b.toString()));
    g.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`generator exited ${code}`))));
  });
  const [, secs] = out.trim().split(' ').map(Number) as [number, number];
  // Let the reader drain what is queued, then stop the loader (it reports drops as it goes).
  let last = -1;
  while ((reader.lines['open'] ?? 0) !== last) {
    last = reader.lines['open'] ?? 0;
    await new Promise((r) => setTimeout(r, 700));
  }
  await reader.stop();
  const delivered = reader.lines['open'] ?? 0;
  console.log(
    `burst: ${BURST.toLocaleString('en')} opens in ${secs.toFixed(2)} s (${Math.round(BURST / secs).toLocaleString('en')} events/s generated)`,
  );
  console.log(
    `  delivered: ${delivered.toLocaleString('en')}; dropped in the kernel (counted): ${reader.drops.toLocaleString('en')}`,
  );
  console.log(
    `  accounted for: ${(delivered + reader.drops).toLocaleString('en')} of ${BURST.toLocaleString('en')} (${delivered + reader.drops >= BURST ? 'all' : 'NOT all'})`,
  );
} finally {
  try {
    rmdirSync(RUN);
    rmdirSync(join(CG2, PARENT));
  } catch {
    // a process still in it: removed by the next run
  }
  t.cleanup();
}

// bench/runtimes: the Docker runtime against the Docker CLI on the same Engine and image, side by
// side in one run: start to exit of `true`; the kill switch with many running containers; the
// API's health latency while a running container is quarantined.
//
//   npm run bench:setup && node build/bench/runtimes/run.js [--n 20] [--containers 50]
//
// Needs root, dockerd (Debian's docker.io), busybox-static and cgroups; it starts a private
// dockerd of its own (test/support/docker.ts) and stops it at the end.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BIN, startServer } from '../../test/support/cli.js';
import { importBusybox, startDockerd } from '../../test/support/docker.js';
import { adminToken, api } from '../../test/support/http.js';
import { sandboxControlPlaneDir } from '../../test/support/sandbox.js';
import { mean, pct, row } from './stats.js';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '20' }, containers: { type: 'string', default: '50' } },
});
const N = Number(values.n);
const CONTAINERS = Number(values.containers);

interface RunRow {
  readonly id: string;
  readonly agent: string;
  readonly status: string;
}

function exec(cmd: string, args: string[], cwd?: string): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('exit', (code) =>
      code === 0
        ? resolve(performance.now() - t0)
        : reject(new Error(`${cmd} ${args.join(' ')}: ${code} ${err}`)),
    );
  });
}

async function series(fn: () => Promise<number>): Promise<number[]> {
  for (let i = 0; i < 3; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < N; i++) out.push(await fn());
  return out;
}

const d = await startDockerd();
const image = await importBusybox(d);
const cp = sandboxControlPlaneDir(
  `  docker:\n    socket: ${d.socket}\n    images: ["${image}"]\nlogging:\n  level: warn\n`,
);
const server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
const admin = api(server.url, adminToken(cp.dir.dir));
const node = process.execPath;
const rampartRun = (...args: string[]): string[] => [BIN, 'run', '--no-network', ...args];
/** A container run of `sleep 300` for `agent`, left running. */
const sleeper = (agent: string, ...args: string[]): ChildProcess =>
  spawn(
    node,
    rampartRun(
      '--runtime',
      'docker',
      '--image',
      image,
      '--agent',
      agent,
      ...args,
      '--',
      '/bin/busybox',
      'sleep',
      '300',
    ),
    { cwd: cp.dir.dir, stdio: 'ignore' },
  );

try {
  // ------------------------------------------------------------------ start to exit of `true`
  const bare = await series(() => exec(node, ['-e', '0']));
  const dockerCli = await series(() =>
    exec('docker', ['-H', d.host, 'run', '--rm', '--network', 'none', image, '/bin/busybox', 'true']),
  );
  const rampartDocker = await series(() =>
    exec(node, rampartRun('--runtime', 'docker', '--image', image, '--', '/bin/busybox', 'true'), cp.dir.dir),
  );
  const rampartBwrap = await series(() => exec(node, rampartRun('--', 'true'), cp.dir.dir));

  console.log(`\n## Start to exit of \`true\`, ${N} runs each (after 3 warm-up runs)\n`);
  console.log('| Command | mean | p50 | p90 |');
  console.log('| --- | --- | --- | --- |');
  row('`node -e 0`', bare);
  row('`docker run --rm --network none IMAGE true` (Docker CLI 28 against Engine 20.10)', dockerCli);
  row('`rampart run --runtime docker --image IMAGE -- true`', rampartDocker);
  row('`rampart run -- true` (bwrap, for comparison)', rampartBwrap);
  console.log(
    `\nRampart's Docker runtime / docker run: ${(mean(rampartDocker) / mean(dockerCli)).toFixed(2)}x (goal: at most 1.2x)`,
  );

  // ------------------------------------------------------------------ kill switch
  const runs: ChildProcess[] = [];
  const exited: Promise<number>[] = [];
  for (let i = 0; i < CONTAINERS; i++) {
    const c = sleeper('killme');
    runs.push(c);
    exited.push(new Promise((r) => c.on('exit', () => r(performance.now()))));
  }
  const t0 = performance.now();
  for (;;) {
    const list = ((await admin('GET', '/v1/runs')).json as { runs: RunRow[] }).runs;
    const live = list.filter((r) => r.agent === 'killme' && r.status === 'running').length;
    const up = Number(
      (await d.docker(['ps', '-q', '--filter', 'label=io.rampart.run'])).stdout
        .trim()
        .split('\n')
        .filter(Boolean).length,
    );
    if (live === CONTAINERS && up === CONTAINERS) break;
    if (performance.now() - t0 > 300_000)
      throw new Error(`only ${live} runs and ${up} containers after 300 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const startedIn = performance.now() - t0;
  // Each container's pid 1 (its PID namespace dies with it): dead once gone or a zombie.
  const ids = (await d.docker(['ps', '-q', '--filter', 'label=io.rampart.run'])).stdout.trim().split('\n');
  const pids = (await d.docker(['inspect', '--format', '{{.State.Pid}}', ...ids])).stdout
    .trim()
    .split('\n')
    .map(Number);
  const dead = (pid: number): boolean => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      return /^\) [ZX] /.test(stat.slice(stat.lastIndexOf(')')));
    } catch {
      return true;
    }
  };
  const k0 = performance.now();
  const killed = (async () => {
    while (!pids.every(dead)) await new Promise((r) => setImmediate(r));
    return performance.now() - k0;
  })();
  const res = await admin('POST', '/v1/runs/destroy', { reason: 'bench' });
  const answered = performance.now() - k0;
  const processesGone = await killed;
  const ends = await Promise.all(exited);
  const allGone = Math.max(...ends) - k0;
  let containersGone = 0;
  for (let i = 0; i < 100; i++) {
    const up = (await d.docker(['ps', '-q', '--filter', 'label=io.rampart.run'])).stdout.trim();
    if (up === '') {
      containersGone = performance.now() - k0;
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log(`\n## Kill switch with ${CONTAINERS} running containers\n`);
  console.log('| Measure | Rampart |');
  console.log('| --- | --- |');
  console.log(
    `| ${CONTAINERS} containers started and running (concurrently, 2 cores) | ${(startedIn / 1000).toFixed(1)} s |`,
  );
  console.log(
    `| every container's processes dead (${pids.length} containers' pid 1, polled from /proc) | ${processesGone.toFixed(0)} ms |`,
  );
  console.log(`| \`POST /v1/runs/destroy\` answered (${res.status}) | ${answered.toFixed(0)} ms |`);
  console.log(`| every \`rampart run\` process exited (137) | ${allGone.toFixed(0)} ms |`);
  console.log(
    `| no container of a run left on the Engine | ${containersGone ? `${containersGone.toFixed(0)} ms` : 'not within 2 s'} |`,
  );

  // ------------------------------------------------------------------ quarantine and health
  const ws = join(cp.dir.dir, 'qws');
  mkdirSync(ws, { mode: 0o700 });
  for (let i = 0; i < 200; i++) writeFileSync(join(ws, `f${i}`), Buffer.alloc(256 * 1024, i));
  const victim = sleeper('victim', '--workspace', ws);
  const victimExit = new Promise((r) => victim.on('exit', r));
  let id: string | undefined;
  while (!id) {
    const list = ((await admin('GET', '/v1/runs')).json as { runs: RunRow[] }).runs;
    id = list.find((r) => r.agent === 'victim' && r.status === 'running')?.id;
    await new Promise((r) => setTimeout(r, 50));
  }
  const health: number[] = [];
  let capturing = true;
  const poller = (async () => {
    while (capturing) {
      const t = performance.now();
      await admin('GET', '/v1/health');
      health.push(performance.now() - t);
    }
  })();
  const q0 = performance.now();
  const q = await admin('POST', `/v1/runs/${id}/quarantine`, { reason: 'bench' });
  const quarantined = performance.now() - q0;
  capturing = false;
  await poller;
  await victimExit;
  const ev = (q.json as { evidence?: { bytes: number; kept: number } }).evidence;
  console.log(`\n## Quarantine of a running container (workspace: 200 files, 50 MiB)\n`);
  console.log('| Measure | Rampart |');
  console.log('| --- | --- |');
  console.log(
    `| quarantine answered (${q.status}), evidence captured | ${quarantined.toFixed(0)} ms (${ev?.kept ?? 0} files, ${((ev?.bytes ?? 0) / 1048576).toFixed(1)} MiB archive) |`,
  );
  console.log(
    `| \`GET /v1/health\` during capture: ${health.length} requests, p50 / p99 / max | ${pct(health, 0.5).toFixed(1)} / ${pct(health, 0.99).toFixed(1)} / ${Math.max(...health).toFixed(1)} ms (goal p99 < 50 ms) |`,
  );
} finally {
  await server.stop();
  cp.cleanup();
  await d.stop();
}

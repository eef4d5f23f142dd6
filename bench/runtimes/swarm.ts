// bench/runtimes/swarm: the Swarm runtime beside the Docker CLI doing the same work on the same
// one-node swarm and image: start to exit of `true`, from nothing to nothing left. Rampart makes
// the run's internal overlay network and its service, holds the task at its gate while it checks
// it on the node and records the run, waits for it to exit and removes both; the peer is
// `docker network create --internal` + `docker service create` of the same hardened spec, waited
// on until its task completes (the Engine's task list, polled as Rampart polls it), then
// `docker service rm` and `docker network rm`.
//
//   npm run bench:setup && node build/bench/runtimes/swarm.js [--n 10]
//
// Needs root, dockerd (Debian's docker.io), busybox-static and cgroups; it starts a private
// one-node swarm (test/support/docker.ts) and stops it at the end.

import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { BIN, rampart, startServer } from '../../test/support/cli.js';
import { importBusybox, startDockerd } from '../../test/support/docker.js';
import { sandboxControlPlaneDir } from '../../test/support/sandbox.js';
import { mean, row } from './stats.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '10' } } });
const N = Number(values.n);

function exec(cmd: string, args: string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${code} ${err}`)),
    );
  });
}

async function series(fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 2; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

const profile = rampart(['harden', '--seccomp-profile'], { cwd: '/' }).stdout;
const d = await startDockerd({ swarm: { seccompProfile: profile } });
const image = await importBusybox(d);
const cp = sandboxControlPlaneDir(
  `  docker:\n    socket: ${d.socket}\n    images: ["${image}"]\nlogging:\n  level: warn\n`,
);
const server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
const docker = (...args: string[]): Promise<string> => exec('docker', ['-H', d.host, ...args]);

let n = 0;
/** The peer: the same service, by the Docker CLI, until its task is complete and all is removed. */
async function dockerService(): Promise<void> {
  const name = `peer-${n++}`;
  await docker('network', 'create', '--driver', 'overlay', '--internal', name);
  const id = (
    await docker(
      ...['service', 'create', '--detach', '--quiet', '--name', name, '--network', name],
      ...['--restart-condition', 'none', '--read-only', '--user', '2000:2000', '--cap-drop', 'ALL'],
      ...['--limit-memory', '512m', '--limit-cpu', '1', '--limit-pids', '260', '--endpoint-mode', 'dnsrr'],
      ...['--log-driver', 'none', '--mount', 'type=tmpfs,destination=/tmp', image, '/bin/busybox', 'true'],
    )
  ).trim();
  const filter = encodeURIComponent(JSON.stringify({ service: [id] }));
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    const r = await d.api('GET', `/tasks?filters=${filter}`);
    const state = (JSON.parse(r.body) as { Status?: { State?: string } }[])[0]?.Status?.State;
    if (state === 'complete') break;
    if (state === 'failed' || state === 'rejected') throw new Error(`peer task ${state}`);
    await new Promise((r) => setTimeout(r, wait));
  }
  await docker('service', 'rm', id);
  await docker('network', 'rm', name);
}

try {
  const bare = await series(() => exec(process.execPath, ['-e', '0']));
  const peer = await series(dockerService);
  const ours = await series(() =>
    exec(
      process.execPath,
      [BIN, 'run', '--no-network', '--runtime', 'swarm', '--image', image, '--', '/bin/busybox', 'true'],
      cp.dir.dir,
    ),
  );
  console.log(`\n## Swarm: start to exit of \`true\`, ${N} runs each (after 2 warm-up runs)\n`);
  console.log('| Command | mean | p50 | p90 |');
  console.log('| --- | --- | --- | --- |');
  row('`node -e 0`', bare);
  row(
    '`docker network create --internal` + `docker service create` … until complete, `service rm`, `network rm`',
    peer,
  );
  row('`rampart run --runtime swarm --image IMAGE -- true`', ours);
  console.log(
    `\nRampart's Swarm runtime / the Docker CLI doing the same: ${(mean(ours) / mean(peer)).toFixed(2)}x`,
  );
} finally {
  await server.stop();
  cp.cleanup();
  await d.stop();
}

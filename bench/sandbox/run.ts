// bench/sandbox: start-to-exit of `true` in a sandbox, against a plain bwrap with the same
// namespaces and against Anthropic's sandbox-runtime (srt), side by side in one run; the kill
// switch with 100 running sandboxes; memory per running sandbox.
//
//   npm run bench:setup && node build/bench/sandbox/run.js [--n 100] [--sandboxes 100]
//
// Needs root, bubblewrap, cgroups (v1 or v2), and for the srt row ripgrep and socat (.ci/run
// installs them).

import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BUILTIN_PROFILES } from '../../src/config/load.js';
import { SandboxService } from '../../src/sandbox/service.js';
import { BIN, ROOT, startServer } from '../../test/support/cli.js';
import { adminToken, api } from '../../test/support/http.js';
import { tempDir } from '../../test/support/tmp.js';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '100' }, sandboxes: { type: 'string', default: '100' } },
});
const N = Number(values.n);
const SANDBOXES = Number(values.sandboxes);

function stats(ms: number[]): { mean: number; p50: number; p90: number } {
  const s = [...ms].sort((a, b) => a - b);
  return {
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    p50: s[Math.floor(s.length * 0.5)]!,
    p90: s[Math.floor(s.length * 0.9)]!,
  };
}

async function timeCommand(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<number> {
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: 'ignore', cwd: opts.cwd });
    c.on('error', reject);
    c.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`)),
    );
  });
  return performance.now() - t0;
}

async function series(n: number, fn: () => Promise<number>): Promise<number[]> {
  for (let i = 0; i < 3; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await fn());
  return out;
}

const dir = tempDir();
chmodSync(dir.dir, 0o711); // the sandbox user must reach the workspaces under it
const workspaces = join(dir.dir, 'ws');
mkdirSync(workspaces, { mode: 0o711 });
writeFileSync(
  join(dir.dir, 'rampart.yaml'),
  `sandbox:\n  cgroup_parent: rampart-bench\n  workspaces_dir: ${workspaces}\nlogging:\n  level: warn\n`,
);
const svc = SandboxService.create({
  runtime: 'bwrap',
  docker: { socket: '/var/run/docker.sock', images: [] },
  bwrap: '/usr/bin/bwrap',
  cgroupParent: 'rampart-bench',
  uids: { first: 2_100_500_000, count: 1000 },
  evidence: { maxBytes: 1 << 30, maxFileBytes: 256 << 20, timeoutMs: 60_000, maxMemoryBytes: 512 << 20 },
  gracePeriodMs: 1000,
  workspacesDir: workspaces,
  dataDir: join(dir.dir, '.rampart'),
  evidenceDir: join(dir.dir, 'evidence'),
  hide: [],
  profiles: BUILTIN_PROFILES,
  maxRunLifetimeMs: 7_200_000,
});
if (svc.problem) throw new Error(svc.problem);
const ws = join(workspaces, 'shared');
mkdirSync(ws);
chownSync(ws, 65534, 65534);

// Plain bwrap, the same namespaces and binds, as the same unprivileged user, no cgroup/seccomp.
const plainArgs = [
  '--unshare-user',
  '--unshare-pid',
  '--unshare-ipc',
  '--unshare-uts',
  '--unshare-net',
  '--unshare-cgroup-try',
  '--die-with-parent',
  '--new-session',
  '--cap-drop',
  'ALL',
  '--proc',
  '/proc',
  '--dev',
  '/dev',
  ...['/usr', '/bin', '/sbin', '/lib', '/lib64', '/etc'].flatMap((d) => ['--ro-bind-try', d, d]),
  '--tmpfs',
  '/tmp',
  '--bind',
  ws,
  '/workspace',
  '--',
  'true',
];
const plain = await series(N, async () => {
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const c = spawn('/usr/bin/bwrap', plainArgs, { stdio: 'ignore', uid: 65534, gid: 65534, env: {} });
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bwrap exited ${code}`))));
  });
  return performance.now() - t0;
});

let k = 0;
const lib = await series(N, async () => {
  const t0 = performance.now();
  const spec = svc.prepare({
    id: `bench-${process.pid}-${k++}`,
    agent: 'bench',
    command: ['true'],
    workspace: ws,
  });
  const r = await (await svc.start(spec)).done;
  if (r.exitCode !== 0) throw new Error(`sandbox exited ${r.exitCode}`);
  return performance.now() - t0;
});

const nodeBare = await series(N, () => timeCommand(process.execPath, ['-e', '0']));
const server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
const cliNoToken = await series(N, () =>
  timeCommand(process.execPath, [BIN, 'run', '--no-token', '--workspace', ws, '--', 'true'], {
    cwd: dir.dir,
  }),
);
const cli = await series(N, () =>
  timeCommand(process.execPath, [BIN, 'run', '--workspace', ws, '--', 'true'], { cwd: dir.dir }),
);
const srtBin = join(ROOT, 'bench', 'node_modules', '.bin', 'srt');
let srt: number[] | undefined;
if (spawnSync(srtBin, ['true']).status === 0)
  srt = await series(Math.min(N, 30), () => timeCommand(srtBin, ['true']));

const rows: [string, number[], string][] = [
  ['plain bwrap, same namespaces (spawned from Node)', plain, ''],
  ['Rampart library in-process (cgroup, seccomp, secrets dir, limits)', lib, ''],
  ['node -e 0', nodeBare, ''],
  ['`rampart run --no-token -- true` (CLI, registered and audited)', cliNoToken, ''],
  ['`rampart run -- true` (CLI, plus a workload token issued and revoked)', cli, ''],
  ...(srt ? ([['`srt true` (sandbox-runtime 0.0.78)', srt, '']] as [string, number[], string][]) : []),
];
const p = stats(plain).mean;
const nb = stats(nodeBare).mean;
rows[1]![2] = `${(stats(lib).mean / p).toFixed(2)}x plain bwrap (goal <= 1.5x)`;
rows[3]![2] = `${(stats(cliNoToken).mean / (nb + p)).toFixed(2)}x (node -e 0 + bwrap) (goal <= 1.5x)`;
rows[4]![2] = `${(stats(cli).mean / (nb + p)).toFixed(2)}x (node -e 0 + bwrap)`;
console.log(`\n## Start to exit of \`true\` (${N} runs each, srt ${Math.min(N, 30)})\n`);
console.log('| | mean | p50 | p90 | Note |');
console.log('| --- | --- | --- | --- | --- |');
for (const [name, ms, note] of rows) {
  const s = stats(ms);
  console.log(
    `| ${name} | ${s.mean.toFixed(1)} ms | ${s.p50.toFixed(1)} ms | ${s.p90.toFixed(1)} ms | ${note} |`,
  );
}

// ------------------------------------------------------------------ kill switch and memory
const running = [];
for (let i = 0; i < SANDBOXES; i++) {
  const spec = svc.prepare({
    id: `sleep-${process.pid}-${i}`,
    agent: 'bench',
    command: ['sleep', '1000'],
    workspace: ws,
  });
  running.push(await svc.start(spec));
}
await new Promise((r) => setTimeout(r, 500));
// Memory: what each sandbox's cgroup holds (sleep itself, bwrap's pid 1, tmpfs pages), and the
// RSS of the bwrap monitor processes outside the sandbox's pid namespace.
const cgroupBytes = running.map((r) => {
  try {
    return Number(readFileSync(`/sys/fs/cgroup/memory/rampart-bench/${r.id}/memory.usage_in_bytes`, 'utf8'));
  } catch {
    return Number(readFileSync(`/sys/fs/cgroup/rampart-bench/${r.id}/memory.current`, 'utf8'));
  }
});
const rssKb = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
const pidsPer = running.map((r) => r.cgroup.pids());
const rssPer = pidsPer.map((pids) => pids.reduce((a, pid) => a + rssKb(pid), 0));
const sleepRss = rssKb(pidsPer[0]![pidsPer[0]!.length - 1]!);
const call = api(server.url, adminToken(dir.dir));
const t0 = performance.now();
const res = await call('POST', '/v1/runs/destroy');
const results = await Promise.all(running.map((r) => r.done));
const allGone = performance.now() - t0;
const destroyed = (res.json as { destroyed: string[] }).destroyed.length;
if (results.some((r) => r.signal !== 'SIGKILL')) throw new Error('a sandbox survived the kill switch');
const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
console.log(`\n## Kill switch and memory (${SANDBOXES} sandboxes running \`sleep 1000\`)\n`);
console.log('| | Value | Goal |');
console.log('| --- | --- | --- |');
console.log(
  `| \`POST /v1/runs/destroy\` answered (every cgroup frozen and SIGKILLed) | ${(res.status === 200 ? (res.json as { ms: number }).ms : NaN).toFixed(1)} ms in the control plane, ${destroyed} runs | |`,
);
console.log(
  `| From the request until every run's process tree is gone and reaped | ${allGone.toFixed(0)} ms | <= 1,000 ms |`,
);
console.log(
  `| Memory charged to each sandbox's cgroup (mean) | ${(mean(cgroupBytes) / 1024).toFixed(0)} KiB | reported |`,
);
console.log(
  `| RSS of each sandbox's processes (bwrap monitor, pid 1, sleep), mean | ${mean(rssPer).toFixed(0)} KiB, of which sleep ${sleepRss} KiB | reported |`,
);

await server.stop();
dir.cleanup();

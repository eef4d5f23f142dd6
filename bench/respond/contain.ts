// bench/respond: how fast a compromised run is contained, and what holds under pressure.
//
// 1. Act -> contained, one host: `rampart up` with kernel telemetry and the shipped playbooks
//    (crypto-mining replaced by a site playbook of the same name that freezes, revokes and cuts);
//    each `rampart run` stamps CLOCK_MONOTONIC just before it execs a miner's name (the act), and
//    three pollers outside the run note when its cgroup reads FROZEN, when the API refuses its
//    token and when its egress channel refuses a connection. Contained is the last of the three.
//    The stages come from the audit log: the exec event on record, the detection on record, the
//    actions done.
// 2. The same with the run kept by replica B and the playbook run by replica A (PostgreSQL).
// 3. Sever external: 200 open tunnels through the proxy, then `sever-external`; the time until
//    the last client sees its connection closed. The egress kill switch (the same proxy's
//    per-replica switch) is measured the same way beside it.
// 4. The storm: 1,000 detections within a second against 100 real runs (cgroups with a sleeping
//    process each) under a kill playbook and the default breaker: actions taken, the time, and
//    the critical events.
//
//   npm run bench:setup && node build/bench/respond/contain.js [--n 30] [--skip-replicas]
//
// Needs root, bubblewrap, cgroups, dist/rampart-telemetry and PostgreSQL for part 2.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BIN, startServer } from '../../test/support/cli.js';
import { adminToken, api, type Api } from '../../test/support/http.js';
import { skipPg } from '../../test/support/pg.js';
import { sandboxReplicas } from '../../test/support/replicas.js';
import { sandboxControlPlaneDir } from '../../test/support/sandbox.js';
import { tempDir } from '../../test/support/tmp.js';
import { storm } from './storm.js';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '30' }, 'skip-replicas': { type: 'boolean' } },
});
const N = Number(values.n);

const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const row = (name: string, xs: number[]): string =>
  `| ${name} | ${pct(xs, 0.5).toFixed(1)} | ${pct(xs, 0.9).toFixed(1)} | ${pct(xs, 0.99).toFixed(1)} | ${Math.max(...xs).toFixed(1)} |`;
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

// The sever part opens 200 tunnels from one agent to a local origin: allowed, and not rate limited.
const EGRESS_YAML = `egress:\n  allow_ranges: [127.0.0.2/32]\n  allow: ['127.0.0.2']\n  max_connections_per_agent: 1000\nidentity:\n  rate_limits:\n    egress:\n      per_agent: {rate: 10000, burst: 10000}\n      per_token: {rate: 10000, burst: 10000}\n`;

const PLAYBOOK = `- playbook: crypto-mining
  match: {rules: [crypto-miner-executed]}
  actions: [freeze, cut_egress, revoke_tokens]
`;

// The act: python stamps the monotonic and wall clocks, then execs a miner's name (sleep).
const SCRIPT = `ln -s /bin/sleep /tmp/xmrig; cp /run/rampart/token /workspace/token
while [ ! -e /workspace/go ]; do sleep 0.01; done
exec python3 -c "
import os, time
m = time.monotonic_ns(); w = time.time_ns()
open('/workspace/act', 'w').write(f'{m} {w}')
os.execv('/tmp/xmrig', ['xmrig', '60'])"`;

interface RecordRow {
  time: string;
  action: string;
  details: {
    data?: { run?: string; comm?: string; rule?: string; outcome?: string; sinceDetectionMs?: number };
  };
}

interface Sample {
  total: number;
  event: number;
  detection: number;
  action: number;
  frozen: number;
  token: number;
  channel: number;
}

/** One run from act to contained, on `keeper` (where it registers) with `decider` reading the log. */
async function once(
  agent: string,
  keeper: { dir: string; admin: Api },
  decider: Api,
  paths: { cgroup: string; ws: string },
): Promise<Sample> {
  const child = spawn(process.execPath, [BIN, 'run', '--agent', agent, '--', 'sh', '-c', SCRIPT], {
    cwd: keeper.dir,
    stdio: 'ignore',
  });
  let run = '';
  while (!run) {
    const runs = (
      (await keeper.admin('GET', '/v1/runs')).json as {
        runs: { id: string; agent: string; status: string }[];
      }
    ).runs;
    run = runs.find((r) => r.agent === agent && r.status === 'running')?.id ?? '';
    if (!run) await new Promise((r) => setTimeout(r, 10));
  }
  const ws = join(paths.ws, run);
  while (!existsSync(join(ws, 'token'))) await new Promise((r) => setTimeout(r, 5));
  const token = readFileSync(join(ws, 'token'), 'utf8').trim();
  const freezer = join(paths.cgroup, run, 'freezer.state');
  const sock = join(paths.ws, '.egress', run, 'proxy.sock');
  const seen: Partial<Record<'frozen' | 'token' | 'channel', number>> = {};
  const poll = async (k: keyof typeof seen, test: () => Promise<boolean> | boolean): Promise<void> => {
    while (seen[k] === undefined) {
      if (await test()) seen[k] = nowMs();
      else await new Promise((r) => setImmediate(r));
    }
  };
  const refused = (): Promise<boolean> =>
    new Promise((resolve) => {
      const s = connect(sock);
      s.on('connect', () => (s.destroy(), resolve(false)));
      s.on('error', () => resolve(true));
    });
  const pollers = Promise.all([
    poll('frozen', () => {
      try {
        return readFileSync(freezer, 'utf8').startsWith('FROZEN');
      } catch {
        return true; // gone
      }
    }),
    poll('token', async () => (await keeper.admin('GET', '/v1/whoami', undefined, token)).status === 401),
    poll('channel', refused),
  ]);
  writeFileSync(join(ws, 'go'), '');
  await Promise.race([
    pollers,
    new Promise((_, rej) => setTimeout(() => rej(new Error(`run ${run} not contained in 20 s`)), 20_000)),
  ]);
  const [mono = NaN, wall = NaN] = readFileSync(join(ws, 'act'), 'utf8')
    .split(' ')
    .map((x) => Number(BigInt(x) / 1000n) / 1000);
  const records = (
    (await decider('GET', '/v1/audit/records?limit=10000&from=0')).json as { records: RecordRow[] }
  ).records;
  const mine = records.filter((r) => r.details.data?.run === run);
  const exec = mine.find((r) => r.action === 'event.process.exec' && r.details.data?.comm === 'xmrig');
  const det = mine.find(
    (r) => r.action === 'event.detect.detection' && r.details.data?.rule === 'crypto-miner-executed',
  );
  const acts = mine.filter(
    (r) => r.action === 'event.respond.action' && ['done', 'ordered'].includes(r.details.data?.outcome ?? ''),
  );
  if (!exec || !det) throw new Error(`run ${run}: the exec or the detection is not on record`);
  spawnSync(process.execPath, [BIN, 'kill', run], { cwd: keeper.dir, stdio: 'ignore' });
  await new Promise((r) => child.on('exit', r));
  const frozen = seen.frozen! - mono;
  const tokenAt = seen.token! - mono;
  const channel = seen.channel! - mono;
  return {
    total: Math.max(frozen, tokenAt, channel),
    event: Date.parse(exec.time) - wall,
    detection: Date.parse(det.time) - Date.parse(exec.time),
    action: Math.max(...acts.map((a) => a.details.data?.sinceDetectionMs ?? 0)),
    frozen,
    token: tokenAt,
    channel,
  };
}

function table(title: string, samples: Sample[]): void {
  console.log(`\n${title} (${samples.length} runs; ms)\n`);
  console.log('| Stage | p50 | p90 | p99 | max |\n| --- | --- | --- | --- | --- |');
  console.log(
    row(
      'act -> exec event on record',
      samples.map((s) => s.event),
    ),
  );
  console.log(
    row(
      'event -> detection on record',
      samples.map((s) => s.detection),
    ),
  );
  console.log(
    row(
      'detection -> last action done',
      samples.map((s) => s.action),
    ),
  );
  console.log(
    row(
      'act -> cgroup FROZEN (seen outside)',
      samples.map((s) => s.frozen),
    ),
  );
  console.log(
    row(
      'act -> token refused by the API',
      samples.map((s) => s.token),
    ),
  );
  console.log(
    row(
      'act -> channel refuses a connection',
      samples.map((s) => s.channel),
    ),
  );
  console.log(
    row(
      '**act -> contained (the last of the three)**',
      samples.map((s) => s.total),
    ),
  );
}

async function oneHost(): Promise<void> {
  const cp = sandboxControlPlaneDir(
    `respond:\n  playbooks: [./playbooks]\nlogging:\n  level: warn\n` + EGRESS_YAML,
  );
  mkdirSync(join(cp.dir.dir, 'playbooks'));
  writeFileSync(join(cp.dir.dir, 'playbooks', 'bench.yaml'), PLAYBOOK);
  const server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
  try {
    const admin = api(server.url, adminToken(cp.dir.dir));
    const paths = { cgroup: join('/sys/fs/cgroup/freezer', cp.cgroupParent), ws: join(cp.dir.dir, 'ws') };
    const keeper = { dir: cp.dir.dir, admin };
    for (let i = 0; i < 3; i++) await once(`warm-${i}`, keeper, admin, paths);
    const samples: Sample[] = [];
    for (let i = 0; i < N; i++) samples.push(await once(`bench-${i}`, keeper, admin, paths));
    table('One host', samples);
    // The person's path, for scale: `rampart respond freeze` from a shell, the command's own time.
    const t: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = nowMs();
      spawnSync(process.execPath, [BIN, 'respond', 'status'], { cwd: cp.dir.dir, stdio: 'ignore' });
      t.push(nowMs() - t0);
    }
    const n: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = nowMs();
      spawnSync(process.execPath, ['-e', '0']);
      n.push(nowMs() - t0);
    }
    console.log(
      `\nFor scale, same run: \`rampart respond status\` p50 ${pct(t, 0.5).toFixed(1)} ms; \`node -e 0\` p50 ${pct(n, 0.5).toFixed(1)} ms`,
    );
    await sever(admin, cp.dir.dir);
  } finally {
    await server.stop();
    cp.cleanup();
  }
}

async function replicas(): Promise<void> {
  const playbooks = tempDir();
  writeFileSync(join(playbooks.dir, 'bench.yaml'), PLAYBOOK);
  const r = await sandboxReplicas(
    `respond:\n  playbooks: [${playbooks.dir}]\nlogging:\n  level: warn\n`,
    'detect:\n  enabled: false\nlogging:\n  level: warn\n',
  );
  try {
    const paths = { cgroup: join('/sys/fs/cgroup/freezer', r.cgroupParent), ws: r.workspaces };
    const keeper = { dir: r.b.dir.dir, admin: r.b.admin };
    for (let i = 0; i < 3; i++) await once(`warm-${i}`, keeper, r.a.admin, paths);
    const samples: Sample[] = [];
    for (let i = 0; i < N; i++) samples.push(await once(`far-${i}`, keeper, r.a.admin, paths));
    table('Run kept by replica B, playbook run by replica A (PostgreSQL)', samples);
  } finally {
    spawnSync(process.execPath, [BIN, 'destroy', '--all'], { cwd: r.b.dir.dir, stdio: 'ignore' });
    await r.cleanup();
    playbooks.cleanup();
  }
}

/** 200 tunnels open through the proxy; the time from the request until the last one closes. */
async function sever(admin: Api, dir: string): Promise<void> {
  const origin = createServer((s) => s.on('error', () => undefined));
  await new Promise<void>((r) => origin.listen(0, '127.0.0.2', r));
  const port = (origin.address() as { port: number }).port;
  const egress = new URL(
    (JSON.parse(readFileSync(join(dir, '.rampart', 'control-plane.json'), 'utf8')) as { egress: string })
      .egress,
  );
  const issued = await admin('POST', '/v1/tokens', { agent: 'sever-bench', namespace: 'default' });
  const token = (issued.json as { token: string }).token;
  const open = async (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = connect(Number(egress.port), egress.hostname);
      s.once('error', reject);
      s.write(
        `CONNECT 127.0.0.2:${port} HTTP/1.1\r\nHost: 127.0.0.2:${port}\r\nProxy-Authorization: Bearer ${token}\r\n\r\n`,
      );
      s.once('data', (d) =>
        d.toString().startsWith('HTTP/1.1 200') ? resolve(s) : reject(new Error(d.toString())),
      );
    });
  const measure = async (
    what: string,
    cut: () => Promise<unknown>,
    undo: () => Promise<unknown>,
  ): Promise<number[]> => {
    const out: number[] = [];
    for (let round = 0; round < 5; round++) {
      const sockets: Socket[] = [];
      for (let i = 0; i < 200; i++) sockets.push(await open());
      const closed = sockets.map((s) => new Promise<number>((r) => s.once('close', () => r(nowMs()))));
      const t0 = nowMs();
      await cut();
      const last = Math.max(...(await Promise.all(closed)));
      out.push(last - t0);
      await undo();
    }
    console.log(row(`${what}: 200 open connections, request -> last closed`, out));
    return out;
  };
  console.log(
    '\nSever external (5 rounds; ms)\n\n| What | p50 | p90 | p99 | max |\n| --- | --- | --- | --- | --- |',
  );
  await measure(
    'rampart respond sever-external (every replica)',
    () => admin('POST', '/v1/respond/sever-external', { reason: 'bench' }),
    () => admin('POST', '/v1/respond/restore-external', { reason: 'bench' }),
  );
  await measure(
    'egress kill switch (this proxy only)',
    () => admin('POST', '/v1/egress/kill-switch', { on: true }),
    () => admin('POST', '/v1/egress/kill-switch', { on: false }),
  );
  origin.close();
}

await oneHost();
if (!values['skip-replicas'] && !skipPg) await replicas();
await storm();

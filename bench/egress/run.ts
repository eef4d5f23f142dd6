// bench/egress: Rampart's egress proxy side by side with squid and tinyproxy (Debian), and for
// SOCKS5 with Dante (Debian's dante-server), same machine, loopback origin, in one run.
//
//   npm run bench:setup && node build/bench/egress/run.js [--seconds 3] [--requests 2000] [--rounds 5] [--profile DIR]
//
// Measures, per proxy: added latency of one HTTP request (absolute URI, a new connection each,
// against the same request sent directly), new CONNECT tunnels per second (32 concurrent
// clients of load.c, in C; and SOCKS5 tunnels against Dante) and the proxy's CPU time per tunnel
// (all its threads and reaped children, user and system),
// throughput through one tunnel, and memory per idle tunnel (1,000 open tunnels).
//
// This machine's speed drifts by tens of percent over seconds (a VM with neighbours), so no
// proxy is measured in a stretch of its own: the three run side by side (idle ones cost
// nothing), the latency samples go round robin (direct, then each proxy, request by request),
// and tunnels and throughput are measured in rounds, each round every proxy in turn, reporting
// the median round. Every proxy gets the same warm-up first (Rampart's JIT needs it; squid and
// tinyproxy lose nothing by it).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttp, request } from 'node:http';
import { connect, createServer as createTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { squidCommon, waitPort } from './squid.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    requests: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
    // Writes a V8 CPU profile of Rampart's proxy process into this directory.
    profile: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const REQUESTS = Number(values.requests);
const ROUNDS = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'rampart-egress-bench-'));
const children: ChildProcess[] = [];
const load = join(dir, 'load');
execFileSync(process.env.CC || 'cc', [
  '-O2',
  '-o',
  load,
  new URL('../../../bench/egress/load.c', import.meta.url).pathname,
]);

// ----------------------------------------------------------------- origin (HTTP and a byte source)
const originHttp = createHttp((_req, res) => res.end('ok'));
await new Promise<void>((r) => originHttp.listen(0, '127.0.0.2', r));
const httpPort = (originHttp.address() as { port: number }).port;
const chunk = Buffer.alloc(64 * 1024);
const originBytes = createTcp((s) => {
  // Streams until the client closes: throughput through a tunnel.
  const pump = (): void => {
    while (s.write(chunk));
  };
  s.on('drain', pump);
  s.on('error', () => s.destroy());
  pump();
});
await new Promise<void>((r) => originBytes.listen(0, '127.0.0.2', r));
const bytesPort = (originBytes.address() as { port: number }).port;
// Idle tunnels' origin (memory per idle tunnel).
const idle = createTcp((s) => s.on('error', () => s.destroy()));
await new Promise<void>((r) => idle.listen(0, '127.0.0.2', r));
const idlePort = (idle.address() as { port: number }).port;

// ----------------------------------------------------------------- the proxies
/** A Node child that prints its port: Rampart's proxy, or the bare relay. */
async function startNodeChild(
  script: string,
  profile: string[] = [],
): Promise<{ port: number; channel?: string; pids: () => number[] }> {
  const c = spawn(process.execPath, [...profile, new URL(script, import.meta.url).pathname], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(c);
  const [port, channel] = await new Promise<string[]>((r) =>
    c.stdout.once('data', (d: Buffer) => r(d.toString().trim().split(' '))),
  );
  return { port: Number(port), ...(channel ? { channel } : {}), pids: () => [c.pid!] };
}

const startRampart = (): Promise<{ port: number; channel?: string; pids: () => number[] }> =>
  startNodeChild(
    './proxy-child.js',
    values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : [],
  );

const startBareRelay = (): Promise<{ port: number; pids: () => number[] }> =>
  startNodeChild('./bare-relay.js');

function pidsOf(name: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === name) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

async function startSquid(): Promise<{ port: number; pids: () => number[] }> {
  const port = 31280 + Math.floor(Math.random() * 500);
  const conf = join(dir, 'squid.conf');
  writeFileSync(
    conf,
    [
      `http_port 127.0.0.1:${port}`,
      'acl all_ports port 1-65535',
      'max_filedescriptors 16384',
      ...squidCommon(dir),
      '',
    ].join('\n'),
  );
  const c = spawn('squid', ['-N', '-f', conf], { stdio: 'ignore' });
  children.push(c);
  await waitPort(port);
  return { port, pids: () => pidsOf('squid') };
}

// Its port is below the ephemeral range (32768+), which the tunnel tests fill with TIME_WAIT
// sockets: tinyproxy cannot bind a port one of those still holds.
async function startTinyproxy(): Promise<{ port: number; pids: () => number[] }> {
  const port = 28880 + Math.floor(Math.random() * 500);
  const conf = join(dir, 'tinyproxy.conf');
  writeFileSync(
    conf,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 600',
      'MaxClients 4096',
      'Allow 127.0.0.1',
      'LogLevel Critical',
      '',
    ].join('\n'),
  );
  const c = spawn('tinyproxy', ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(c);
  await waitPort(port);
  return { port, pids: () => pidsOf('tinyproxy') };
}

// Dante, the SOCKS5 peer: two mother processes (one per core, as tinyproxy's threads may use
// both), no authentication, CONNECT only, errors-only logging.
async function startDante(): Promise<{ port: number; pids: () => number[] }> {
  const port = 29880 + Math.floor(Math.random() * 500);
  const conf = join(dir, 'danted.conf');
  writeFileSync(
    conf,
    [
      `logoutput: ${dir}/danted.log`,
      `internal: 127.0.0.1 port = ${port}`,
      'external: 127.0.0.1',
      'socksmethod: none',
      'clientmethod: none',
      'client pass {\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  log: error\n}',
      'socks pass {\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  command: connect\n  log: error\n}',
      '',
    ].join('\n'),
  );
  const c = spawn('danted', ['-f', conf, '-N', '2'], { stdio: 'ignore' });
  children.push(c);
  await waitPort(port);
  return { port, pids: () => pidsOf('danted') };
}

// ----------------------------------------------------------------- measurements
const AUTH = 'Bearer bench-token';

function httpOnce(via: number | undefined): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      via === undefined
        ? { host: '127.0.0.2', port: httpPort, path: '/', agent: false }
        : {
            host: '127.0.0.1',
            port: via,
            path: `http://127.0.0.2:${httpPort}/`,
            headers: { host: `127.0.0.2:${httpPort}`, 'proxy-authorization': AUTH },
            agent: false,
          },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(performance.now() - t0)
            : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function connectTunnel(via: number, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(via, '127.0.0.1');
    s.on('error', reject);
    s.once('connect', () =>
      s.write(
        `CONNECT 127.0.0.2:${port} HTTP/1.1\r\nhost: 127.0.0.2:${port}\r\nproxy-authorization: ${AUTH}\r\n\r\n`,
      ),
    );
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      if (!/^HTTP\/1\.[01] 200/.test(head)) return reject(new Error(head.split('\r\n')[0]));
      resolve(s);
    };
    s.on('data', onData);
  });
}

/** Latency samples, round robin: per request, direct first, then through each proxy in turn. */
async function latencies(vias: readonly number[]): Promise<{ direct: number[]; via: number[][] }> {
  for (let i = 0; i < 2000; i++) for (const v of [undefined, ...vias]) await httpOnce(v);
  const direct: number[] = [];
  const via = vias.map(() => [] as number[]);
  for (let i = 0; i < REQUESTS; i++) {
    direct.push(await httpOnce(undefined));
    for (let j = 0; j < vias.length; j++) via[j]!.push(await httpOnce(vias[j]));
  }
  const sort = (a: number[]): number[] => a.sort((x, y) => x - y);
  return { direct: sort(direct), via: via.map(sort) };
}

/**
 * Tunnels per second, and the proxy's CPU time (user and system, all threads) per tunnel. The
 * clients and their origin are load.c, compiled at start: a load on Node's sockets cost more per
 * tunnel than the faster proxies, and set the rate for all of them.
 */
async function tunnels(
  via: number | string,
  pids: () => number[],
  seconds = SECONDS,
  mode: 'http' | 'socks' | 'socks-password' = 'http',
): Promise<{ perSecond: number; cpuUs: number }> {
  const before = cpuMs(pids());
  const c = spawn(load, [String(via), '32', String(seconds), mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  // The credential: Proxy-Authorization's value, or the SOCKS5 password (Rampart's token).
  c.stdin.end(`${mode === 'http' ? AUTH : AUTH.slice('Bearer '.length)}\n`);
  let out = '';
  c.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => c.on('exit', r));
  const n = Number(out.trim());
  if (code !== 0 || !(n > 0)) throw new Error(`the tunnel load failed (exit code ${code})`);
  // Let the proxy finish closing what the last clients left (its CPU for those tunnels counts).
  await new Promise((r) => setTimeout(r, 200));
  return { perSecond: n / seconds, cpuUs: ((cpuMs(pids()) - before) * 1000) / n };
}

async function throughput(via: number): Promise<number> {
  const s = await connectTunnel(via, bytesPort);
  let bytes = 0;
  const t0 = performance.now();
  await new Promise<void>((r) => {
    s.on('data', (d: Buffer) => {
      bytes += d.length;
      if (performance.now() - t0 > SECONDS * 1000) {
        s.destroy();
        r();
      }
    });
  });
  return bytes / ((performance.now() - t0) / 1000) / 1024 / 1024;
}

/**
 * CPU time used so far by these processes, in ms: utime + stime of every thread, and cutime +
 * cstime, the children that have exited (Dante's mother processes fork and reap workers).
 */
function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields 14 to 17 of proc(5), counted from 1.
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // gone
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

function rssKb(pids: number[]): number {
  let kb = 0;
  for (const p of pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kb;
}

async function idleTunnelKb(via: number, pids: () => number[]): Promise<number> {
  await new Promise((r) => setTimeout(r, 300));
  const before = rssKb(pids());
  const socks: Socket[] = [];
  for (let i = 0; i < 1000; i++) socks.push(await connectTunnel(via, idlePort));
  await new Promise((r) => setTimeout(r, 500));
  const after = rssKb(pids());
  for (const s of socks) s.destroy();
  return (after - before) / 1000;
}

/** Stops every proxy started (SIGTERM first: Rampart's child writes its CPU profile as it exits). */
async function stopAll(): Promise<void> {
  for (const c of children.splice(0)) {
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
  await new Promise((r) => setTimeout(r, 1000));
}

const q = (a: number[], p: number): number => a[Math.min(a.length - 1, Math.floor(a.length * p))]!;
const median = (a: number[]): number =>
  q(
    [...a].sort((x, y) => x - y),
    0.5,
  );

/** Gives up on a step that hangs, naming it, instead of hanging the benchmark. */
async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  process.stderr.write(`${what}\n`);
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish in 300 s`)), 300_000);
  });
  try {
    return await Promise.race([fn(), limit]);
  } finally {
    clearTimeout(timer);
  }
}

const PROXIES = [
  ['Rampart egress proxy', startRampart],
  ['squid 5.7', startSquid],
  ['tinyproxy 1.11.1', startTinyproxy],
  // No checks at all: what a proxy on Node's sockets costs here, at the least (bare-relay.ts).
  ['bare Node relay (no checks)', startBareRelay],
] as const;

const running: { port: number; channel?: string; pids: () => number[] }[] = [];
for (const [, start] of PROXIES) running.push(await start());
for (const p of running) await tunnels(p.port, p.pids, 1); // the same warm-up for every proxy
// The bare relay (the last) speaks CONNECT only: no plain requests, so no latency row.
const HTTP_PROXIES = PROXIES.length - 1;
const lat = await step('latency, round robin', () =>
  latencies(running.slice(0, HTTP_PROXIES).map((p) => p.port)),
);
const tps: number[][] = running.map(() => []);
const cpu: number[][] = running.map(() => []);
const mbs: number[][] = running.map(() => []);
// SOCKS5: Rampart on a run's channel (a unix socket; SOCKS5 is served there only, the channel
// being the credential) against Dante on loopback TCP (no authentication).
const dante = await startDante();
const SOCKS = [
  ['Rampart egress proxy (SOCKS5, run channel)', running[0]!.channel!, running[0]!.pids, 'socks'],
  ['Dante 1.4.2 (SOCKS5, no authentication)', dante.port, dante.pids, 'socks'],
] as const;
for (const [, via, pids, mode] of SOCKS) await tunnels(via, pids, 1, mode);
const socksTps: number[][] = SOCKS.map(() => []);
const socksCpu: number[][] = SOCKS.map(() => []);
for (let r = 0; r < ROUNDS; r++) {
  for (let i = 0; i < SOCKS.length; i++) {
    const [name, via, pids, mode] = SOCKS[i]!;
    const t = await step(`round ${r + 1}: ${name}: tunnels per second`, () =>
      tunnels(via, pids, SECONDS, mode),
    );
    socksTps[i]!.push(t.perSecond);
    socksCpu[i]!.push(t.cpuUs);
  }
  for (let i = 0; i < running.length; i++) {
    const name = PROXIES[i]![0];
    const t = await step(`round ${r + 1}: ${name}: tunnels per second`, () =>
      tunnels(running[i]!.port, running[i]!.pids),
    );
    tps[i]!.push(t.perSecond);
    cpu[i]!.push(t.cpuUs);
    mbs[i]!.push(await step(`round ${r + 1}: ${name}: throughput`, () => throughput(running[i]!.port)));
  }
}
await stopAll();
// Memory per idle tunnel on a fresh process each: what the earlier tests left for the collector
// would otherwise be freed during this one and make tunnels look cheaper than they are.
const kb: number[] = [];
for (const [name, start] of PROXIES) {
  const p = await start();
  kb.push(await step(`${name}: idle tunnels`, () => idleTunnelKb(p.port, p.pids)));
  await stopAll();
}

console.log(
  `\nDirect request to the origin: p50 ${q(lat.direct, 0.5).toFixed(2)} ms, p99 ${q(lat.direct, 0.99).toFixed(2)} ms (${REQUESTS} requests); tunnels and throughput: median of ${ROUNDS} rounds of ${SECONDS} s (all rounds in brackets)\n`,
);
console.log(
  '| Proxy | Added latency p50 | Added latency p99 | New CONNECT tunnels/s (32 clients) | CPU per tunnel | One tunnel | Memory per idle tunnel |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
const n0 = (x: number): string => Math.round(x).toLocaleString('en-US');
PROXIES.forEach(([name], i) => {
  const l = lat.via[i];
  const added = (p: number): string => (l ? `${(q(l, p) - q(lat.direct, p)).toFixed(2)} ms` : '–');
  console.log(
    `| ${name} | ${added(0.5)} | ${added(0.99)} | ${n0(median(tps[i]!))} (${tps[i]!.map(n0).join(', ')}) | ${n0(median(cpu[i]!))} µs | ${n0(median(mbs[i]!))} MiB/s (${mbs[i]!.map(n0).join(', ')}) | ${kb[i]!.toFixed(1)} KiB |`,
  );
});

console.log('\n| SOCKS5 proxy | New SOCKS5 tunnels/s (32 clients) | CPU per tunnel |');
console.log('| --- | --- | --- |');
SOCKS.forEach(([name], i) => {
  console.log(
    `| ${name} | ${n0(median(socksTps[i]!))} (${socksTps[i]!.map(n0).join(', ')}) | ${n0(median(socksCpu[i]!))} µs |`,
  );
});

for (const c of children) c.kill('SIGKILL');
originHttp.close();
originBytes.close();
idle.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);

// bench/egress/inspect: Rampart's inspection of HTTPS (terminate with the installation's CA,
// inject a credential, inspect, re-originate) side by side with squid 5.7's ssl-bump (Debian's
// squid-openssl), against one local TLS origin, in one run.
//
//   npm run bench:setup && node build/bench/egress/inspect.js [--samples 400] [--seconds 3] [--rounds 3] [--mb 100]
//
// Measures:
// - latency of one HTTPS GET, a new connection each (CONNECT, TLS, request): direct, Rampart
//   tunnelled, Rampart inspected (with a credential injected), squid ssl-bump; round robin;
// - latency of one GET on an established connection (the case of an API client keeping its
//   connection), tunnelled against inspected;
// - new inspected connections per second (16 concurrent clients), Rampart against squid;
// - a 100 MB upload through an inspected host against the redaction engine's own streaming rate
//   on the same bytes: the upload's rate, the proxy's CPU per MB beside a proxy that terminates
//   TLS without scanning, the engine's stream and the decoy scan timed inside the proxy, and the
//   proxy's peak memory;
// - leaf certificates: uncached issuance rate, and the cost of a cached one.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import { CertificateAuthority } from '../../src/egress/ca.js';
import { Redactor } from '../../src/redact/engine.js';
import { ChunkRedactor } from '../../src/redact/stream.js';
import { squidCommon, waitPort } from './squid.js';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '400' },
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    mb: { type: 'string', default: '100' },
  },
});
const SAMPLES = Number(values.samples);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const MB = Number(values.mb);
const dir = mkdtempSync(join(tmpdir(), 'rampart-inspect-bench-'));
chmodSync(dir, 0o755);
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
const HOSTS = ['inspected.bench', 'tunnel.bench'];

// ------------------------------------------------------------------------------ the TLS origin
execFileSync(
  'openssl',
  [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'],
    ...[
      '-subj',
      '/CN=inspected.bench',
      '-addext',
      `subjectAltName=${HOSTS.map((h) => `DNS:${h}`).join(',')}`,
    ],
    ...['-keyout', join(dir, 'origin.key'), '-out', join(dir, 'origin.crt')],
  ],
  { stdio: 'ignore' },
);
const originCert = join(dir, 'origin.crt');
const origin = createServer(
  { key: readFileSync(join(dir, 'origin.key')), cert: readFileSync(originCert), keepAliveTimeout: 60_000 },
  (req, res) => {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => res.end(req.method === 'POST' ? String(n) : 'ok'));
  },
);
await new Promise<void>((r) => origin.listen(0, '127.0.0.2', r));
const originPort = (origin.address() as { port: number }).port;

// ------------------------------------------------------------------------------------- proxies
async function startRampart(
  name = 'rampart',
  flags: string[] = [],
): Promise<{ port: number; pid: number; ca: string; scanned: () => Promise<Scanned> }> {
  const data = join(dir, name);
  const c = spawn(
    process.execPath,
    [new URL('./inspect-child.js', import.meta.url).pathname, data, originCert, ...flags],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(c);
  // Its first line is its URL; every later one answers a SIGUSR2 (inspect-child.ts).
  const lines: ((line: string) => void)[] = [];
  let partial = '';
  c.stdout.on('data', (d: Buffer) => {
    const got = (partial + d.toString()).split('\n');
    partial = got.pop()!;
    for (const line of got) lines.shift()?.(line);
  });
  const line = (): Promise<string> => new Promise((resolve) => lines.push(resolve));
  const url = await line();
  const scanned = async (): Promise<Scanned> => {
    const answer = line();
    c.kill('SIGUSR2');
    const [engine = 0, decoys = 0, bytes = 0] = (await answer).split(' ').slice(1).map(Number);
    return { engine, decoys, bytes };
  };
  return { port: Number(new URL(url).port), pid: c.pid!, ca: join(data, 'egress', 'ca', 'ca.crt'), scanned };
}

/** Time a proxy spent in the redaction engine's stream and in the decoy scan, and bytes scanned. */
interface Scanned {
  engine: number;
  decoys: number;
  bytes: number;
}

async function startSquid(): Promise<{ port: number; ca: string }> {
  const port = 31780 + Math.floor(Math.random() * 500);
  const ca = join(dir, 'squid-ca.pem');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'],
      ...['-subj', '/CN=squid bench CA', '-keyout', ca, '-out', `${ca}.crt`],
    ],
    { stdio: 'ignore' },
  );
  writeFileSync(ca, readFileSync(ca, 'utf8') + readFileSync(`${ca}.crt`, 'utf8'));
  const db = join(dir, 'ssl_db');
  execFileSync('/usr/lib/squid/security_file_certgen', ['-c', '-s', db, '-M', '16MB'], { stdio: 'ignore' });
  writeFileSync(join(dir, 'hosts'), HOSTS.map((h) => `127.0.0.2 ${h}\n`).join(''));
  const conf = join(dir, 'squid.conf');
  writeFileSync(
    conf,
    [
      `http_port 127.0.0.1:${port} ssl-bump generate-host-certificates=on dynamic_cert_mem_cache_size=16MB tls-cert=${ca}`,
      `sslcrtd_program /usr/lib/squid/security_file_certgen -s ${db} -M 16MB`,
      'sslcrtd_children 5 startup=2 idle=1',
      'acl step1 at_step SslBump1',
      'ssl_bump peek step1',
      'ssl_bump bump all',
      `tls_outgoing_options cafile=${originCert}`,
      `hosts_file ${join(dir, 'hosts')}`,
      ...squidCommon(dir),
      '',
    ].join('\n'),
  );
  execFileSync('chown', ['-R', 'proxy:proxy', dir]);
  const c = spawn('squid', ['-N', '-f', conf], { stdio: 'ignore' });
  children.push(c);
  await waitPort(port);
  return { port, ca: `${ca}.crt` };
}

// ------------------------------------------------------------------------------------- clients
interface Route {
  readonly name: string;
  readonly proxy?: number;
  readonly host: string;
  readonly ca: Buffer;
  readonly auth?: string;
  /** The origin's port: the in-process origin's unless given. */
  readonly port?: number;
}

/** A TLS connection to the host, through the proxy's CONNECT when there is one. */
async function open(r: Route): Promise<TLSSocket> {
  const raw = r.proxy
    ? await new Promise<Socket>((resolve, reject) => {
        const req = httpRequest({
          host: '127.0.0.1',
          port: r.proxy,
          method: 'CONNECT',
          path: `${r.host}:${r.port ?? originPort}`,
          headers: r.auth ? { 'proxy-authorization': r.auth } : {},
          agent: false,
        });
        req.on('connect', (res, socket) =>
          res.statusCode === 200 ? resolve(socket) : reject(new Error(`CONNECT ${res.statusCode}`)),
        );
        req.on('error', reject);
        req.end();
      })
    : netConnect(r.port ?? originPort, '127.0.0.2');
  return new Promise((resolve, reject) => {
    const t = tlsConnect({ socket: raw, servername: r.host, ca: r.ca }, () => resolve(t));
    t.on('error', reject);
  });
}

/** One request on an open connection; resolves with its body once whole. */
function exchange(t: TLSSocket, host: string, body?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length: (\d+)/i.exec(got.subarray(0, end).toString())?.[1] ?? 0);
      if (got.length < end + 4 + len) return;
      t.off('data', onData);
      t.off('error', reject);
      resolve(got.subarray(end + 4, end + 4 + len).toString());
    };
    t.on('data', onData);
    t.once('error', reject);
    const head = body
      ? `POST /up HTTP/1.1\r\nhost: ${host}\r\ncontent-length: ${body.length}\r\n\r\n`
      : `GET /x HTTP/1.1\r\nhost: ${host}\r\n\r\n`;
    t.write(head);
    if (body) t.write(body);
  });
}

/** `GET /download/N` on an open connection; resolves with the body's length once it is whole. */
function download(t: TLSSocket, host: string, mb: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    let want = -1;
    let got = 0;
    const onData = (d: Buffer): void => {
      if (want < 0) {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        want = Number(/content-length: (\d+)/i.exec(head.subarray(0, end).toString())?.[1] ?? 0);
        got = head.length - end - 4;
      } else got += d.length;
      if (got < want) return;
      t.off('data', onData);
      t.off('error', reject);
      resolve(got);
    };
    t.on('data', onData);
    t.once('error', reject);
    t.write(`GET /download/${mb} HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
  });
}

const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const ms = (x: number): string => x.toFixed(2);

// ------------------------------------------------------------------------------------ the runs
const rampart = await startRampart();
const squid = await startSquid();
const AUTH = 'Bearer bench-token';
const originCa = readFileSync(originCert);
const routes: Route[] = [
  { name: 'direct', host: 'tunnel.bench', ca: originCa },
  { name: 'Rampart, tunnelled', proxy: rampart.port, host: 'tunnel.bench', ca: originCa, auth: AUTH },
  {
    name: 'Rampart, inspected',
    proxy: rampart.port,
    host: 'inspected.bench',
    ca: readFileSync(rampart.ca),
    auth: AUTH,
  },
  { name: 'squid ssl-bump', proxy: squid.port, host: 'inspected.bench', ca: readFileSync(squid.ca) },
];

async function once(r: Route): Promise<number> {
  const t0 = performance.now();
  const t = await open(r);
  await exchange(t, r.host);
  const took = performance.now() - t0;
  t.destroy();
  return took;
}

// Warm-up: JIT, leaf caches (both proxies' certificates are then cached), keep-alive pools.
for (const r of routes) {
  const t = setTimeout(() => {
    console.error(`${r.name}: no answer within 10 s`);
    process.exit(1);
  }, 10_000);
  await once(r);
  clearTimeout(t);
}
for (let i = 0; i < 100; i++) for (const r of routes) await once(r);

const fresh = new Map(routes.map((r) => [r.name, [] as number[]]));
for (let i = 0; i < SAMPLES; i++) for (const r of routes) fresh.get(r.name)!.push(await once(r));
console.log(`\nHTTPS GET, a new connection each (${SAMPLES} samples each, round robin), ms`);
const direct50 = pct(fresh.get('direct')!, 0.5);
for (const [name, xs] of fresh)
  console.log(
    `  ${name.padEnd(22)} p50 ${ms(pct(xs, 0.5))}  p99 ${ms(pct(xs, 0.99))}  (+${ms(pct(xs, 0.5) - direct50)} over direct)`,
  );

const kept = new Map<string, { t: TLSSocket; r: Route; xs: number[] }>();
// Rampart's two routes: the goal is what inspection adds to a tunnel's request.
for (const r of routes.slice(1, 3)) kept.set(r.name, { t: await open(r), r, xs: [] });
for (let i = 0; i < 200; i++)
  for (const k of kept.values()) {
    const t = setTimeout(() => {
      console.error(`${k.r.name}: request ${i} on a kept connection had no answer within 10 s`);
      process.exit(1);
    }, 10_000);
    await exchange(k.t, k.r.host);
    clearTimeout(t);
  }
for (let i = 0; i < SAMPLES * 5; i++)
  for (const k of kept.values()) {
    const t0 = performance.now();
    await exchange(k.t, k.r.host);
    k.xs.push(performance.now() - t0);
  }
console.log(`\nHTTPS GET on an established connection (${SAMPLES * 5} samples each, round robin), ms`);
const tun50 = pct(kept.get('Rampart, tunnelled')!.xs, 0.5);
for (const [name, k] of kept)
  console.log(
    `  ${name.padEnd(22)} p50 ${ms(pct(k.xs, 0.5))}  p99 ${ms(pct(k.xs, 0.99))}  (+${ms(pct(k.xs, 0.5) - tun50)} over tunnelled)`,
  );
for (const k of kept.values()) k.t.destroy();

async function rate(r: Route): Promise<number> {
  let n = 0;
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (performance.now() < until) {
        await once(r);
        n++;
      }
    }),
  );
  return n / SECONDS;
}
const rates = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++)
  for (const r of routes.slice(1)) {
    const list = rates.get(r.name) ?? [];
    list.push(await rate(r));
    rates.set(r.name, list);
  }
console.log(
  `\nNew connections per second, each a CONNECT, TLS and one GET (16 clients, ${SECONDS} s, median of ${ROUNDS} rounds)`,
);
for (const [name, xs] of rates) console.log(`  ${name.padEnd(22)} ${pct(xs, 0.5).toFixed(0)}/s`);

// Body inspection: text lines (a prompt, a source file), one upload through each route.
const line = Buffer.from(
  `${'const value = compute(input, options); // a line of an ordinary source file'.padEnd(99)}\n`,
);
const body = Buffer.alloc(MB * 1024 * 1024);
for (let at = 0; at < body.length; at += line.length) line.copy(body, at);
const hwm = (): number =>
  Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${rampart.pid}/status`, 'utf8'))![1]) / 1024;
const rssBefore =
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${rampart.pid}/status`, 'utf8'))![1]) / 1024;
// The upload goes to an origin in a process of its own: with the in-process origin, this one
// thread would encrypt as the client and decrypt as the origin, and be the bottleneck of every
// route. The proxy's CPU time over each upload is read from /proc: the cost per MB of each route.
const uploadOrigin = spawn(
  process.execPath,
  [new URL('./origin-child.js', import.meta.url).pathname, join(dir, 'origin.key'), originCert],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
children.push(uploadOrigin);
const uploadPort = await new Promise<number>((resolve) =>
  uploadOrigin.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
);
const cpuMs = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, in 100 Hz ticks
};
console.log(`\nA ${MB} MB upload (text lines) to an origin in its own process`);
// A second proxy whose scanner finds nothing and holds nothing back: TLS terminated both ways,
// parsed, credential injected, as inspected, without the engine. What the scanning proxy spends
// per MB beyond it is the engine's share inside the proxy.
const noScan = await startRampart('rampart-no-scan', ['--no-scan']);
// squid 5.7's ssl-bump drops the connection of a body this size (EPIPE): it is left out here.
const uploads: (Route & { pid?: number; scanned?: () => Promise<Scanned> })[] = [
  { ...routes[0]! },
  { ...routes[1]!, pid: rampart.pid },
  {
    name: 'Rampart, TLS ends, no scan',
    proxy: noScan.port,
    host: 'inspected.bench',
    ca: readFileSync(noScan.ca),
    auth: AUTH,
    pid: noScan.pid,
    scanned: noScan.scanned,
  },
  { ...routes[2]!, pid: rampart.pid, scanned: rampart.scanned },
];
// Each route ROUNDS times, in turn (so a slow spell of the machine falls on all of them); the
// medians are printed, and the engine's own rate is measured between the rounds too.
const redactor = new Redactor();
const engineRate = (): number => {
  const engine = new ChunkRedactor(redactor, () => undefined, false);
  const e0 = performance.now();
  for (let at = 0; at < body.length; at += 64 * 1024) engine.push(body.subarray(at, at + 64 * 1024));
  engine.end();
  return (performance.now() - e0) / MB; // ms per MB
};
interface Uploaded {
  s: number;
  proxy: number;
  ends: number;
  /** ms per MB in the redaction engine's stream and in the decoy scan, inside the proxy. */
  engine: number;
  decoys: number;
}
const upload = async (r: (typeof uploads)[number]): Promise<Uploaded> => {
  const route = { ...r, port: uploadPort };
  const warm = await open(route); // its leaf and its pool, before the clock starts
  await exchange(warm, route.host);
  warm.destroy();
  const t = await open(route);
  await r.scanned?.(); // from here on
  const c0 = r.pid ? cpuMs(r.pid) : 0;
  const all0 = process.cpuUsage();
  const o0 = cpuMs(uploadOrigin.pid!);
  const t0 = performance.now();
  const got = await exchange(t, route.host, body);
  const s = (performance.now() - t0) / 1000;
  const proxy = r.pid ? cpuMs(r.pid) - c0 : 0;
  const client = process.cpuUsage(all0);
  const ends = (client.user + client.system) / 1000 + cpuMs(uploadOrigin.pid!) - o0;
  t.destroy();
  if (Number(got) !== body.length) throw new Error(`${r.name}: the origin got ${got} bytes`);
  const scan = (await r.scanned?.()) ?? { engine: 0, decoys: 0, bytes: 0 };
  if (r.scanned && scan.bytes !== body.length) throw new Error(`${r.name}: ${scan.bytes} bytes scanned`);
  return { s, proxy: proxy / MB, ends: ends / MB, engine: scan.engine / MB, decoys: scan.decoys / MB };
};
const got = new Map(uploads.map((r) => [r.name, [] as Uploaded[]]));
const engineMs: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const r of uploads) got.get(r.name)!.push(await upload(r));
  engineMs.push(engineRate());
}
const med = (xs: number[]): number => pct(xs, 0.5);
for (const r of uploads) {
  const xs = got.get(r.name)!;
  console.log(
    `  ${r.name.padEnd(26)} ${med(xs.map((x) => MB / x.s))
      .toFixed(0)
      .padStart(4)} MB/s   client + origin CPU ${med(xs.map((x) => x.ends)).toFixed(2)} ms/MB` +
      (r.pid ? `   proxy CPU ${med(xs.map((x) => x.proxy)).toFixed(2)} ms/MB` : ''),
  );
}
console.log(
  `  ${'engine alone (in-process)'.padEnd(26)} ${(1000 / med(engineMs)).toFixed(0).padStart(4)} MB/s   ${med(engineMs).toFixed(2)} ms/MB`,
);
// The engine's share inside the proxy, round by round (the same round's two proxies), median.
const share = med(
  got.get('Rampart, inspected')!.map((x, i) => x.proxy - got.get('Rampart, TLS ends, no scan')![i]!.proxy),
);
console.log(
  `  body inspection inside the proxy (inspected - no scan, per round): ${share.toFixed(2)} ms/MB, ${(1000 / share).toFixed(0)} MB per CPU second`,
);
const inspectedRuns = got.get('Rampart, inspected')!;
const inEngine = med(inspectedRuns.map((x) => x.engine));
console.log(
  `  the redaction engine's stream inside the proxy (timed where it runs): ${inEngine.toFixed(2)} ms/MB = ${(1000 / inEngine).toFixed(0)} MB/s, ` +
    `${((100 * (1000 / inEngine)) / (1000 / med(engineMs))).toFixed(0)}% of the engine alone; decoy scan ${med(inspectedRuns.map((x) => x.decoys)).toFixed(2)} ms/MB`,
);
console.log(
  `  Rampart's proxy: resident ${rssBefore.toFixed(0)} MB before, peak ${hwm().toFixed(0)} MB (VmHWM)`,
);

// The answer's way back: an inspected host with a credential injected has every response body
// searched for an echo of it (masked); a tunnel copies bytes. Each route ROUNDS times, medians.
console.log(`\nA ${MB} MB download (text lines) from the origin in its own process`);
const downloads = uploads.filter((r) => r.name !== 'Rampart, TLS ends, no scan');
const down = new Map(downloads.map((r) => [r.name, [] as { s: number; proxy: number }[]]));
for (let round = 0; round < ROUNDS; round++)
  for (const r of downloads) {
    const route = { ...r, port: uploadPort };
    const t = await open(route);
    await exchange(t, route.host);
    const c0 = r.pid ? cpuMs(r.pid) : 0;
    const t0 = performance.now();
    const n = await download(t, route.host, MB);
    const s = (performance.now() - t0) / 1000;
    t.destroy();
    if (n !== MB * 1024 * 1024) throw new Error(`${r.name}: ${n} bytes downloaded`);
    down.get(r.name)!.push({ s, proxy: r.pid ? (cpuMs(r.pid) - c0) / MB : 0 });
  }
for (const r of downloads) {
  const xs = down.get(r.name)!;
  console.log(
    `  ${r.name.padEnd(26)} ${med(xs.map((x) => MB / x.s))
      .toFixed(0)
      .padStart(4)} MB/s` + (r.pid ? `   proxy CPU ${med(xs.map((x) => x.proxy)).toFixed(2)} ms/MB` : ''),
  );
}

// Leaves: signed for new hosts, and served from the cache.
const ca = await CertificateAuthority.open(join(dir, 'leaves'));
const l0 = performance.now();
for (let i = 0; i < 200; i++) await ca.leaf(`host-${i}.bench`);
const issue = (performance.now() - l0) / 200;
const c0 = performance.now();
for (let i = 0; i < 100_000; i++) await ca.leaf('host-1.bench');
const cached = ((performance.now() - c0) * 1e6) / 100_000;
console.log(
  `\nLeaf certificates (ECDSA P-256): ${(1000 / issue).toFixed(0)}/s signed (${ms(issue)} ms each); a cached one ${cached.toFixed(0)} ns`,
);

for (const c of children) c.kill('SIGTERM');
origin.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);

// Rampart's egress component in a process of its own for bench/egress/inspect.ts: one inspected
// host (with an injection rule, so every request is given a credential), one tunnelled host, both
// pinned to the benchmark's TLS origin on 127.0.0.2. Prints its proxy URL once listening.
// With --no-scan, the scanner finds nothing and releases every byte at once: the proxy still
// terminates TLS, parses, injects and re-originates, so its cost per MB is inspection's without
// the redaction engine, and the difference to the scanning proxy is what the engine costs there.
// As the control plane does, every request's text also goes through the decoy scan, with one
// decoy planted. On SIGUSR2 it prints the time spent in the redaction engine's stream and in the
// decoy scan since the last report, and the bytes scanned: `scan ENGINE_MS DECOY_MS BYTES`.
//
//   node inspect-child.js DATA_DIR ORIGIN_CERT [--no-scan]

import { createHmac } from 'node:crypto';
import { startEgress } from '../../src/egress/component.js';
import type { Scanner, ScanStream } from '../../src/egress/dlp.js';
import { Redactor } from '../../src/redact/engine.js';
import { ChunkRedactor } from '../../src/redact/stream.js';
import { Honeytokens } from '../../src/secrets/honeytokens.js';

const [dataDir, originCert, flag] = process.argv.slice(2) as [string, string, string | undefined];
const redactor = new Redactor();
const spent = { engine: 0, decoys: 0, bytes: 0 };
/** The engine's stream, timed: what inspection costs inside the proxy, measured where it runs. */
const timed = (inner: ScanStream): ScanStream => ({
  push(chunk) {
    const t0 = performance.now();
    const out = inner.push(chunk);
    spent.engine += performance.now() - t0;
    spent.bytes += chunk.length;
    return out;
  },
  end() {
    const t0 = performance.now();
    const out = inner.end();
    spent.engine += performance.now() - t0;
    return out;
  },
});
const scanner: Scanner =
  flag === '--no-scan'
    ? { find: () => [], stream: () => timed({ push: (c) => [c], end: () => [] }) }
    : { find: (t) => redactor.find(t), stream: (on) => timed(new ChunkRedactor(redactor, on, false)) };
const decoys = new Honeytokens({
  store: { add: async () => undefined, since: async () => [] },
  fingerprint: (v) => createHmac('sha256', 'bench').update(v).digest('hex'),
  bus: { publish: async () => undefined },
  now: Date.now,
});
await decoys.plant('decoy-run', 'decoy-agent', ['aws']);
process.on('SIGUSR2', () => {
  process.stdout.write(`scan ${spent.engine} ${spent.decoys} ${spent.bytes}\n`);
  spent.engine = spent.decoys = spent.bytes = 0;
});
const egress = await startEgress({
  settings: {
    enabled: true,
    listen: { host: '127.0.0.1', port: 0 },
    mode: 'enforce',
    askPolicy: false,
    lists: [],
    allow: ['inspected.bench', 'tunnel.bench'],
    deny: [],
    allowRanges: ['127.0.0.2/32'],
    maxConnectionsPerAgent: 100_000,
    connectTimeoutMs: 10_000,
    idleTimeoutMs: 60_000,
    inspect: [],
    inject: [
      {
        source: 'egress.inject[0]',
        host: 'inspected.bench',
        pathPrefix: '/',
        header: 'authorization',
        scheme: 'bearer',
        strip: [],
        vault: 'bench',
        name: 'key',
      },
    ],
    inspectMaxBody: 1 << 30,
    originCaFile: originCert,
    hosts: { 'inspected.bench': '127.0.0.2', 'tunnel.bench': '127.0.0.2' },
  },
  dataDir,
  events: { publish: async () => undefined },
  inspect: (caller, text) => {
    const t0 = performance.now();
    decoys.scan(text, 'bench', caller);
    spent.decoys += performance.now() - t0;
  },
  log: { debug() {}, info() {}, warn() {}, error() {} },
  // A token checked by identity costs one SHA-256 when seen recently: a constant stands in.
  verify: (t) => (t === 'bench-token' ? { claims: { sub: 'bench', run: 'bench-run' } as never } : 'unknown'),
  rateLimit: () => 0,
  scanner,
  credential: async () => ({
    value: Buffer.from('bench-injected-credential-value-0123456789'),
    fingerprint: 'fp',
  }),
});
process.on('SIGTERM', () => void egress.stop().then(() => process.exit(0)));
process.stdout.write(`${await egress.listen()}\n`);

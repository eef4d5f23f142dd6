// Rampart's egress component in a process of its own for bench/egress/inspect.ts: one inspected
// host (with an injection rule, so every request is given a credential), one tunnelled host, both
// pinned to the benchmark's TLS origin on 127.0.0.2. Prints its proxy URL once listening.
//
//   node inspect-child.js DATA_DIR ORIGIN_CERT

import { startEgress } from '../../src/egress/component.js';
import { Redactor } from '../../src/redact/engine.js';
import { ChunkRedactor } from '../../src/redact/stream.js';

const [dataDir, originCert] = process.argv.slice(2) as [string, string];
const redactor = new Redactor();
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
  log: { debug() {}, info() {}, warn() {}, error() {} },
  // A token checked by identity costs one SHA-256 when seen recently: a constant stands in.
  verify: (t) => (t === 'bench-token' ? { claims: { sub: 'bench', run: 'bench-run' } as never } : 'unknown'),
  rateLimit: () => 0,
  scanner: { find: (t) => redactor.find(t), stream: (on) => new ChunkRedactor(redactor, on, false) },
  credential: async () => ({
    value: Buffer.from('bench-injected-credential-value-0123456789'),
    fingerprint: 'fp',
  }),
});
process.on('SIGTERM', () => void egress.stop().then(() => process.exit(0)));
process.stdout.write(`${await egress.listen()}\n`);

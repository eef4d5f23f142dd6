// Rampart's egress proxy in a process of its own for bench/egress (as squid and tinyproxy run in
// theirs): allow-range 127.0.0.2/32, one allow rule for it, a fixed bench token, and a run's
// channel (a unix socket, where SOCKS5 is served). Prints its port and the channel's path.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AddressGuard } from '../../src/egress/address.js';
import { HostMatcher } from '../../src/egress/hosts.js';
import { EgressProxy } from '../../src/egress/proxy.js';

const caller = { agent: 'bench', run: 'bench', via: 'token' as const };
const profile = {
  mode: 'enforce' as const,
  allow: new HostMatcher([{ pattern: '127.0.0.2', source: 'bench' }]),
  deny: new HostMatcher([]),
  maxConnections: 100_000,
};
const proxy = new EgressProxy({
  guard: new AddressGuard(['127.0.0.2/32']),
  deps: {
    // A token checked by identity costs one SHA-256 when seen recently (see the identity
    // benchmark); here a constant comparison stands in for it.
    authenticate: (t) => (t === 'bench-token' ? caller : 'unknown'),
    profileFor: () => profile,
    record: () => undefined,
  },
});
// A clean exit on SIGTERM, so that --cpu-prof (bench --profile) writes its profile.
process.on('SIGTERM', () => process.exit(0));
const { port } = await proxy.listen(0, '127.0.0.1');
const channel = join(mkdtempSync(join(tmpdir(), 'rampart-bench-channel-')), 'egress.sock');
await proxy.listenChannel(channel, { agent: 'bench', run: 'bench-run', via: 'channel' });
process.stdout.write(`${port} ${channel}\n`);

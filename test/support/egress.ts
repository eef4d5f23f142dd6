// An egress proxy for tests: one caller (a fixed workload token), one origin on 127.0.0.2 let
// through by an explicit allow-range and an allow rule for its port, every record handed to
// `record`.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo, Server } from 'node:net';
import { join } from 'node:path';
import { AddressGuard } from '../../src/egress/address.js';
import { HostMatcher } from '../../src/egress/hosts.js';
import { EgressProxy, type ConnectionRecord, type EgressOptions } from '../../src/egress/proxy.js';

/** Starts `origin` on 127.0.0.2 and a proxy to it (with `limits`); `close` stops both. */
export async function proxyToOrigin(
  token: string,
  origin: Server,
  record: (r: ConnectionRecord) => void,
  limits: Pick<EgressOptions, 'idleTimeoutMs' | 'headersTimeoutMs' | 'connectTimeoutMs'> = {},
): Promise<{ proxy: EgressProxy; port: number; originPort: number; close: () => Promise<void> }> {
  await new Promise<void>((r) => origin.listen(0, '127.0.0.2', r));
  const originPort = (origin.address() as AddressInfo).port;
  const proxy = new EgressProxy({
    ...limits,
    guard: new AddressGuard(['127.0.0.2/32']),
    deps: {
      authenticate: (t) => (t === token ? { agent: 'a', run: 'r', via: 'token' } : 'unknown'),
      profileFor: () => ({
        mode: 'enforce',
        allow: new HostMatcher([{ pattern: `127.0.0.2:${originPort}`, source: 'test' }]),
        deny: new HostMatcher([]),
        maxConnections: 10,
      }),
      record,
    },
  });
  const { port } = await proxy.listen(0, '127.0.0.1');
  const close = async (): Promise<void> => {
    await proxy.close();
    origin.close();
  };
  return { proxy, port, originPort, close };
}

/**
 * Waits until `count()` (bytes an origin has written) stops changing for 300 ms, at most 10 s;
 * true when it did: a client that reads nothing has held the origin back.
 */
export async function cameToRest(count: () => number): Promise<boolean> {
  let last = -1;
  let quiet = 0;
  for (let i = 0; i < 100 && quiet < 3; i++) {
    await new Promise((r) => setTimeout(r, 100));
    quiet = count() === last ? quiet + 1 : 0;
    last = count();
  }
  return quiet === 3;
}

/**
 * Uses a run's token from outside the run, as a thief would: curl through the control plane's
 * egress proxy (its TCP listener, from `dir`'s discovery file) with the token as
 * Proxy-Authorization, from a 0600 header file (never argv).
 */
export function useTokenFromOutside(dir: string, token: string, url = 'http://stolen.example/'): void {
  const egress = (
    JSON.parse(readFileSync(join(dir, '.rampart', 'control-plane.json'), 'utf8')) as { egress: string }
  ).egress;
  const header = join(dir, 'stolen.header');
  writeFileSync(header, `Proxy-Authorization: Bearer ${token}\n`, { mode: 0o600 });
  spawnSync('curl', ['-s', '-o', '/dev/null', '-x', egress, '--proxy-header', `@${header}`, url], {
    timeout: 10_000,
  });
}

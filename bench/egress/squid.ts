// What the egress benchmarks share about their peer squid: the settings every run uses (no cache,
// no access log, one worker, a quick shutdown, logs in the bench's directory) and the wait until a
// proxy listens.

import { connect } from 'node:net';

/** squid.conf lines common to every benchmark's squid, after its own http_port and rules. */
export function squidCommon(dir: string): string[] {
  return [
    'http_access allow all',
    'cache deny all',
    'access_log none',
    `cache_log ${dir}/squid-cache.log`,
    `pid_filename ${dir}/squid.pid`,
    `coredump_dir ${dir}`,
    'shutdown_lifetime 0 seconds',
    'workers 1',
  ];
}

/** Resolves once something accepts on 127.0.0.1:port (30 s at most). */
export async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1');
      s.on('connect', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

// curl through a proxy (HTTP, or SOCKS5 for a socks5h:// address), as a real client: the
// workload token goes in a curl config file (mode 0600), never on curl's command line.

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * curl's environment: the tests' own, without a preloaded sanitizer runtime. scripts/asan.sh
 * preloads AddressSanitizer into Node for the native relay; curl is not what it checks, and
 * hangs with that runtime in it.
 */
function curlEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['LD_PRELOAD'];
  return env;
}

export async function curlViaProxy(
  proxy: string,
  url: string,
  token: string | null,
  dir: string,
): Promise<{ code: string; body: string }> {
  const cfg = join(dir, `curl-${Math.random().toString(16).slice(2)}.cfg`);
  // A SOCKS5 proxy takes the token as the password of its username and password step.
  const auth = proxy.startsWith('socks5')
    ? `proxy-user = "agent:${token}"\n`
    : `proxy-header = "Proxy-Authorization: Bearer ${token}"\n`;
  writeFileSync(cfg, token ? auth : '', { mode: 0o600 });
  const { stdout } = await run('curl', ['-s', '-K', cfg, '-x', proxy, '-w', '\n%{http_code}', url], {
    env: curlEnv(),
  }).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
  const i = stdout.lastIndexOf('\n');
  return { body: stdout.slice(0, i), code: stdout.slice(i + 1) };
}

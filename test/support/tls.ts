// A self-signed ECDSA certificate for a name, made by openssl for tests that serve or verify TLS.

import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Writes `dir`/tls.key (0600) and `dir`/tls.crt for `name` (its CN and DNS SAN; more names as
 * further SANs); valid a day.
 */
export function selfSignedCert(dir: string, name: string, ...more: string[]): { key: string; cert: string } {
  const key = join(dir, 'tls.key');
  const cert = join(dir, 'tls.crt');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'].concat([
      '-subj',
      `/CN=${name}`,
      '-addext',
      `subjectAltName=${[name, ...more].map((n) => `DNS:${n}`).join(',')}`,
      '-keyout',
      key,
      '-out',
      cert,
    ]),
    { stdio: 'ignore' },
  );
  chmodSync(key, 0o600);
  return { key, cert };
}

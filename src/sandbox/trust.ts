// The egress CA in a run: when the control plane inspects hosts (egress.inspect), runs must trust
// the leaves its proxy presents, with no flag. The CA's certificate, and the system bundle with it
// appended, are written into the run's channel directory (bound read-only at /run/rampart/egress
// on every runtime); the variables the common TLS stacks read point there, and a bwrap run sees
// the bundle at the system path too.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { egressCaDir } from '../core/paths.js';

/** Debian's (and most distributions') bundle; bound over in bwrap runs. */
export const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const CA_NAME = 'ca.pem';
const BUNDLE_NAME = 'ca-bundle.pem';

/**
 * Writes the CA (when the control plane has one) and the bundle into `channelDir`; true when it
 * did. A run started after a rotation gets the new certificate.
 */
export function placeTrust(channelDir: string, dataDir: string): boolean {
  const cert = join(egressCaDir(dataDir), 'ca.crt');
  if (!existsSync(cert)) return false;
  const ca = readFileSync(cert, 'utf8');
  const system = existsSync(SYSTEM_BUNDLE) ? readFileSync(SYSTEM_BUNDLE, 'utf8') : '';
  writeFileSync(join(channelDir, CA_NAME), ca, { mode: 0o644 });
  writeFileSync(
    join(channelDir, BUNDLE_NAME),
    `${system}${system.endsWith('\n') || !system ? '' : '\n'}${ca}`,
    {
      mode: 0o644,
    },
  );
  return true;
}

/** The host file bound over the system bundle in a bwrap run. */
export function bundleOnHost(channelDir: string): string {
  return join(channelDir, BUNDLE_NAME);
}

/** The variables that point TLS clients at the bundle (`inside`: the channel's path in the run). */
export function trustEnv(inside: string): Record<string, string> {
  const bundle = `${inside}/${BUNDLE_NAME}`;
  return {
    SSL_CERT_FILE: bundle,
    REQUESTS_CA_BUNDLE: bundle,
    CURL_CA_BUNDLE: bundle,
    GIT_SSL_CAINFO: bundle,
    // Node adds these to its own roots (it reads no system bundle by default).
    NODE_EXTRA_CA_CERTS: `${inside}/${CA_NAME}`,
  };
}

/** What an agent's CLI is given instead of its key: the proxy replaces it on the way out. */
export const PLACEHOLDER_KEY = 'rampart-injects-the-real-key';

/**
 * The files and variables that let an agent's CLI start without its key, for the profiles of the
 * control plane's injection rules: Claude Code's apiKeyHelper (it sends the helper's output as
 * X-Api-Key and Authorization, both replaced or dropped by the proxy), Codex's OPENAI_API_KEY.
 */
export function agentPlaceholders(profiles: readonly string[]): {
  files: Map<string, Buffer>;
  env: Record<string, string>;
} {
  const files = new Map<string, Buffer>();
  const env: Record<string, string> = {};
  if (profiles.includes('claude-code'))
    files.set(
      '.claude/settings.json',
      Buffer.from(`${JSON.stringify({ apiKeyHelper: `echo ${PLACEHOLDER_KEY}` }, null, 2)}\n`),
    );
  if (profiles.includes('codex')) env['OPENAI_API_KEY'] = PLACEHOLDER_KEY;
  return { files, env };
}

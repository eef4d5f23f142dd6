// Where Rampart's own files are (the shipped default policies, resources for sandboxes): found by
// walking up from this module to the package root, which works both from the compiled sources
// and from a CLI bundle in dist/.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (let i = 0; i < 8; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'rampart') return dir;
      } catch {
        // not ours; keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`cannot find the rampart package root above ${from}`);
}

/**
 * Where the egress proxy keeps the CA of inspected hosts (its key, 0600, and its certificate),
 * under the data directory: the proxy writes it, `rampart run` places the certificate in runs.
 */
export function egressCaDir(dataDir: string): string {
  return join(dataDir, 'egress', 'ca');
}

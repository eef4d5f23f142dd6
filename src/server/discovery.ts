import { join } from 'node:path';

/** Where a running control plane says how to reach it (read by the CLI). */
export function discoveryPath(dataDir: string): string {
  return join(dataDir, 'control-plane.json');
}

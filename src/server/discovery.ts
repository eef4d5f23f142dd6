import { join } from 'node:path';

/** The admin token file (a secret file, mode 0600), which the CLI presents to the control plane. */
export function adminTokenPath(dataDir: string): string {
  return join(dataDir, 'admin.token');
}

/** Where a running control plane says how to reach it (read by the CLI). */
export function discoveryPath(dataDir: string): string {
  return join(dataDir, 'control-plane.json');
}

// What the control plane checks before it starts anything: a usable data directory, a store
// that belongs to this installation's key, and the TLS certificate it will serve.

import { accessSync, constants, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RampartError, messageOf } from '../core/errors.js';
import type { Certifier } from '../core/installation.js';
import type { Store } from '../store/types.js';

/**
 * Binds the store to the installation key: the first replica records its key's fingerprint; a
 * replica with another key (a new data directory given a fresh key) is refused with what to do,
 * rather than starting with keys no other replica will trust.
 */
export async function claimStore(store: Store, certifier: Certifier, dataDir: string): Promise<void> {
  const owner = await store.meta.setIfAbsent('installation_key', certifier.fingerprint);
  if (owner !== certifier.fingerprint)
    throw new RampartError(
      'RAMPART_E_INSTALLATION_KEY',
      `this store belongs to installation key ${owner}, but ${dataDir}/keys/installation.key is ${certifier.fingerprint}: ` +
        'a new replica needs a copy of keys/installation.key from a replica of that installation',
    );
}

export function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK | constants.R_OK | constants.X_OK);
    const probe = join(dir, `.write-probe-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new RampartError('RAMPART_E_DATA_DIR', `data directory ${dir} is not usable: ${messageOfFs(e)}`, {
      cause: e,
    });
  }
}

function messageOfFs(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EROFS') return 'read-only file system';
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'a file is in the way';
  return messageOf(e);
}

export function readCert(file: string): Buffer {
  // A certificate chain is public: no mode check, only a clear error when it cannot be read.
  try {
    return readFileSync(file);
  } catch (e) {
    throw new RampartError(
      'RAMPART_E_CONFIG_INVALID',
      `server.tls.cert_file ${file} cannot be read: ${messageOfFs(e)}`,
    );
  }
}

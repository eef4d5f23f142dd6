// Commands that work on the data directory directly (no control plane needed): config, store.

import { loadConfig, type Config } from '../config/load.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { RampartError } from '../core/errors.js';
import { existsSync } from 'node:fs';

export function localConfig(
  values: { config?: string | undefined; data?: string | undefined },
  cwd: string,
): Config {
  return loadConfig({ file: values.config, dataDir: values.data, cwd });
}

/** Opens the configured store without creating anything (an offline tool must not invent a log). */
export async function openExistingStore(config: Config): Promise<Store> {
  if (config.store.driver === 'sqlite' && !existsSync(config.store.file)) {
    throw new RampartError('RAMPART_E_DATA_DIR', `no store at ${config.store.file} (is --data right?)`);
  }
  return openStore(config.store, { readonly: config.store.driver === 'sqlite' });
}

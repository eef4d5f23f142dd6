// Commands that work on the data directory directly (no control plane needed): config, store.

import { loadConfig, type Config } from '../config/load.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { RampartError } from '../core/errors.js';
import { existsSync } from 'node:fs';
import { apiError, connect } from './client.js';
import { COMMON_OPTIONS, parse, type Io } from './io.js';

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

/**
 * `rampart policy|rules|playbooks reload`: asks the running control plane to load a set now and
 * prints the version serving; the control plane's problems come back as a coded error.
 */
export async function reloadSet(
  argv: readonly string[],
  io: Io,
  usage: string,
  url: string,
  what: string,
): Promise<number> {
  const { values } = parse(argv, COMMON_OPTIONS, usage);
  const res = await connect(localConfig(values, io.cwd).dataDir).call<{ version: string; changed: boolean }>(
    'POST',
    url,
  );
  if (res.status !== 200) throw apiError(res.status, res.body);
  io.stdout.write(`${res.body.changed ? 'activated' : 'unchanged'}: ${what} version ${res.body.version}\n`);
  return 0;
}

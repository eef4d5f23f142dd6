// rampart up: start the control plane and serve until SIGTERM or SIGINT, then shut down in
// order (finish requests, flush the audit log, write a checkpoint) and exit 0.

import { relative } from 'node:path';
import { loadConfig } from '../../config/load.js';
import { parseListen } from '../../config/load.js';
import { RampartError } from '../../core/errors.js';
import { startControlPlane } from '../../server/controlplane.js';
import { COMMON_OPTIONS, parse, type Command } from '../io.js';

const USAGE = `usage: rampart up [--config FILE] [--data DIR] [--listen HOST:PORT] [--egress-listen HOST:PORT]

Starts the control plane. Configuration comes from rampart.yaml in the current directory, or
--config FILE; the data directory (embedded store, keys, admin token) from --data, default .rampart.`;

export const command: Command = {
  usage: USAGE,
  async run(argv, io) {
    const started = performance.now();
    const { values } = parse(
      argv,
      { ...COMMON_OPTIONS, listen: { type: 'string' }, 'egress-listen': { type: 'string' } },
      USAGE,
    );
    let config = loadConfig({ file: values.config, dataDir: values.data, cwd: io.cwd });
    if (values.listen !== undefined) {
      const listen = parseListen(values.listen);
      if (!listen)
        throw new RampartError('RAMPART_E_USAGE', `--listen "${values.listen}" is not host:port`, {
          hint: USAGE,
        });
      config = Object.freeze({ ...config, server: Object.freeze({ ...config.server, listen }) });
    }
    if (values['egress-listen'] !== undefined) {
      const listen = parseListen(values['egress-listen']);
      if (!listen)
        throw new RampartError(
          'RAMPART_E_USAGE',
          `--egress-listen "${values['egress-listen']}" is not host:port`,
          {
            hint: USAGE,
          },
        );
      config = Object.freeze({ ...config, egress: Object.freeze({ ...config.egress, listen }) });
    }
    const cp = await startControlPlane({ config });
    const ms = Math.round(performance.now() - started);
    const rel = (p: string): string => {
      const r = relative(io.cwd, p);
      return r.startsWith('..') ? p : r || '.';
    };
    const store =
      config.store.driver === 'sqlite'
        ? `sqlite ${rel(config.store.file)}`
        : `postgres ${config.store.host}:${config.store.port}/${config.store.database}`;
    io.stderr.write(
      `rampart: control plane ready at ${cp.url} in ${ms} ms (store: ${store}; admin token in ${rel(cp.adminTokenFile)})\n`,
    );

    return new Promise<number>((resolve) => {
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) {
          io.stderr.write(`rampart: second ${signal}: exiting without a clean shutdown\n`);
          process.exit(1);
        }
        stopping = true;
        io.stderr.write(`rampart: ${signal}: shutting down\n`);
        cp.close().then(
          () => {
            io.stderr.write('rampart: stopped cleanly (audit log flushed and checkpointed)\n');
            resolve(0);
          },
          (e: unknown) => {
            io.stderr.write(`rampart: shutdown failed: ${(e as Error).message}\n`);
            resolve(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
  },
};

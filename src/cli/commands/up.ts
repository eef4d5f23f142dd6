// rampart up: start the control plane and serve until SIGTERM or SIGINT, then shut down in
// order (finish requests, flush the audit log, write a checkpoint) and exit 0.

import { relative } from 'node:path';
import { loadConfig } from '../../config/load.js';
import { startControlPlane } from '../../server/controlplane.js';
import { COMMON_OPTIONS, parse, type Command } from '../io.js';
import { serveUntilSignal, withListen } from '../serve.js';

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
    config = withListen(config, 'server', '--listen', values.listen, USAGE);
    config = withListen(config, 'egress', '--egress-listen', values['egress-listen'], USAGE);
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
    return serveUntilSignal(cp, io);
  },
};

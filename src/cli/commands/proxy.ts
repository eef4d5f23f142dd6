// rampart proxy: the egress proxy on its own, for agents that run outside a Rampart sandbox.
//
// It is a replica of the control plane that serves only the proxy: the same config, store, audit
// log, identity (callers present a workload token in Proxy-Authorization) and policy. It can run
// beside `rampart up` on the same data directory (SQLite takes its write lock per transaction;
// several hosts share state through PostgreSQL as replicas do). Runtime controls (bans, the kill
// switch) are served by `rampart up`'s API and act on the proxy of that process.

import { loadConfig } from '../../config/load.js';
import { startControlPlane } from '../../server/controlplane.js';
import { COMMON_OPTIONS, parse, type Command } from '../io.js';
import { serveUntilSignal, withListen } from '../serve.js';

const USAGE = `usage: rampart proxy [--config FILE] [--data DIR] [--listen HOST:PORT]

Runs the egress proxy without the rest of the control plane. Clients authenticate with a workload
token (Proxy-Authorization: Bearer TOKEN, or curl --proxy-user agent:TOKEN); every connection is
checked against the egress rules, policy and the address guard, and recorded in the audit log.

  --listen HOST:PORT   Where the proxy listens (default: egress.listen from the config).`;

export const command: Command = {
  usage: USAGE,
  async run(argv, io) {
    const { values } = parse(argv, { ...COMMON_OPTIONS, listen: { type: 'string' } }, USAGE);
    if (values.help) {
      io.stdout.write(USAGE + '\n');
      return 0;
    }
    let config = loadConfig({ file: values.config, dataDir: values.data, cwd: io.cwd });
    config = withListen(config, 'egress', '--listen', values.listen, USAGE);
    // Asked for by name: the proxy runs even where the config turns it off for `rampart up`.
    config = Object.freeze({ ...config, egress: Object.freeze({ ...config.egress, enabled: true }) });
    const cp = await startControlPlane({ config, role: 'proxy' });
    io.stderr.write(`rampart: egress proxy ready at ${cp.egress} (${config.egress.mode} mode)\n`);
    return serveUntilSignal(cp, io);
  },
};

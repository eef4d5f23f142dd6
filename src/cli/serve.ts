// What `rampart up` and `rampart proxy` share: listen-address flags applied to the loaded config,
// and serving until SIGTERM or SIGINT, then an orderly shutdown (finish requests, flush the audit
// log, write a checkpoint). A second signal exits at once.

import { parseListen, type Config } from '../config/load.js';
import { RampartError, messageOf } from '../core/errors.js';
import type { ControlPlane } from '../server/controlplane.js';
import type { Io } from './io.js';

/** Config with `server.listen` or `egress.listen` replaced from a flag's host:port. */
export function withListen(
  config: Config,
  section: 'server' | 'egress',
  flag: string,
  value: string | undefined,
  usage: string,
): Config {
  if (value === undefined) return config;
  const listen = parseListen(value);
  if (!listen)
    throw new RampartError('RAMPART_E_USAGE', `${flag} "${value}" is not host:port`, { hint: usage });
  return Object.freeze({ ...config, [section]: Object.freeze({ ...config[section], listen }) });
}

/** Serves until a signal, then shuts down; resolves with the exit code. */
export function serveUntilSignal(cp: ControlPlane, io: Io): Promise<number> {
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
          io.stderr.write(`rampart: shutdown failed: ${messageOf(e)}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

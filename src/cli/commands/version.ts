import { VERSION } from '../../core/version.js';
import type { Command } from '../io.js';

export const command: Command = {
  usage: 'usage: rampart version',
  run(_argv, io) {
    io.stdout.write(`rampart ${VERSION} (node ${process.version})\n`);
    return Promise.resolve(0);
  },
};

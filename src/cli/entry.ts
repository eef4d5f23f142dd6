// Process entry for the bundled CLI (bin/rampart.cjs loads the bundle built from this file).

import { main } from './main.js';
import type { Io } from './io.js';

// The standard streams are created when a command first uses them: building process.stdin and
// process.stdout costs milliseconds at start-up, and `rampart run` hands the terminal to the
// sandbox without touching either.
let stdoutReady = false;
const io: Io = {
  get stdout() {
    if (!stdoutReady) {
      stdoutReady = true;
      // A closed pipe (rampart audit tail | head) is the reader's choice, not an error.
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      });
    }
    return process.stdout;
  },
  get stderr() {
    return process.stderr;
  },
  get stdin() {
    return process.stdin;
  },
  cwd: process.cwd(),
};

main(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
    // Anything still holding the event loop open after the command finished is cut short.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (e: unknown) => {
    process.stderr.write(`rampart: RAMPART_E_INTERNAL: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);

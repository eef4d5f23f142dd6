// Preloaded (NODE_OPTIONS=--import) into every Node process of a test run by scripts/test.mjs:
// test files and every Rampart process they start. A process warning (a deprecation, a listener
// leak, an unhandled rejection turned warning) is a bug the run must not pass over, so each one is
// appended to the file scripts/test.mjs reads when the run ends, and the run fails.
import { appendFileSync } from 'node:fs';

const file = process.env.RAMPART_TEST_WARNINGS;
if (file)
  process.on('warning', (w) => {
    const who = process.argv.slice(1).join(' ').slice(0, 200);
    appendFileSync(file, `${w.name}: ${w.message}\n    in ${who}\n`);
  });

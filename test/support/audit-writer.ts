// A child process for the crash test: appends audit records as fast as it can, many in flight at
// once, and prints "ack <seq> <actor>" for each only after its promise resolves (it is durable).

import { join } from 'node:path';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { openTestLog } from './audit.js';
import { pgConfig } from './pg.js';

const [driver, dataDir, schema] = process.argv.slice(2) as [string, string, string];
const store =
  driver === 'sqlite'
    ? openSqliteStore({ file: join(dataDir, 'r.db') })
    : await openPostgresStore(pgConfig(schema));
const { log } = await openTestLog(store, dataDir, { checkpointEvery: 500 });
process.stdout.write('ready\n');
let n = 0;
const IN_FLIGHT = 64;
async function worker(): Promise<void> {
  for (;;) {
    const i = n++;
    const actor = `writer-${i}`;
    const r = await log.record({
      actor,
      action: 'crash.test',
      target: 't',
      outcome: 'success',
      details: { i },
    });
    process.stdout.write(`ack ${r.seq} ${actor}\n`);
  }
}
await Promise.all(Array.from({ length: IN_FLIGHT }, worker));

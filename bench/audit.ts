// bench/audit: durable audit appends per second (SQLite and PostgreSQL) and full verification speed.
//
//   npm run bench:setup && node build/bench/audit.js [--seconds 5] [--records 1000000] [--concurrency 256]
//
// "Durable" means each caller's promise resolves only after its record's transaction committed
// with fsync (SQLite WAL synchronous=FULL; PostgreSQL synchronous_commit=on). The peer in the same
// run is the naive design: one transaction, hence one fsync, per record.

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { verifyLog } from '../src/audit/verify.js';
import { canonicalJson } from '../src/core/canonical.js';
import { openPostgresStore } from '../src/store/postgres.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/types.js';
import { openTestLog } from '../test/support/audit.js';
import { dropSchema, newSchema, pgAvailable, pgConfig } from '../test/support/pg.js';
import { tempDir } from '../test/support/tmp.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    records: { type: 'string', default: '1000000' },
    concurrency: { type: 'string', default: '256' },
    skipPg: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const RECORDS = Number(values.records);
const CONCURRENCY = Number(values.concurrency);

const sample = (i: number) => ({
  actor: `agent:ci-bot-${i % 50}`,
  action: 'egress.connect',
  target: `run-${i % 1000}`,
  outcome: 'success' as const,
  details: { host: 'api.github.com', port: 443, bytesIn: 1234 + i, bytesOut: 567, rule: 'github' },
});

/** Group-committed appends through the AuditLog: `CONCURRENCY` callers, each waits for its ack. */
async function groupCommit(store: Store, dir: string): Promise<number> {
  const { log } = await openTestLog(store, dir, { maxBatch: 4096 });
  let acked = 0;
  const deadline = performance.now() + SECONDS * 1000;
  let i = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        await log.record(sample(i++));
        acked++;
      }
    }),
  );
  const rate = acked / SECONDS;
  await log.close();
  return rate;
}

/** The naive peer: every record its own durable transaction. */
async function perRecord(store: Store): Promise<number> {
  let acked = 0;
  const deadline = performance.now() + Math.min(SECONDS, 3) * 1000;
  const start = performance.now();
  let i = 0;
  while (performance.now() < deadline) {
    const e = sample(i++);
    const J = JSON.stringify;
    await store.audit.append([
      {
        before: `{"action":${J(e.action)},"actor":${J(e.actor)},"details":${canonicalJson(e.details)},"outcome":${J(e.outcome)},"seq":`,
        after: `,"target":${J(e.target)},"time":${J(new Date().toISOString())}}`,
      },
    ]);
    acked++;
  }
  return acked / ((performance.now() - start) / 1000);
}

async function fill(store: Store, dir: string, n: number): Promise<void> {
  const { log } = await openTestLog(store, dir, { maxBatch: 8192, checkpointEvery: 100_000 });
  const WINDOW = 8192;
  for (let at = 0; at < n; at += WINDOW) {
    const k = Math.min(WINDOW, n - at);
    await Promise.all(Array.from({ length: k }, (_, j) => log.record(sample(at + j))));
  }
  await log.close();
}

async function verifySpeed(
  store: Store,
  dir: string,
): Promise<{ seconds: number; records: number; ok: boolean }> {
  const { log, verifiers, origin } = await openTestLog(store, dir);
  await log.close();
  const t0 = performance.now();
  const report = await verifyLog({ store, verifiers, origin });
  return { seconds: (performance.now() - t0) / 1000, records: report.records, ok: report.ok };
}

const rows: string[] = [];
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

{
  const t = tempDir('rampart-bench-');
  const store = openSqliteStore({ file: join(t.dir, 'bench.db') });
  const gc = await groupCommit(store, t.dir);
  const naive = await perRecord(store);
  rows.push(`| SQLite (WAL, synchronous=FULL) | ${fmt(gc)} | ${fmt(naive)} |`);
  await store.close();
  t.cleanup();
}

if (!values.skipPg && pgAvailable()) {
  const t = tempDir('rampart-bench-');
  const schema = newSchema();
  const store = await openPostgresStore({ ...pgConfig(schema), poolSize: 4 });
  const gc = await groupCommit(store, t.dir);
  const naive = await perRecord(store);
  rows.push(`| PostgreSQL 15 (synchronous_commit=on) | ${fmt(gc)} | ${fmt(naive)} |`);
  await store.close();
  await dropSchema(schema);
  t.cleanup();
}

console.log(`\nDurable appends per second (${CONCURRENCY} concurrent callers, ${SECONDS} s):\n`);
console.log('| Store | Rampart (group commit) | Naive peer (one fsync per record) |');
console.log('| --- | --- | --- |');
for (const r of rows) console.log(r);

{
  const t = tempDir('rampart-bench-');
  const store = openSqliteStore({ file: join(t.dir, 'verify.db') });
  const f0 = performance.now();
  await fill(store, t.dir, RECORDS);
  const fillSeconds = (performance.now() - f0) / 1000;
  const v = await verifySpeed(store, t.dir);
  console.log(
    `\nFull verification of ${fmt(v.records)} records (SQLite): ${v.seconds.toFixed(2)} s ` +
      `(${fmt(v.records / v.seconds)} records/s, ok=${v.ok}); filling them took ${fillSeconds.toFixed(1)} s ` +
      `(${fmt(RECORDS / fillSeconds)} appends/s with 8192 in flight)`,
  );
  await store.close();
  t.cleanup();
}

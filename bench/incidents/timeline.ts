// bench/incidents: an incident's timeline of 10,000 records with their inclusion proofs (goal
// ≤ 500 ms), on SQLite and on PostgreSQL. The log holds 100,000 records, one in ten about the
// incident's run, so the timeline is found among other runs' records, as in a busy installation.
// Beside it, in the same run: the same proofs fetched one record at a time (the audit API's
// path, what a timeline built on /v1/audit/proofs/inclusion would cost), and the offline check
// of the report (what `rampart audit verify-proof` does with it).
//
//   npm run bench:setup && node build/bench/incidents/timeline.js [--records 100000] [--every 10]

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openCheckpoint } from '../../src/audit/checkpoint.js';
import { blankIncident } from '../../src/incidents/model.js';
import { checkReport, makeReport, renderMarkdown } from '../../src/incidents/report.js';
import { buildTimeline, type AuditAccess } from '../../src/incidents/timeline.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { openTestLog } from '../../test/support/audit.js';
import { dropSchema, newSchema, pgConfig } from '../../test/support/pg.js';
import { tempDir } from '../../test/support/tmp.js';

const { values } = parseArgs({
  options: { records: { type: 'string', default: '100000' }, every: { type: 'string', default: '10' } },
});
const RECORDS = Number(values.records);
const EVERY = Number(values.every);
const REPEAT = 5;
const WARM = 2;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function bench(name: string, store: Store, dir: string): Promise<void> {
  const { log, verifiers } = await openTestLog(store, dir, { maxBatch: 5000 });
  const t0 = Date.now();
  const started = new Date(t0 - 1000).toISOString();
  for (let i = 0; i < RECORDS; i += 5000) {
    const batch: Promise<unknown>[] = [];
    for (let k = i; k < Math.min(RECORDS, i + 5000); k++) {
      const mine = k % EVERY === 0;
      const run = mine ? 'r-incident' : `r-${k % 97}`;
      batch.push(
        log.record({
          actor: 'component:detect',
          action: mine && k % (EVERY * 50) === 0 ? 'event.detect.detection' : 'event.process.exec',
          target: run,
          outcome: 'success',
          details: {
            severity: 'info',
            subject: { run, agent: mine ? 'a-incident' : 'a-other' },
            data: {
              run,
              agent: 'x',
              exe: '/usr/bin/curl',
              argv: ['curl', '-s', `https://example.test/${k}`],
            },
          },
        }),
      );
    }
    await Promise.all(batch);
  }
  const loadMs = Date.now() - t0;
  const incident = blankIncident('bench', 'INC-1', 'detection', 'bench', 'high', started, started, []);
  incident.observables.runs.push('r-incident');
  incident.observables.agents.push('a-incident');
  const audit: AuditAccess = {
    size: async () => (await store.audit.head()).size,
    records: (from, limit) => store.audit.records(from, limit),
    search: (from, end, needles, limit) => store.audit.search(from, end, needles, limit),
    proofs: (seqs) => log.inclusionProofs(seqs),
  };
  const times: number[] = [];
  let timeline: Awaited<ReturnType<typeof buildTimeline>> | undefined;
  // The first builds, reported apart: the code not yet compiled, the checkpoint signed, the
  // store's pages not yet read since the load (a running control plane has done all of these).
  const cold: number[] = [];
  for (let r = 0; r < WARM; r++) {
    const s = performance.now();
    await buildTimeline(audit, incident, { leadMs: 0, max: 1_000_000, now: Date.now() + 60_000 });
    cold.push(performance.now() - s);
  }
  for (let r = 0; r < REPEAT; r++) {
    const s = performance.now();
    timeline = await buildTimeline(audit, incident, { leadMs: 0, max: 1_000_000, now: Date.now() + 60_000 });
    times.push(performance.now() - s);
  }
  // One proof at a time, for the same records (fewer: it is slow), scaled to the timeline's size.
  const sample = timeline!.entries.slice(0, 1000).map((e) => e.seq);
  const s1 = performance.now();
  for (const seq of sample) await log.inclusionProof(seq);
  const oneByOne = ((performance.now() - s1) / sample.length) * timeline!.entries.length;

  const md = renderMarkdown(makeReport(incident, timeline!, new Date().toISOString()));
  const s2 = performance.now();
  const ok = checkReport(md, (note) => openCheckpoint(note, verifiers));
  const checkMs = performance.now() - s2;
  console.log(
    `${name.padEnd(9)} log ${RECORDS} records (loaded in ${loadMs} ms); timeline ${timeline!.entries.length} records with proofs: median ${median(times).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms over ${REPEAT} (first ${WARM}, apart: ${cold.map((x) => x.toFixed(0)).join(', ')} ms); ` +
      `one proof at a time: ${oneByOne.toFixed(0)} ms (estimated from ${sample.length}); ` +
      `report ${(md.length / 1e6).toFixed(1)} MB checked offline in ${checkMs.toFixed(0)} ms (${ok.records} records)`,
  );
  await log.close();
}

const t = tempDir();
try {
  {
    const store = openSqliteStore({ file: join(t.dir, 'bench.db') });
    await bench('sqlite', store, join(t.dir, 'sqlite'));
    await store.close();
  }
  {
    const schema = newSchema();
    const store = await openPostgresStore(pgConfig(schema));
    try {
      await bench('postgres', store, join(t.dir, 'pg'));
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  }
} finally {
  t.cleanup();
}

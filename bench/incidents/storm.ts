// bench/incidents, the storm: 1,000 detections on 10 runs (10 agents) within 10 s, published on
// a real control plane's bus (each on record, then delivered by the event stream to the
// incidents component, as detection's are), on SQLite and on PostgreSQL. Goal: 10 incidents, not
// 1,000, every detection counted on its run's incident; measured beside it: how long after the
// last detection is on record its incident has it (the grouping's lag), and the incidents
// component's own work per detection.
//
//   npm run bench:setup && node build/bench/incidents/storm.js [--detections 1000] [--seconds 10]

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { parseConfig } from '../../src/config/load.js';
import { startControlPlane } from '../../src/server/controlplane.js';
import { dropSchema, newSchema, PG_URL } from '../../test/support/pg.js';
import { tempDir } from '../../test/support/tmp.js';

const { values } = parseArgs({
  options: { detections: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '10' } },
});
const N = Number(values.detections);
const SECONDS = Number(values.seconds);
const RUNS = 10;

interface Summary {
  id: string;
  detections: number;
  runs: string[];
}

async function storm(name: string, storeYaml: string): Promise<void> {
  const t = tempDir();
  writeFileSync(
    join(t.dir, 'rampart.yaml'),
    // Only what the storm needs: no kernel telemetry, no playbooks (their actions on runs that do
    // not exist would be noise here; bench/respond measures them), no egress listener.
    `server:\n  listen: 127.0.0.1:0\ndetect:\n  telemetry: off\nrespond:\n  enabled: false\negress:\n  listen: 127.0.0.1:0\n${storeYaml}`,
  );
  const config = parseConfig(readFileSync(join(t.dir, 'rampart.yaml'), 'utf8'), join(t.dir, 'rampart.yaml'), {
    baseDir: t.dir,
  });
  const quiet = new Writable({ write: (_c, _e, cb) => cb() });
  const cp = await startControlPlane({ config, logDestination: quiet });
  const token = readFileSync(cp.adminTokenFile, 'utf8').trim();
  const list = async (): Promise<Summary[]> => {
    const r = await fetch(`${cp.url}/v1/incidents?limit=10000`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return ((await r.json()) as { incidents: Summary[] }).incidents;
  };
  try {
    const gap = (SECONDS * 1000) / N;
    const start = performance.now();
    for (let i = 0; i < N; i++) {
      const due = start + i * gap;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const run = `storm-run-${i % RUNS}`;
      await cp.bus.publish({
        type: 'detect.detection',
        severity: 'high',
        source: 'detect',
        subject: { run, agent: `storm-agent-${i % RUNS}` },
        data: {
          rule: i % 2 === 0 ? 'reverse-shell' : 'process-environ-read',
          priority: 'high',
          output: `storm ${i}`,
          tags: ['execution'],
          run,
          agent: `storm-agent-${i % RUNS}`,
          namespace: 'default',
          events: [],
          count: 1,
        },
      });
    }
    const published = performance.now();
    let incidents: Summary[] = [];
    for (;;) {
      incidents = await list();
      if (incidents.reduce((s, x) => s + x.detections, 0) >= N) break;
      if (performance.now() - published > 60_000) throw new Error('the incidents did not catch up in 60 s');
      await new Promise((r) => setTimeout(r, 5));
    }
    const caughtUp = performance.now();
    const m = await fetch(`${cp.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    const lag = /rampart_events_lag\{subscriber="incidents"\} (\d+)/.exec(await m.text());
    console.log(
      `${name.padEnd(9)} ${N} detections on ${RUNS} runs in ${((published - start) / 1000).toFixed(1)} s -> ${incidents.length} incidents ` +
        `(${incidents.map((x) => x.detections).join('/')} detections each); all applied ${(caughtUp - published).toFixed(0)} ms after the last was on record` +
        (lag ? `; stream lag then ${lag[1]}` : ''),
    );
  } finally {
    await cp.close();
    t.cleanup();
  }
}

await storm('sqlite', '');
const schema = newSchema();
try {
  await storm(
    'postgres',
    `store:\n  driver: postgres\n  postgres:\n    host: ${PG_URL.hostname}\n    port: ${Number(PG_URL.port || 5432)}\n    database: ${PG_URL.pathname.slice(1) || 'test'}\n    user: ${decodeURIComponent(PG_URL.username || 'root')}\n    schema: ${schema}\n`,
  );
} finally {
  await dropSchema(schema);
}

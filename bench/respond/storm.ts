// bench/respond, part 4: the storm. 100 real runs (a cgroup each, with a sleeping process in
// it) and a playbook that kills on every detection; 1,000 detections handed to the response
// engine within one second, 10 per run, under the default breaker (20 per playbook per minute).
// Counted: kills, freezes (what the breaker does instead), critical events, and the time until
// every run is killed or frozen. The containment state is a real SQLite store.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BusEvent, StreamEvent } from '../../src/core/events.js';
import { DETECTION_FIELDS } from '../../src/detect/engine.js';
import type { RunActions } from '../../src/respond/engine.js';
import { RespondService } from '../../src/respond/service.js';
import { ContainmentState } from '../../src/respond/state.js';
import { RunCgroup, detectCgroups } from '../../src/sandbox/cgroup.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { sandboxHarness } from '../../test/support/sandbox.js';

const RUNS = 100;
const DETECTIONS = 1000;

export async function storm(): Promise<void> {
  const h = sandboxHarness();
  const children: ChildProcess[] = [];
  const ids: string[] = [];
  let cleanupGroups = (): void => undefined;
  const store = openSqliteStore({ file: join(h.dir.dir, 'storm.db') });
  try {
    const cgroups = detectCgroups(h.cgroupParent);
    if (typeof cgroups === 'string') throw new Error(cgroups);
    cleanupGroups = () => {
      for (const id of ids) {
        const g = RunCgroup.open(cgroups, id);
        g?.killAll();
      }
    };
    for (let i = 0; i < RUNS; i++) {
      const id = `run_storm${String(i).padStart(3, '0')}`;
      const g = RunCgroup.create(cgroups, id, { memory: 64 << 20, pids: 16, cpus: 1 });
      const c = spawn('sleep', ['600'], { stdio: 'ignore' });
      children.push(c);
      g.add([c.pid!]);
      ids.push(id);
    }
    const events: BusEvent[] = [];
    const calls = { kill: 0, freeze: 0 };
    const runs: RunActions = {
      hosts: () => true,
      where: async () => 'here',
      freeze: async (run) => {
        calls.freeze++;
        return (await h.svc.freeze(run)) ? 'done' : 'gone';
      },
      thaw: (run) => (h.svc.thaw(run) ? 'done' : 'gone'),
      kill: (run) => {
        calls.kill++;
        return { outcome: h.svc.kill(run, 0) ? 'done' : 'gone', recorded: Promise.resolve() };
      },
      quarantine: async () => ({ outcome: 'gone', recorded: Promise.resolve() }),
      cutEgress: () => 'gone',
      destroyAll: () => ({ ids: [], recorded: Promise.resolve() }),
    };
    const state = await ContainmentState.open({
      meta: store.meta,
      notifications: store.notifications,
      apply: () => undefined,
      onError: () => undefined,
      now: Date.now,
    });
    writeFileSync(
      join(h.dir.dir, 'p.yaml'),
      '- playbook: kill-on-sight\n  match: {rules: [r]}\n  actions: [kill]\n',
    );
    const svc = await RespondService.start({
      dirs: [h.dir.dir],
      watch: false,
      dryRun: false,
      breaker: { windowMs: 60_000, perPlaybook: 20, perAction: 50, perAgent: 10 },
      load: () => ({ fields: DETECTION_FIELDS }),
      actuators: { runs, revokeTokens: async () => undefined },
      state,
      bus: { publish: async (e) => void events.push(e) },
      log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    const t0 = performance.now();
    for (let i = 0; i < DETECTIONS; i++) {
      const run = ids[i % RUNS]!;
      const se: StreamEvent = {
        seq: i + 1,
        time: new Date().toISOString(),
        event: {
          type: 'detect.detection',
          severity: 'critical',
          source: 'detect',
          data: {
            rule: 'r',
            priority: 'critical',
            output: 'x',
            tags: [],
            run,
            agent: `agent-${i % RUNS}`,
            namespace: '',
            events: [i],
            count: 1,
          },
        },
      };
      await svc.handle(se);
      // 1,000 within the second: the i-th at i ms, in bursts of ten.
      const ahead = t0 + i + 1 - performance.now();
      if (i % 10 === 9 && ahead > 1) await new Promise((r) => setTimeout(r, ahead));
    }
    const sent = performance.now() - t0;
    await svc.stop();
    const done = performance.now() - t0;
    let frozen = 0;
    let empty = 0;
    for (const id of ids) {
      const g = RunCgroup.open(cgroups, id)!;
      if (g.pids().length === 0) empty++;
      else if (g.frozen()) frozen++;
    }
    const critical = events.filter((e) => e.type === 'respond.breaker' && e.severity === 'critical').length;
    console.log(
      `\nThe storm: ${DETECTIONS} detections in ${sent.toFixed(0)} ms against ${RUNS} runs, kill playbook, breaker 20 per playbook per minute\n`,
    );
    console.log(
      '| Kills | Freezes instead | Runs killed | Runs frozen | Critical events | All settled after |',
    );
    console.log('| --- | --- | --- | --- | --- | --- |');
    console.log(
      `| ${calls.kill} | ${calls.freeze} | ${empty} | ${frozen} | ${critical} | ${done.toFixed(0)} ms |`,
    );
    state.stop();
  } finally {
    // A frozen task takes its SIGKILL when thawed: killAll freezes, kills and thaws.
    cleanupGroups();
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(
      children
        .filter((c) => c.exitCode === null && c.signalCode === null)
        .map((c) => new Promise((r) => c.on('exit', r))),
    );
    const cg = detectCgroups(h.cgroupParent);
    if (typeof cg !== 'string') for (const id of ids) RunCgroup.open(cg, id)?.remove();
    await store.close();
    h.cleanup();
  }
}

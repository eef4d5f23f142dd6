// Incidents from recorded events, over both real stores (SQLite, and PostgreSQL shared by two
// "replicas" applying the same events): grouping by run and agent within the window, one
// incident per attack under a storm, containment stopping the clock, evidence, runbook tasks,
// people's commands, break-glass incidents held open until reviewed, and the statistics.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { BusEvent, EventMap, EventPublisher, EventType, StreamEvent } from '../../src/core/events.js';
import type { IncidentsSettings } from '../../src/core/settings.js';
import type { Severity } from '../../src/core/types.js';
import { IncidentBook } from '../../src/incidents/book.js';
import { loadRunbooks } from '../../src/incidents/runbooks.js';
import { IncidentsService } from '../../src/incidents/service.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { ROOT } from '../support/cli.js';
import { dropSchema, newSchema, pgConfig, skipPg } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';
import { until } from '../support/wait.js';

const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const SETTINGS: IncidentsSettings = {
  enabled: true,
  groupBy: ['run', 'agent'],
  windowMs: 3_600_000,
  minSeverity: 'medium',
  runbooks: [],
  includeShipped: true,
  timelineLeadMs: 600_000,
  timelineMax: 10_000,
};
const T0 = Date.parse('2026-12-04T10:00:00Z');

interface Replica {
  svc: IncidentsService;
  book: IncidentBook;
  events: BusEvent[];
}

async function replica(store: Store, settings: IncidentsSettings = SETTINGS): Promise<Replica> {
  const events: BusEvent[] = [];
  const bus: EventPublisher = {
    publish: async (e) => {
      events.push(e);
      return { seq: 0, time: '' };
    },
  };
  let seq = 1_000_000;
  const book = await IncidentBook.open(store.meta, store.notifications, {
    ms: 30 * 86_400_000,
    now: () => T0 + 10_000_000,
  });
  const svc = new IncidentsService({
    settings,
    book,
    runbooks: loadRunbooks([join(ROOT, 'runbooks', 'default')]),
    bus,
    auditor: {
      record: async () => ({ seq: seq++, time: new Date(T0).toISOString() }),
      fingerprint: () => 'f',
    },
    // The triggering event was recorded 40 ms before the detection.
    recordTime: async (s) => new Date(T0 + s * 1000 - 40).toISOString(),
    runHost: async (run) => (run.startsWith('r') ? 'host-a' : undefined),
    replica: Math.random().toString(36),
    log,
    now: () => T0 + 10_000_000,
  });
  return { svc, book, events };
}

let nextSeq = 1;
function ev<K extends EventType>(
  type: K,
  data: EventMap[K],
  at: number,
  severity: Severity = 'high',
): StreamEvent {
  const seq = nextSeq++;
  return { seq, time: new Date(at).toISOString(), event: { type, severity, source: 'test', data } };
}
const detection = (rule: string, run: string, agent: string, at: number, priority: Severity = 'high') =>
  ev(
    'detect.detection',
    {
      rule,
      priority,
      output: `${rule} in ${run}`,
      tags: rule === 'reverse-shell' ? ['execution'] : ['credential_access'],
      run,
      agent,
      namespace: 'default',
      events: [Math.floor((at - T0) / 1000)],
      count: 1,
      fields: { 'net.host': 'evil.example' },
    },
    at,
    priority,
  );

/** A respond.action on a run: a playbook's, or a person's when `by` names one. */
const action = (
  run: string,
  agent: string,
  at: number,
  a: Partial<EventMap['respond.action']> & Pick<EventMap['respond.action'], 'action' | 'outcome'>,
) =>
  ev(
    'respond.action',
    {
      target: run,
      by: 'playbook',
      reason: 'x',
      ...(a.by && a.by !== 'playbook' ? {} : { playbook: 'p' }),
      run,
      agent,
      ms: 1,
      ...a,
    },
    at,
  );

const stores: [
  string,
  () => Promise<{ store: Store; again: () => Promise<Store>; close: () => Promise<void> }>,
  string | false,
][] = [
  [
    'sqlite',
    async () => {
      const t = tempDir();
      const file = join(t.dir, 'i.db');
      const opened: Store[] = [];
      const open = async () => {
        const s = openSqliteStore({ file });
        opened.push(s);
        return s;
      };
      return {
        store: await open(),
        again: open,
        close: async () => {
          for (const s of opened) await s.close();
          t.cleanup();
        },
      };
    },
    false,
  ],
  [
    'postgres',
    async () => {
      const schema = newSchema();
      const opened: Store[] = [];
      const open = async () => {
        const s = await openPostgresStore(pgConfig(schema));
        opened.push(s);
        return s;
      };
      return {
        store: await open(),
        again: open,
        close: async () => {
          for (const s of opened) await s.close();
          await dropSchema(schema);
        },
      };
    },
    skipPg,
  ],
];

for (const [name, make, skip] of stores) {
  describe(`incidents (${name})`, { skip }, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c();
    });
    const setup = async () => {
      const s = await make();
      cleanups.push(s.close);
      return s;
    };

    it('groups one attack into one incident, and opens a new one past the window or after resolution', async () => {
      const { store } = await setup();
      const r = await replica(store);
      await r.svc.handle(detection('reverse-shell', 'r1', 'a1', T0));
      await r.svc.handle(detection('process-environ-read', 'r1', 'a1', T0 + 1000));
      // Another run of the same agent joins (grouped by agent too); another agent does not.
      await r.svc.handle(detection('process-environ-read', 'r2', 'a1', T0 + 2000));
      await r.svc.handle(detection('reverse-shell', 'r9', 'a9', T0 + 3000));
      let all = r.svc.all();
      assert.equal(all.length, 2);
      const first = all.find((i) => i.observables.agents.includes('a1'))!;
      assert.deepEqual(first.observables.runs, ['r1', 'r2']);
      assert.equal(first.detectionCount, 3);
      assert.deepEqual(first.observables.destinations, ['evil.example']);
      assert.deepEqual(first.observables.hosts, ['host-a']);
      // A refused token of the incident's agent is an observable.
      await r.svc.handle(
        ev(
          'auth.rejected',
          {
            route: '/v1/runs',
            method: 'POST',
            reason: 'revoked',
            remote: '10.0.0.9',
            sub: 'a1',
            jti: 'jti-77',
          },
          T0 + 2500,
          'medium',
        ),
      );
      assert.deepEqual(r.svc.get(first.id).observables.tokens, ['jti-77']);
      assert.deepEqual(first.runbooks.sort(), ['credential-access', 'execution']);
      assert.ok(first.tasks.length >= 10, 'runbook tasks attached');
      assert.equal(r.events.filter((e) => e.type === 'incident.opened').length, 2);
      // Time to detect: the first triggering event's record to the detection.
      assert.equal(first.times.firstEvent, new Date(T0 - 40).toISOString());

      // Past the window: a new incident, even for the same run.
      await r.svc.handle(detection('reverse-shell', 'r1', 'a1', T0 + 3_700_000));
      assert.equal(r.svc.all().length, 3);

      // Resolved: the next detection opens a new one.
      const latest = r.svc.all()[0]!;
      await r.svc.desk.resolve(latest.id, 'client:alice', { verdict: 'true_positive' });
      await r.svc.handle(detection('reverse-shell', 'r1', 'a1', T0 + 3_701_000));
      all = r.svc.all();
      assert.equal(all.length, 4);
      assert.equal(all.filter((i) => i.status === 'resolved').length, 1);
      // A month on, the resolved one is no longer kept in memory or listed, and is found by id.
      const later = await IncidentBook.open(store.meta, store.notifications, {
        ms: 30 * 86_400_000,
        now: () => T0 + 10_000_000 + 31 * 86_400_000,
      });
      assert.equal(later.all().length, 3);
      assert.equal((await later.find(latest.id))?.status, 'resolved');
      later.stop();
    });

    it('opens nothing below min_severity, but a low detection joins an open incident', async () => {
      const { store } = await setup();
      const r = await replica(store);
      await r.svc.handle(detection('egress-probing', 'r1', 'a1', T0, 'low'));
      assert.equal(r.svc.all().length, 0);
      await r.svc.handle(detection('reverse-shell', 'r1', 'a1', T0 + 1000));
      await r.svc.handle(detection('egress-probing', 'r1', 'a1', T0 + 2000, 'low'));
      const [i] = r.svc.all();
      assert.equal(i!.detectionCount, 2);
      assert.equal(i!.severity, 'high');
      // A critical detection raises it, and says so.
      await r.svc.handle(detection('honeytoken-used', 'r1', 'a1', T0 + 3000, 'critical'));
      assert.equal(r.svc.get(i!.id).severity, 'critical');
      const raised = r.events.find((e) => e.type === 'incident.changed');
      assert.equal((raised?.data as { change: string }).change, 'severity');
    });

    it('a storm of 1,000 detections on 10 runs is 10 incidents', async () => {
      const { store } = await setup();
      const r = await replica(store);
      for (let k = 0; k < 1000; k++) {
        const run = k % 10;
        await r.svc.handle(detection('reverse-shell', `s${run}`, `agent-${run}`, T0 + k * 10));
      }
      const all = r.svc.all();
      assert.equal(all.length, 10);
      assert.ok(all.every((i) => i.detectionCount === 100));
      assert.equal(r.events.filter((e) => e.type === 'incident.opened').length, 10);
    });

    it('two replicas applying the same events keep one incident, announced once', async () => {
      const { store, again } = await setup();
      const a = await replica(store);
      const b = await replica(await again());
      const evs = [
        detection('reverse-shell', 'x1', 'ax', T0),
        detection('process-environ-read', 'x1', 'ax', T0 + 500),
        action('x1', 'ax', T0 + 520, { action: 'freeze', outcome: 'done', ms: 3 }),
      ];
      // Both see every event, in the log's order, at the same time.
      for (const e of evs) await Promise.all([a.svc.handle(e), b.svc.handle(e)]);
      const rec = JSON.parse((await store.meta.get(`incident.rec.INC-${evs[0]!.seq}`))!) as {
        detectionCount: number;
        actions: unknown[];
      };
      assert.equal(rec.detectionCount, 2);
      assert.equal(rec.actions.length, 1);
      const opened = [...a.events, ...b.events].filter((e) => e.type === 'incident.opened');
      assert.equal(opened.length, 1);
      // A replay (a restart's at-least-once delivery) changes nothing.
      for (const e of evs) await a.svc.handle(e);
      const again2 = JSON.parse((await store.meta.get(`incident.rec.INC-${evs[0]!.seq}`))!) as {
        detectionCount: number;
      };
      assert.equal(again2.detectionCount, 2);
    });

    it('containment stops the clock and moves the phase; quarantine adds evidence; people work it', async () => {
      const { store } = await setup();
      const r = await replica(store);
      const d = detection('reverse-shell', 'c1', 'ac', T0);
      await r.svc.handle(d);
      await r.svc.handle(action('c1', 'ac', T0 + 5, { action: 'notify', outcome: 'done', detection: d.seq }));
      await r.svc.handle(
        action('c1', 'ac', T0 + 44, { action: 'quarantine', outcome: 'done', detection: d.seq, ms: 30 }),
      );
      await r.svc.handle(
        ev(
          'sandbox.quarantined',
          {
            run: 'c1',
            by: 'playbook',
            archive: '/d/c1.tar',
            sha256: 'ab'.repeat(32),
            bytes: 1234,
            processes: 2,
          },
          T0 + 50,
          'critical',
        ),
      );
      const id = `INC-${d.seq}`;
      let i = r.svc.get(id);
      assert.equal(i.phase, 'containment');
      assert.equal(i.times.contained, new Date(T0 + 44).toISOString());
      assert.deepEqual(
        i.evidence.map((e) => e.sha256),
        ['ab'.repeat(32)],
      );
      assert.deepEqual(i.observables.files, ['ab'.repeat(32)]);

      await r.svc.desk.ack(id, 'client:alice');
      await r.svc.desk.note(id, 'Lessons learned: pin the agent image', 'client:alice');
      await r.svc.desk.phase(id, 'eradication', 'client:alice');
      await r.svc.desk.task(id, 0, true, 'client:alice');
      await assert.rejects(r.svc.desk.task(id, 999, true, 'client:alice'), /has no task 999/);
      await r.svc.desk.verdict(id, 'true_positive', 'client:bob', 'confirmed');
      i = await r.svc.desk.resolve(id, 'client:bob');
      assert.equal(i.status, 'resolved');
      assert.equal(i.assignee, 'client:alice');
      assert.equal(i.tasks[0]!.done, true);
      assert.deepEqual(
        i.history.map((h) => h.change),
        ['phase', 'ack', 'note', 'phase', 'task', 'verdict', 'resolve'],
      );
      const types = r.events.map((e) => e.type);
      assert.ok(types.includes('incident.acknowledged') && types.includes('incident.resolved'));

      const s = r.svc.statsSince(T0 - 1000);
      assert.equal(s.opened, 1);
      assert.equal(s.resolved, 1);
      assert.equal(s.mttdSeconds, 0.04);
      assert.equal(s.mttcSeconds, 0.044);
      assert.equal(s.accuracy, 1);
      assert.equal(s.closureRate, 1);

      i = await r.svc.desk.reopen(id, 'client:bob');
      assert.equal(i.status, 'acknowledged');
    });

    it('a break-glass incident stays open until its review is recorded', async () => {
      const { store } = await setup();
      const r = await replica(store);
      await r.svc.handle(
        ev(
          'breakglass.requested',
          {
            id: 'BG-00000000AA',
            requester: 'client:alice',
            scopes: ['admin'],
            reason: 'prod is down',
            ttlMs: 60_000,
            emergency: true,
            required: 1,
          },
          T0,
          'critical',
        ),
      );
      const [i] = r.svc.all();
      assert.equal(i!.kind, 'breakglass');
      assert.equal(i!.severity, 'critical');
      await assert.rejects(r.svc.desk.resolve(i!.id, 'client:bob'), /record its review first/);
      await r.svc.handle(
        ev(
          'breakglass.reviewed',
          { id: 'BG-00000000AA', requester: 'client:alice', by: 'client:bob', text: 'fine' },
          T0 + 5000,
          'medium',
        ),
      );
      assert.equal((await r.svc.desk.resolve(i!.id, 'client:bob')).status, 'resolved');
    });

    it('an event that cannot be applied (the store down) is retried until it is, never skipped', async () => {
      const { store } = await setup();
      let down = true;
      const flaky: Store = {
        ...store,
        meta: {
          ...store.meta,
          get: (k) => store.meta.get(k),
          list: (p) => store.meta.list(p),
          set: (k, v) => store.meta.set(k, v),
          setIfAbsent: (k, v) => store.meta.setIfAbsent(k, v),
          delete: (k) => store.meta.delete(k),
          compareAndSet: (k, e, v) =>
            down ? Promise.reject(new Error('connection refused')) : store.meta.compareAndSet(k, e, v),
        },
      };
      const r = await replica(flaky);
      const handled = r.svc.handle(detection('reverse-shell', 'f1', 'af', T0));
      await until(() => r.svc.health().status === 'degraded', 'health to say the record waits');
      assert.match(r.svc.health().detail, /could not be applied to incidents since .*: connection refused/);
      down = false;
      await handled;
      assert.equal(r.svc.all().length, 1);
      assert.equal(r.svc.health().status, 'ok');
      assert.ok(r.svc.stats.failures >= 1);
    });

    it('a playbook acting with no detection opens an incident; a person acting does not', async () => {
      const { store } = await setup();
      const r = await replica(store);
      await r.svc.handle(action('p1', 'ap', T0, { action: 'kill', outcome: 'done', by: 'client:ops' }));
      assert.equal(r.svc.all().length, 0);
      await r.svc.handle(
        action('p1', 'ap', T0 + 1, { action: 'freeze', outcome: 'failed', playbook: 'rate', error: 'no' }),
      );
      const [i] = r.svc.all();
      assert.equal(i!.kind, 'action');
      assert.equal(i!.severity, 'high');
      assert.equal(i!.times.contained, undefined);
    });
  });
}

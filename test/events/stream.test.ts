// The event contract, as one conformance suite run against every store: events are on record
// before anyone sees them, delivered in the log's order, with back-pressure and without loss,
// replayable from a record number, resumable by a durable subscriber, and (on PostgreSQL) the
// same on every replica sharing the store.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { BusEvent, StreamEvent } from '../../src/core/events.js';
import type { AuditEntryInput, AuditReceipt } from '../../src/core/types.js';
import { EventBus } from '../../src/events/bus.js';
import { EventStream } from '../../src/events/stream.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { MetaStore, Store } from '../../src/store/types.js';
import { openTestLog } from '../support/audit.js';
import { dropSchema, newSchema, pgConfig, skipPg } from '../support/pg.js';
import { tempDir, type TempDir } from '../support/tmp.js';
import { until } from '../support/wait.js';

interface Node {
  readonly store: Store;
  readonly bus: EventBus;
  readonly stream: EventStream;
  close(): Promise<void>;
}

async function node(store: Store, dataDir: string, window?: number, meta?: MetaStore): Promise<Node> {
  const { log } = await openTestLog(store, dataDir, { maxBatch: 64 });
  const stream = new EventStream({
    source: {
      records: (f, l) => store.audit.records(f, l),
      size: async () => (await store.audit.head()).size,
    },
    meta: meta ?? store.meta,
    notifications: store.notifications,
    ...(window ? { window } : {}),
  });
  await stream.start();
  const bus = new EventBus({
    auditor: log,
    onRecorded: () => stream.wake(),
    notifications: store.notifications,
  });
  return {
    store,
    bus,
    stream,
    close: async () => {
      await stream.close();
      await log.close();
    },
  };
}

const killed = (i: number, by = 'test'): BusEvent<'sandbox.killed'> => ({
  type: 'sandbox.killed',
  severity: 'medium',
  source: 'sandbox',
  subject: { run: `r${i}` },
  data: { run: `r${i}`, by },
});
const ban = (i: number): BusEvent<'egress.ban'> => ({
  type: 'egress.ban',
  severity: 'medium',
  source: 'egress',
  data: { target: `10.0.0.${i}`, action: 'ban', by: 'test', tunnelsCut: 0 },
});

/** Collects what a subscriber is handed. */
function collector(): { got: StreamEvent[]; handle: (e: StreamEvent) => void } {
  const got: StreamEvent[] = [];
  return { got, handle: (e) => void got.push(e) };
}

const ascending = (xs: readonly StreamEvent[]): boolean =>
  xs.every((e, i) => i === 0 || xs[i - 1]!.seq < e.seq);

type Open = (
  dir: TempDir,
) => Promise<{ store: Store; again: () => Promise<Store>; cleanup: () => Promise<void> }>;

function conformance(name: string, open: Open, skip: string | false): void {
  describe(`event contract: ${name}`, { skip }, () => {
    const dirs: TempDir[] = [];
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c();
      for (const d of dirs) d.cleanup();
    });
    const fresh = async (
      window?: number,
      meta?: (store: Store) => MetaStore,
    ): Promise<Node & { again: () => Promise<Store> }> => {
      const dir = tempDir();
      dirs.push(dir);
      const o = await open(dir);
      const n = await node(o.store, join(dir.dir, 'data'), window, meta?.(o.store));
      cleanups.push(async () => {
        await n.close();
        await o.store.close();
        await o.cleanup();
      });
      return { ...n, again: o.again };
    };

    it('delivers only what is on record, in the order of the log, each event once', async () => {
      const n = await fresh();
      const seen: StreamEvent[] = [];
      const onRecord: boolean[] = [];
      await n.stream.subscribe({
        name: 'checker',
        types: '*',
        handle: async (e) => {
          const [row] = await n.store.audit.records(e.seq, 1);
          onRecord.push(row?.seq === e.seq && row.entry.includes(`"action":"event.${e.event.type}"`));
          seen.push(e);
        },
      });
      const receipts = await Promise.all(Array.from({ length: 300 }, (_, i) => n.bus.publish(killed(i))));
      await until(() => seen.length === 300, '300 events delivered');
      assert.ok(onRecord.every(Boolean), 'every event was in the store when it was handled');
      assert.ok(ascending(seen), 'in the order of the log');
      assert.deepEqual(
        seen.map((e) => e.seq),
        receipts.map((r) => r.seq).sort((a, b) => a - b),
      );
      // Read back from its record, the event is what was published (with the record's outcome).
      assert.deepEqual(seen[7]!.event, {
        ...killed(Number(seen[7]!.event.subject!.run!.slice(1))),
        outcome: 'success',
      });
    });

    it('filters by type, and a failed record reaches nobody', async () => {
      const n = await fresh();
      const bans = collector();
      await n.stream.subscribe({ name: 'bans', types: ['egress.ban'], handle: bans.handle });
      await n.bus.publish(killed(1));
      await n.bus.publish(ban(1));
      const failing = new EventBus({
        auditor: {
          record: (_: AuditEntryInput): Promise<AuditReceipt> => Promise.reject(new Error('disk full')),
          fingerprint: () => '',
        },
        onRecorded: () => n.stream.wake(),
      });
      await assert.rejects(failing.publish(ban(2)), /disk full/);
      const last = await n.bus.publish(ban(3));
      await until(() => bans.got.at(-1)?.seq === last.seq, 'the last ban');
      assert.deepEqual(
        bans.got.map((e) => (e.event.data as { target: string }).target),
        ['10.0.0.1', '10.0.0.3'],
      );
    });

    it('refuses a type outside the catalogue and a severity its type does not carry', async () => {
      const n = await fresh();
      await assert.rejects(
        n.bus.publish({ ...ban(1), type: 'egress.nope' } as unknown as BusEvent),
        TypeError,
      );
      await assert.rejects(
        n.bus.publish({ ...ban(1), severity: 'critical' }),
        /egress.ban cannot be critical/,
      );
    });

    it('a slow subscriber holds up neither the publisher nor the others, and loses nothing', async () => {
      const n = await fresh(32);
      const fast = collector();
      const slow: StreamEvent[] = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      await n.stream.subscribe({ name: 'fast', types: '*', handle: fast.handle });
      await n.stream.subscribe({
        name: 'slow',
        types: '*',
        handle: async (e) => {
          await gate; // stuck until released: everything else must go on
          slow.push(e);
        },
      });
      const receipts = await Promise.all(Array.from({ length: 500 }, (_, i) => n.bus.publish(killed(i))));
      await until(() => fast.got.length === 500, 'the fast subscriber has everything');
      assert.equal(slow.length, 0);
      assert.ok(n.stream.lag()['slow']! >= 499, JSON.stringify(n.stream.lag()));
      assert.ok(n.stream.buffered <= 32, `the window holds ${n.stream.buffered} events`);
      release();
      await until(() => slow.length === 500, 'the slow subscriber catches up from the store');
      assert.ok(ascending(slow));
      assert.deepEqual(
        slow.map((e) => e.seq),
        receipts.map((r) => r.seq).sort((a, b) => a - b),
      );
      assert.equal(n.stream.lag()['slow'], 0);
    });

    it('a subscriber that throws is counted and skipped; the next event still arrives', async () => {
      const n = await fresh();
      const got: number[] = [];
      await n.stream.subscribe({
        name: 'flaky',
        types: '*',
        handle: (e) => {
          if (e.seq % 2 === 0) throw new Error('broken detector');
          got.push(e.seq);
        },
      });
      const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => n.bus.publish(killed(i))));
      const odd = rs.map((r) => r.seq).filter((s) => s % 2 === 1);
      await until(() => got.length === odd.length, 'every odd event');
      assert.deepEqual(got, odd);
    });

    it('replays from a record number, then goes on live', async () => {
      const n = await fresh();
      const rs: AuditReceipt[] = [];
      for (let i = 0; i < 50; i++) rs.push(await n.bus.publish(i % 2 ? killed(i) : ban(i)));
      const replay = collector();
      await n.stream.subscribe({
        name: 'replay',
        types: ['sandbox.killed'],
        from: rs[20]!.seq,
        handle: replay.handle,
      });
      const live = await n.bus.publish(killed(99));
      await until(() => replay.got.at(-1)?.seq === live.seq, 'the live event after the replay');
      assert.deepEqual(
        replay.got.map((e) => e.seq),
        [...rs.slice(20).filter((_, i) => (i + 20) % 2 === 1), live].map((r) => r.seq),
      );
    });

    it('a durable subscriber resumes where it stopped, after a restart', async () => {
      const n = await fresh();
      const first = collector();
      const off = await n.stream.subscribe({
        name: 'durable',
        types: '*',
        from: 'stored',
        handle: first.handle,
      });
      const before = await n.bus.publish(killed(1));
      await until(
        async () => Number(await n.store.meta.get('events.cursor.durable')) > before.seq,
        'the cursor stored',
      );
      off();
      await n.close(); // "restart": the stream and the log go away
      const missed = [];
      const store2 = await n.again();
      const dir2 = tempDir();
      const n2 = await node(store2, join(dir2.dir, 'data'));
      for (let i = 2; i < 5; i++) missed.push(await n2.bus.publish(killed(i)));
      const second = collector();
      await n2.stream.subscribe({ name: 'durable', types: '*', from: 'stored', handle: second.handle });
      await until(() => second.got.length === 3, 'the three events published while it was away');
      assert.deepEqual(
        second.got.map((e) => e.seq),
        missed.map((r) => r.seq),
      );
      assert.equal(first.got.length, 1);
      await n2.close();
      await store2.close();
      dir2.cleanup();
    });

    it("a durable subscriber's next event does not wait for its cursor's write", async () => {
      // Cursor writes held until released: a detection must not wait behind one on its way to a
      // containment. What is stored afterwards is the newest cursor, never one ahead of delivery.
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const writes: string[] = [];
      const heldSet = (store: Store) => async (k: string, v: string) => {
        writes.push(v);
        await held;
        await store.meta.set(k, v);
      };
      const n = await fresh(
        undefined,
        (store) =>
          new Proxy(store.meta, {
            get: (meta, key: keyof MetaStore) =>
              key === 'set' ? heldSet(store) : (meta[key] as () => unknown).bind(meta),
          }),
      );
      const got = collector();
      await n.stream.subscribe({ name: 'durable', types: '*', from: 'stored', handle: got.handle });
      const first = await n.bus.publish(killed(1));
      await until(() => writes.length === 1, 'the first cursor write begun');
      const rest: AuditReceipt[] = [];
      for (let i = 2; i < 6; i++) rest.push(await n.bus.publish(killed(i)));
      await until(() => got.got.length === 5, 'every event delivered while the write is held');
      assert.equal(writes.length, 1, 'one write in flight at a time');
      release();
      await until(
        async () => Number(await n.store.meta.get('events.cursor.durable')) === rest.at(-1)!.seq + 1,
        'the newest cursor stored once the write is let go',
      );
      assert.ok(Number(writes[0]) > first.seq);
      assert.ok(writes.length <= 3, `the writes held back were coalesced (${writes.length})`);
    });
  });
}

conformance(
  'sqlite',
  async (dir) => {
    const file = join(dir.dir, 'r.db');
    const store = openSqliteStore({ file });
    return { store, again: async () => openSqliteStore({ file }), cleanup: async () => undefined };
  },
  false,
);

conformance(
  'postgres',
  async () => {
    const schema = newSchema();
    const store = await openPostgresStore(pgConfig(schema));
    return {
      store,
      again: () => openPostgresStore(pgConfig(schema)),
      cleanup: () => dropSchema(schema),
    };
  },
  skipPg,
);

describe('event contract: replicas sharing PostgreSQL', { skip: skipPg }, () => {
  it('every replica delivers every replica’s events, in the one order of the log', async () => {
    const schema = newSchema();
    const dirs = [tempDir(), tempDir()];
    const stores = [await openPostgresStore(pgConfig(schema)), await openPostgresStore(pgConfig(schema))];
    const nodes = [
      await node(stores[0]!, join(dirs[0]!.dir, 'd')),
      await node(stores[1]!, join(dirs[1]!.dir, 'd')),
    ];
    try {
      const seen = [collector(), collector()];
      for (const [i, n] of nodes.entries())
        await n.stream.subscribe({ name: 'all', types: '*', handle: seen[i]!.handle });
      const rs = await Promise.all(
        Array.from({ length: 200 }, (_, i) => nodes[i % 2]!.bus.publish(killed(i, `replica-${i % 2}`))),
      );
      const want = rs.map((r) => r.seq).sort((a, b) => a - b);
      for (const [i, s] of seen.entries()) {
        await until(() => s.got.length === 200, `replica ${i} has all 200`, 10_000);
        assert.deepEqual(
          s.got.map((e) => e.seq),
          want,
          `replica ${i}: every event, in the log's order`,
        );
      }
      assert.ok(seen[0]!.got.some((e) => (e.event.data as { by: string }).by === 'replica-1'));
    } finally {
      for (const n of nodes) await n.close();
      for (const s of stores) await s.close();
      await dropSchema(schema);
      for (const d of dirs) d.cleanup();
    }
  });
});

// One conformance suite, run against every Store implementation: what one engine does, the other
// must do the same way.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CompactRange, leafHash } from '../../src/audit/merkle.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { AuditBatch, AuditHead, Store } from '../../src/store/types.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { dropSchema, newSchema, pgConfig, skipPg } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

function batchOf(head: AuditHead, entries: string[]): AuditBatch {
  const range = new CompactRange(head.size, head.frontier);
  const nodes: { level: number; index: number; hash: Buffer }[] = [];
  const records = entries.map((entry, i) => {
    range.append(leafHash(entry), (level, index, hash) => nodes.push({ level, index, hash }));
    return { seq: head.size + i, entry };
  });
  return { records, nodes, head: { size: range.size, frontier: range.frontier } };
}

function conformance(
  name: string,
  open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>,
  skip: string | false,
): void {
  describe(`store conformance: ${name}`, { skip }, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await open());
    });
    after(async () => {
      await store.close();
      await cleanup();
    });

    it('applies every migration once', async () => {
      assert.deepEqual(
        await store.migrations(),
        MIGRATIONS.map((m) => m.version),
      );
      await store.ping();
    });

    it('starts with an empty audit head', async () => {
      const head = await store.audit.head();
      assert.equal(head.size, 0);
      assert.deepEqual(head.frontier, []);
      assert.equal(await store.audit.latestCheckpoint(), undefined);
    });

    it('appends records, nodes and head atomically and reads them back in order', async () => {
      const head = await store.audit.append((h) => batchOf(h, ['a', 'b', 'c']));
      assert.equal(head.size, 3);
      const head2 = await store.audit.append((h) => batchOf(h, ['d', 'e']));
      assert.equal(head2.size, 5);
      const rows = await store.audit.records(0, 100);
      assert.deepEqual(
        rows.map((r) => [r.seq, r.entry]),
        [
          [0, 'a'],
          [1, 'b'],
          [2, 'c'],
          [3, 'd'],
          [4, 'e'],
        ],
      );
      assert.deepEqual(
        (await store.audit.records(3, 1)).map((r) => r.seq),
        [3],
      );
      const stored = await store.audit.head();
      assert.equal(stored.size, 5);
      const expected = new CompactRange();
      for (const e of ['a', 'b', 'c', 'd', 'e']) expected.append(leafHash(e));
      assert.ok(new CompactRange(stored.size, stored.frontier).root().equals(expected.root()));
      const leaves = await store.audit.leaves(0, 10);
      assert.deepEqual(
        leaves.map((l) => l.index),
        [0, 1, 2, 3, 4],
      );
      assert.ok(leaves[2]!.hash.equals(leafHash('c')));
      const [n20, n11, missing] = await store.audit.nodes([
        { level: 2, index: 0 },
        { level: 1, index: 1 },
        { level: 3, index: 0 },
      ]);
      assert.ok(n20 && n11);
      assert.equal(missing, undefined);
    });

    it('rolls the whole batch back when build throws', async () => {
      const before = await store.audit.head();
      await assert.rejects(
        store.audit.append(() => {
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal((await store.audit.head()).size, before.size);
      assert.equal((await store.audit.records(before.size, 10)).length, 0);
    });

    it('rejects a batch that reuses a sequence number and keeps the log unchanged', async () => {
      const before = await store.audit.head();
      await assert.rejects(
        store.audit.append((h) => ({ ...batchOf(h, ['x']), records: [{ seq: 0, entry: 'dup' }] })),
      );
      assert.equal((await store.audit.head()).size, before.size);
      assert.equal((await store.audit.records(0, 1))[0]!.entry, 'a');
    });

    it('serializes concurrent appenders into one contiguous history', async () => {
      const start = (await store.audit.head()).size;
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.audit.append((h) => batchOf(h, [`c${i}a`, `c${i}b`]))),
      );
      const rows = await store.audit.records(start, 1000);
      assert.equal(rows.length, 40);
      rows.forEach((r, i) => assert.equal(r.seq, start + i));
      // Each appender's two records are adjacent: batches never interleave.
      for (let i = 0; i < rows.length; i += 2)
        assert.equal(rows[i]!.entry.slice(0, -1), rows[i + 1]!.entry.slice(0, -1));
    });

    it('adds checkpoints in order and lets build decline', async () => {
      const first = await store.audit.addCheckpoint((latest, head) => {
        assert.equal(latest, undefined);
        return { size: head.size, note: 'one' };
      });
      assert.ok(first);
      const none = await store.audit.addCheckpoint(() => undefined);
      assert.equal(none, undefined);
      const second = await store.audit.addCheckpoint((latest) => {
        assert.equal(latest?.note, 'one');
        return { size: latest?.size ?? 0, note: 'two' };
      });
      assert.ok(second && second.id > first.id);
      assert.deepEqual(
        (await store.audit.checkpoints()).map((c) => c.note),
        ['one', 'two'],
      );
      assert.equal((await store.audit.latestCheckpoint())?.note, 'two');
    });

    it('keeps meta values and setIfAbsent never overwrites', async () => {
      assert.equal(await store.meta.get('k'), undefined);
      assert.equal(await store.meta.setIfAbsent('k', 'v1'), 'v1');
      assert.equal(await store.meta.setIfAbsent('k', 'v2'), 'v1');
      await store.meta.set('k', 'v3');
      assert.equal(await store.meta.get('k'), 'v3');
    });
  });
}

conformance(
  'sqlite',
  async () => {
    const t = tempDir();
    return { store: openSqliteStore({ file: join(t.dir, 'r.db') }), cleanup: async () => t.cleanup() };
  },
  false,
);

conformance(
  'postgres',
  async () => {
    const schema = newSchema();
    return { store: await openPostgresStore(pgConfig(schema)), cleanup: () => dropSchema(schema) };
  },
  skipPg,
);

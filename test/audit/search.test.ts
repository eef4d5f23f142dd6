// Record search, newest first (GET /v1/audit/search): the store reads the log a window at a time
// from the end, so a run's records are found in a long log without shipping it; `limit`,
// `before` and the scan bound page through the rest and say where to go on.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { openTestLog, type TestLog } from '../support/audit.js';
import { tempDir } from '../support/tmp.js';

describe('audit record search, newest first', () => {
  const t = tempDir();
  let store: Store;
  let tl: TestLog;
  before(async () => {
    store = openSqliteStore({ file: join(t.dir, 's.db') });
    tl = await openTestLog(store, t.dir);
    // 25,000 records, every 1,000th about run "r-needle" (across three 10,000-record windows).
    const all = Array.from({ length: 25_000 }, (_, i) =>
      tl.log.record({
        actor: 'admin',
        action: 'test.search',
        target: i % 1000 === 7 ? 'run:r-needle' : `run:r-${i}`,
        outcome: 'success',
        details: { run: i % 1000 === 7 ? 'r-needle' : `r-${i}` },
      }),
    );
    await Promise.all(all);
  });
  after(async () => {
    await tl.log.close();
    await store.close();
    t.cleanup();
  });

  it('finds every match, newest first, across windows', async () => {
    const r = await tl.log.searchNewest(['"r-needle"'], 100);
    assert.deepEqual(
      r.records.map((x) => x.seq),
      Array.from({ length: 25 }, (_, k) => 24_007 - k * 1000),
    );
    assert.equal(r.next, undefined);
  });

  it('pages with limit and before, and stops at the scan bound saying where', async () => {
    const first = await tl.log.searchNewest(['"r-needle"'], 3);
    assert.deepEqual(
      first.records.map((x) => x.seq),
      [24_007, 23_007, 22_007],
    );
    assert.equal(first.next, 22_007);
    const second = await tl.log.searchNewest(['"r-needle"'], 3, first.next);
    assert.deepEqual(
      second.records.map((x) => x.seq),
      [21_007, 20_007, 19_007],
    );
    const bounded = await tl.log.searchNewest(['"r-needle"'], 100, undefined, 5_000);
    assert.deepEqual(
      bounded.records.map((x) => x.seq),
      [24_007, 23_007, 22_007, 21_007, 20_007],
    );
    assert.equal(bounded.next, 20_000);
    // Literal and case-sensitive: no match is no match.
    assert.deepEqual((await tl.log.searchNewest(['"R-NEEDLE"'], 10)).records, []);
  });
});

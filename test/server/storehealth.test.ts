// The store's health check compares this replica's clock with PostgreSQL's: the same clock is ok,
// one off by more than identity.clock_skew is failing with the offset said, and the embedded
// store (no other clock) is only pinged.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { storeHealth } from '../../src/server/health.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { dropSchema, newSchema, pgConfig, skipPg } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

describe('store health: the clock against PostgreSQL', { skip: skipPg }, () => {
  const schema = newSchema();
  let store: Store;
  before(async () => {
    store = await openPostgresStore(pgConfig(schema));
  });
  after(async () => {
    await store.close();
    await dropSchema(schema);
  });

  it('is ok when the clocks agree', async () => {
    assert.deepEqual(await storeHealth(store, 30_000), { status: 'ok', detail: 'postgres' });
  });

  it('is failing, saying by how much, when this replica is ahead or behind', async () => {
    // The database's clock as another machine would see it: the same server, read 5 minutes off.
    for (const [offset, word] of [
      [-300_000, 'ahead of'],
      [300_000, 'behind'],
    ] as const) {
      const shifted = {
        driver: store.driver,
        ping: () => store.ping(),
        clock: async () => (await store.clock!()) + offset,
      };
      const h = await storeHealth(shifted, 30_000);
      assert.equal(h.status, 'failing');
      assert.match(
        h.detail ?? '',
        new RegExp(`clock is 300\\.\\d s ${word} the store's \\(tolerance identity\\.clock_skew, 30 s\\)`),
      );
    }
  });
});

describe('store health: the embedded store', () => {
  it('has no clock to compare with: pinged only', async () => {
    const dir = tempDir();
    const store = openSqliteStore({ file: `${dir.dir}/r.db` });
    try {
      assert.equal('clock' in store, false);
      assert.deepEqual(await storeHealth(store, 30_000), { status: 'ok', detail: 'sqlite' });
    } finally {
      await store.close();
      dir.cleanup();
    }
  });
});

// A flood of refused requests cannot fill the disk: the first refusal per source and reason is
// on record at once, the rest are counted into one record per window, and a source that keeps
// at it is answered 429 without being authenticated. Measured against a real `rampart up`.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import { RefusalLog, type RefusalSummary } from '../../src/server/refusals.js';
import { rampart, startServer, type Server } from '../support/cli.js';
import { tempDir, type TempDir } from '../support/tmp.js';
import { eventually } from '../support/wait.js';

describe('refused requests on record, within a bound', () => {
  let dir: TempDir;
  let server: Server;
  before(async () => {
    dir = tempDir();
    writeFileSync(join(dir.dir, 'rampart.yaml'), 'auth:\n  refusal_window: 1s\n  refusals_per_source: 50\n');
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
  });
  after(async () => {
    await server?.stop();
    dir?.cleanup();
  });

  const records = (): { action: string; details: { data: Record<string, unknown> } }[] => {
    const r = rampart(['audit', 'tail', '-n', '100000'], { cwd: dir.dir });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; details: { data: Record<string, unknown> } });
  };

  it('100,000 requests with a bad token add a bounded number of records', async () => {
    const before = records().length;
    const pool = new Pool(server.url, { connections: 32, pipelining: 4 });
    const statuses = new Map<number, number>();
    let sent = 0;
    const TOTAL = 100_000;
    await Promise.all(
      Array.from({ length: 128 }, async () => {
        while (sent < TOTAL) {
          sent++;
          const res = await pool.request({
            path: '/v1/health',
            method: 'GET',
            headers: { authorization: 'Bearer not-a-real-token-0123456789' },
          });
          await res.body.dump();
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        }
      }),
    );
    await pool.close();
    assert.equal((statuses.get(401) ?? 0) + (statuses.get(429) ?? 0), TOTAL, JSON.stringify([...statuses]));
    assert.ok((statuses.get(429) ?? 0) > TOTAL * 0.9, `throttled ${statuses.get(429)} of ${TOTAL}`);
    // The last window's summary reaches the log when the window ends: wait until every refusal
    // is counted in some record (the count cannot overshoot, so this is the end state).
    const added = await eventually(
      async () => {
        const got = records()
          .slice(before)
          .filter((r) => r.action === 'event.auth.rejected');
        return got.reduce((n, r) => n + Number(r.details.data['count'] ?? 1), 0) >= TOTAL ? got : undefined;
      },
      'every refusal counted in a record',
      15_000,
    );
    // One record at once, then one summary per window of about a second: far fewer than 100,000.
    assert.ok(added.length >= 2 && added.length <= 200, `${added.length} records for ${TOTAL} refusals`);
    const counted = added.reduce((n, r) => n + Number(r.details.data['count'] ?? 1), 0);
    assert.equal(counted, TOTAL, 'every refusal is counted in a record');
  });
});

describe('RefusalLog', () => {
  it('records the first refusal per source and reason, counts the rest, throttles past the limit', () => {
    const summaries: RefusalSummary[] = [];
    const log = new RefusalLog({ windowMs: 60_000, perSource: 3, onSummary: (s) => summaries.push(s) });
    try {
      assert.equal(log.refuse('10.0.0.1', 'expired'), 'record');
      assert.equal(log.refuse('10.0.0.1', 'expired'), 'count');
      assert.equal(log.refuse('10.0.0.1', 'bad_signature'), 'record');
      assert.equal(log.refuse('10.0.0.2', 'expired'), 'record');
      assert.equal(log.throttled('10.0.0.1'), true);
      assert.equal(log.throttled('10.0.0.2'), false);
      log.flush();
      assert.deepEqual(
        summaries.map((s) => [s.source, s.reason, s.count, s.throttled]),
        [
          ['10.0.0.1', 'expired', 1, 0],
          ['10.0.0.1', 'throttled', 1, 1],
        ],
      );
      // A new window starts clean.
      assert.equal(log.throttled('10.0.0.1'), false);
      assert.equal(log.refuse('10.0.0.1', 'expired'), 'record');
    } finally {
      log.stop();
    }
  });

  it('keeps at most a bounded number of sources; the rest share one overflow key', () => {
    const summaries: RefusalSummary[] = [];
    const log = new RefusalLog({
      windowMs: 60_000,
      perSource: 1_000_000,
      onSummary: (s) => summaries.push(s),
    });
    try {
      let recorded = 0;
      for (let i = 0; i < 50_000; i++)
        if (log.refuse(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 'x') === 'record') recorded++;
      log.flush();
      assert.ok(recorded <= 10_001, `${recorded} recorded`);
      const overflow = summaries.find((s) => s.overflow);
      assert.equal(overflow?.count, 50_000 - recorded);
    } finally {
      log.stop();
    }
  });
});

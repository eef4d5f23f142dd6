// Durability: a record acknowledged to a caller survives kill -9 of the writer mid-stream, and the
// log verifies after a restart.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { verifyLog } from '../../src/audit/verify.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { openTestLog } from '../support/audit.js';
import { dropSchema, newSchema, pgConfig, skipPg } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

const WRITER = fileURLToPath(new URL('../support/audit-writer.js', import.meta.url));

/** Runs the writer until it has acknowledged `acks` records, then kills it with SIGKILL. */
function runAndKill(driver: string, dir: string, schema: string, acks: number): Promise<Map<number, string>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, driver, dir, schema], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const acked = new Map<number, string>();
    let buf = '';
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^ack (\d+) (\S+)$/.exec(line);
        if (m) acked.set(Number(m[1]), m[2]!);
        if (!killed && acked.size >= acks) {
          killed = true;
          child.kill('SIGKILL'); // mid-stream: dozens of records are in flight right now
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) =>
      signal === 'SIGKILL' ? resolve(acked) : reject(new Error(`writer exited on its own (${signal})`)),
    );
  });
}

async function checkSurvivors(store: Store, dir: string, acked: Map<number, string>): Promise<void> {
  for (const [seq, actor] of acked) {
    const [row] = await store.audit.records(seq, 1);
    assert.ok(row && row.seq === seq, `acknowledged record ${seq} is gone`);
    assert.equal((JSON.parse(row.entry) as { actor: string }).actor, actor, `record ${seq} changed`);
  }
  // Restart: the log opens on the crashed state, checkpoints it, and it verifies end to end.
  const tl = await openTestLog(store, dir);
  await tl.log.record({ actor: 'after-restart', action: 'crash.test', target: 't', outcome: 'success' });
  await tl.log.close();
  const report = await verifyLog({ store, verifiers: tl.verifiers, origin: tl.origin });
  assert.equal(report.ok, true, JSON.stringify(report.problems));
  assert.ok(report.records > acked.size - 1);
  assert.equal(report.unsignedTail, 0);
}

describe('audit durability under kill -9', () => {
  it('sqlite: every acknowledged record survives and the log verifies', async () => {
    const t = tempDir();
    try {
      for (let round = 0; round < 3; round++) {
        const acked = await runAndKill('sqlite', t.dir, '', 3000 * (round + 1));
        const store = openSqliteStore({ file: join(t.dir, 'r.db') });
        try {
          await checkSurvivors(store, t.dir, acked);
        } finally {
          await store.close();
        }
      }
    } finally {
      t.cleanup();
    }
  });

  it('postgres: every acknowledged record survives and the log verifies', { skip: skipPg }, async () => {
    const t = tempDir();
    const schema = newSchema();
    try {
      const acked = await runAndKill('postgres', t.dir, schema, 3000);
      const store = await openPostgresStore(pgConfig(schema));
      try {
        await checkSurvivors(store, t.dir, acked);
      } finally {
        await store.close();
      }
    } finally {
      await dropSchema(schema);
      t.cleanup();
    }
  });
});

// The attack from the security review, end to end: with the control plane stopped, someone with
// the database edits a record, recomputes its leaf hash, every stored node and the head, and
// deletes every checkpoint. `rampart audit verify` fails on the witness the data directory kept
// outside the database, and `rampart up` refuses to sign a checkpoint over the rewrite (so it
// does not start) instead of blessing it.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { CompactRange, leafHash, nodeHash } from '../../src/core/merkle.js';
import { rampart, startServer } from '../support/cli.js';
import { adminToken, api } from '../support/http.js';
import { tempDir } from '../support/tmp.js';

describe('the witness outside the database', () => {
  const dir = tempDir();
  after(() => dir.cleanup());

  it('catches a rewrite of the database that deleted every checkpoint, in verify and at start', async () => {
    const server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
    const admin = api(server.url, adminToken(dir.dir));
    for (let i = 0; i < 20; i++) await admin('POST', '/v1/tokens', { agent: `a${i}`, namespace: 'ci' });
    await server.stop();
    assert.equal(rampart(['audit', 'verify'], { cwd: dir.dir }).code, 0);

    const db = new Database(join(dir.dir, '.rampart', 'rampart.db'));
    try {
      const target = db
        .prepare('SELECT seq, entry FROM audit_records WHERE entry LIKE \'%"a7"%\' LIMIT 1')
        .get() as {
        seq: number;
        entry: string;
      };
      db.prepare('UPDATE audit_records SET entry = ? WHERE seq = ?').run(
        target.entry.replaceAll('"a7"', '"a8"'),
        target.seq,
      );
      const rows = db.prepare('SELECT entry FROM audit_records ORDER BY seq').all() as { entry: string }[];
      let level = rows.map((r) => leafHash(r.entry));
      const range = new CompactRange();
      for (const l of level) range.append(l);
      db.prepare('DELETE FROM audit_nodes').run();
      const put = db.prepare('INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)');
      for (let l = 0; level.length > 0; l++) {
        level.forEach((h, i) => put.run(l, i, h));
        const next = [];
        for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash(level[i]!, level[i + 1]!));
        level = next;
      }
      db.prepare('UPDATE audit_head SET size = ?, frontier = ? WHERE id = 1').run(
        rows.length,
        Buffer.concat(range.frontier),
      );
      db.prepare('DELETE FROM audit_checkpoints').run();
    } finally {
      db.close();
    }

    const v = rampart(['audit', 'verify'], { cwd: dir.dir });
    assert.equal(v.code, 1, v.stdout);
    assert.match(v.stdout, /TAMPERED/);
    assert.match(v.stdout, /rewritten|edited/);

    await assert.rejects(
      startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir }),
      /RAMPART_E_AUDIT_TAMPERED: the log's first \d+ records no longer match its witness/,
    );
  });
});

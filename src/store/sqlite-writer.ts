// The SQLite audit writer thread. Appends are durable (fsync) and better-sqlite3 is synchronous,
// so committing on the main thread would stop every request for the length of each fsync. Here
// the commit runs on its own connection in a worker thread; the main thread keeps serving and
// queues the next group commit meanwhile.

import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { buildBatch } from './batch.js';
import { packFrontier, unpackFrontier } from './migrations.js';
import type { PreparedEntry } from './types.js';

interface Request {
  readonly id: number;
  readonly entries: readonly PreparedEntry[];
}

const db = new Database((workerData as { file: string }).file);
db.pragma('busy_timeout = 10000');
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
const headStmt = db.prepare('SELECT size, frontier FROM audit_head WHERE id = 1');
const setHead = db.prepare('UPDATE audit_head SET size = ?, frontier = ? WHERE id = 1');
const insRecord = db.prepare('INSERT INTO audit_records (seq, entry) VALUES (?, ?)');
const insNode = db.prepare('INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)');

const append = db.transaction((entries: readonly PreparedEntry[]) => {
  const row = headStmt.get() as { size: number; frontier: Buffer };
  const batch = buildBatch({ size: row.size, frontier: unpackFrontier(row.frontier) }, entries);
  for (const r of batch.records) insRecord.run(r.seq, r.entry);
  for (const n of batch.nodes) insNode.run(n.level, n.index, n.hash);
  setHead.run(batch.head.size, packFrontier(batch.head.frontier));
  return { first: row.size, size: batch.head.size, frontier: batch.head.frontier };
});

parentPort!.on('message', (req: Request | 'close') => {
  if (req === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  try {
    parentPort!.postMessage({ id: req.id, ok: append.immediate(req.entries) });
  } catch (e) {
    parentPort!.postMessage({ id: req.id, error: e instanceof Error ? e.message : String(e) });
  }
});

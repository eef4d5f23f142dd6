// The SQLite writer thread. Writes that must be durable (fsync) run here, on their own connection:
// better-sqlite3 is synchronous, so committing on the main thread would stop every request, and
// every detection on its way to a containment, for the length of each fsync. The main thread keeps
// serving and queues the next writes meanwhile.
//
// Group commit: every request that arrived while the last commit ran goes into the next one
// transaction (one fsync), each in its own savepoint, so a request that fails is rolled back and
// answered alone while the others commit. Audit appends, checkpoints and meta writes share the
// commit: a subscriber's cursor costs no fsync of its own, and never holds the write lock against
// an append.

import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { buildBatch } from './batch.js';
import { packFrontier, unpackFrontier } from './migrations.js';
import type { WriterReply, WriterRequest } from './sqlite-writer-client.js';
import type { PreparedEntry } from './types.js';

const db = new Database((workerData as { file: string }).file);
db.pragma('busy_timeout = 10000');
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
const headStmt = db.prepare('SELECT size, frontier FROM audit_head WHERE id = 1');
const setHead = db.prepare('UPDATE audit_head SET size = ?, frontier = ? WHERE id = 1');
const insRecord = db.prepare('INSERT INTO audit_records (seq, entry) VALUES (?, ?)');
const insNode = db.prepare('INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)');
const setMeta = db.prepare(
  'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
);
const deleteMeta = db.prepare('DELETE FROM meta WHERE key = ?');
const latestCp = db.prepare('SELECT coalesce(max(id), 0) AS id FROM audit_checkpoints');
const insCp = db.prepare('INSERT INTO audit_checkpoints (size, note) VALUES (?, ?)');

const append = (entries: readonly PreparedEntry[]) => {
  const row = headStmt.get() as { size: number; frontier: Buffer };
  const batch = buildBatch({ size: row.size, frontier: unpackFrontier(row.frontier) }, entries);
  for (const r of batch.records) insRecord.run(r.seq, r.entry);
  for (const n of batch.nodes) insNode.run(n.level, n.index, n.hash);
  setHead.run(batch.head.size, packFrontier(batch.head.frontier));
  return { first: row.size, size: batch.head.size, frontier: batch.head.frontier };
};

/** One request in its own savepoint (a transaction function called inside a transaction). */
const one = db.transaction((req: WriterRequest): WriterReply['ok'] => {
  switch (req.kind) {
    case 'append':
      return append(req.entries);
    case 'meta-set':
      setMeta.run(req.key, req.value);
      return true;
    case 'meta-delete':
      return deleteMeta.run(req.key).changes > 0;
    case 'checkpoint':
      if ((latestCp.get() as { id: number }).id !== req.after) return false;
      return Number(insCp.run(req.size, req.note).lastInsertRowid);
  }
});

const group = db.transaction((reqs: readonly WriterRequest[]): WriterReply[] =>
  reqs.map((req) => {
    try {
      return { id: req.id, ok: one(req) };
    } catch (e) {
      return { id: req.id, error: e instanceof Error ? e.message : String(e) };
    }
  }),
);

let queue: WriterRequest[] = [];
let closing = false;

function commit(): void {
  const reqs = queue;
  queue = [];
  let replies: WriterReply[];
  try {
    replies = group.immediate(reqs);
  } catch (e) {
    // The commit itself failed (disk full, I/O): nothing of the group is durable.
    const error = e instanceof Error ? e.message : String(e);
    replies = reqs.map((r) => ({ id: r.id, error }));
  }
  for (const r of replies) parentPort!.postMessage(r);
  if (closing) {
    db.close();
    parentPort!.close();
  }
}

parentPort!.on('message', (req: WriterRequest | 'close') => {
  if (req === 'close') {
    closing = true;
    if (queue.length === 0) commit();
    return;
  }
  // Messages that are already waiting are delivered before the immediate runs: they join.
  if (queue.push(req) === 1) setImmediate(commit);
});

// Turning prepared entries into the rows of one append: sequence numbers from the locked head,
// leaf hashes, every Merkle node the new leaves complete, and the new head. Shared by every store
// implementation (and the SQLite writer thread), so all of them build the same tree.

import { CompactRange, leafHash } from '../core/merkle.js';
import type { AuditBatch, AuditHead, PreparedEntry, TreeNode } from './types.js';

export function buildBatch(head: AuditHead, entries: readonly PreparedEntry[]): AuditBatch {
  const range = new CompactRange(head.size, head.frontier);
  const nodes: TreeNode[] = [];
  const records = entries.map((e, i) => {
    const seq = head.size + i;
    const entry = e.before + String(seq) + e.after;
    range.append(leafHash(entry), (level, index, hash) => nodes.push({ level, index, hash }));
    return { seq, entry };
  });
  return { records, nodes, head: { size: range.size, frontier: range.frontier } };
}

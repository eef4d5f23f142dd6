// Offline proof handling: building every inclusion proof of a prefix of the log in memory (for
// export), and checking a proof document with nothing but a verifier key.

import { RampartError } from '../core/errors.js';
import { openCheckpoint, type NoteVerifier } from './checkpoint.js';
import {
  HASH_SIZE,
  decompose,
  foldRange,
  inclusionRanges,
  leafHash,
  verifyInclusion,
} from '../core/merkle.js';

/**
 * All complete nodes of a tree of `size` leaves, one flat buffer per level (32 bytes per node):
 * about 64 MB for a million records, instead of two million Buffer objects.
 */
export class MemoryTree {
  private readonly levels: Buffer[] = [];

  constructor(leaves: Buffer) {
    if (leaves.length % HASH_SIZE !== 0) throw new TypeError('MemoryTree: leaves must be 32-byte hashes');
    this.levels.push(leaves);
    let cur = leaves;
    while (cur.length / HASH_SIZE >= 2) {
      const n = Math.floor(cur.length / HASH_SIZE / 2);
      const next = Buffer.allocUnsafe(n * HASH_SIZE);
      for (let i = 0; i < n; i++) {
        nodeInto(cur, 2 * i, next, i);
      }
      this.levels.push(next);
      cur = next;
    }
  }

  get size(): number {
    return this.levels[0]!.length / HASH_SIZE;
  }

  node(level: number, index: number): Buffer {
    const l = this.levels[level];
    if (!l || (index + 1) * HASH_SIZE > l.length) throw new RangeError(`no node ${level}/${index}`);
    return l.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE);
  }

  inclusion(index: number, size = this.size): Buffer[] {
    return inclusionRanges(index, size).map(([a, b]) =>
      foldRange(decompose(a, b).map((r) => this.node(r.level, r.index))),
    );
  }
}

function nodeInto(src: Buffer, left: number, dst: Buffer, at: number): void {
  const l = src.subarray(left * HASH_SIZE, (left + 1) * HASH_SIZE);
  const r = src.subarray((left + 1) * HASH_SIZE, (left + 2) * HASH_SIZE);
  foldRange([l, r]).copy(dst, at * HASH_SIZE);
}

export interface ProofDocument {
  readonly seq: number;
  readonly treeSize: number;
  readonly leafHash: string;
  readonly proof: readonly string[];
  readonly checkpoint: string;
  /** The record itself, when the document carries it (export lines do). */
  readonly entry?: string;
}

export interface ProofCheck {
  readonly seq: number;
  readonly treeSize: number;
  readonly signedBy: string;
  readonly time: string;
}

/** Checks a proof document: record → leaf hash → proof → root → signed checkpoint. */
export function checkProofDocument(doc: ProofDocument, verifiers: readonly NoteVerifier[]): ProofCheck {
  const bad = (why: string): RampartError => new RampartError('RAMPART_E_AUDIT_TAMPERED', why);
  if (typeof doc.seq !== 'number' || typeof doc.leafHash !== 'string' || !Array.isArray(doc.proof)) {
    throw new RampartError(
      'RAMPART_E_BAD_REQUEST',
      'not a proof document: needs seq, leafHash, proof and checkpoint',
    );
  }
  const cp = openCheckpoint(doc.checkpoint, verifiers);
  if (cp.size !== doc.treeSize)
    throw bad(`the proof is for tree size ${doc.treeSize} but the checkpoint is for ${cp.size}`);
  const leaf = Buffer.from(doc.leafHash, 'hex');
  if (doc.entry !== undefined && !leafHash(doc.entry).equals(leaf))
    throw bad(`record ${doc.seq} does not hash to its leaf hash`);
  const items: readonly unknown[] = doc.proof;
  const proof = items.map((p) => {
    if (typeof p !== 'string' || !/^[0-9a-f]{64}$/i.test(p))
      throw bad(`record ${doc.seq}: a proof hash is not 64 hex digits`);
    return Buffer.from(p, 'hex');
  });
  if (!verifyInclusion(doc.seq, cp.size, leaf, proof, cp.root)) {
    throw bad(`record ${doc.seq} is not included in the signed tree of size ${cp.size}`);
  }
  return { seq: doc.seq, treeSize: cp.size, signedBy: cp.signedBy, time: cp.time };
}

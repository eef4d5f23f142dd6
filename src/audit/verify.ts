// Full verification of an audit log against its signed checkpoints.
//
// Fast path: stream every record once, hash it into a compact range, and compare the root at each
// checkpoint's size; a million records is one pass of about two million SHA-256 calls. Only when
// something does not match does the slow path run: it compares each record in the failing
// stretch with its stored leaf hash and its own embedded sequence number to name the first bad
// record and say what happened to it (edited, deleted, inserted, reordered, truncated).
//
// What it cannot do: if an attacker rewrote records *and* every stored hash consistently, the
// stretch between two checkpoints is the finest it can localize; and a rollback of records and
// checkpoints together is only caught against a checkpoint kept elsewhere (--checkpoint).

import type { Store } from '../store/types.js';
import {
  certifiedVerifiers,
  noteDigest,
  noteSigners,
  openCheckpoint,
  type NoteVerifier,
  type VerifiedCheckpoint,
} from './checkpoint.js';
import type { CertVerifier } from '../core/installation.js';
import { messageOf } from '../core/errors.js';
import { CompactRange, leafHash } from '../core/merkle.js';

export type ProblemKind =
  | 'edited'
  | 'deleted'
  | 'inserted'
  | 'reordered'
  | 'truncated'
  | 'rewritten'
  | 'head-mismatch'
  | 'checkpoint-signature'
  | 'checkpoint-unknown-signer'
  | 'checkpoint-missing'
  | 'unsigned-tail'
  | 'witness'
  | 'checkpoint-chain'
  | 'checkpoint-replayed'
  | 'checkpoint-origin';

export interface VerifyProblem {
  readonly kind: ProblemKind;
  readonly seq?: number;
  readonly checkpoint?: number;
  readonly message: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly records: number;
  readonly checkpoints: number;
  /** Records covered by the latest valid checkpoint. */
  readonly verifiedSize: number;
  readonly latest: { readonly size: number; readonly time: string; readonly signedBy: string } | undefined;
  /** Records after the latest valid checkpoint: consistent with their stored hashes but not yet signed. */
  readonly unsignedTail: number;
  readonly firstBadSeq: number | undefined;
  readonly problems: readonly VerifyProblem[];
}

export interface VerifyOptions {
  readonly store: Store;
  /** Called as records are read: how many, of how many (for a progress display). */
  readonly onProgress?: (done: number, total: number) => void;
  readonly verifiers: readonly NoteVerifier[];
  /** The installation's origin line; checkpoints naming another log are rejected. */
  readonly origin?: string | undefined;
  /** A checkpoint kept outside the store (by a witness): the log must contain it. */
  readonly externalCheckpoint?: string | undefined;
  /**
   * Checkpoints kept outside the store, each with where it came from: the data directory's own
   * witness file, another replica's, a previous export. The log must contain every one.
   */
  readonly witnesses?: readonly { readonly from: string; readonly note: string }[];
  /**
   * How often the writer checkpoints (audit.checkpoint_every, max_batch, checkpoint_interval):
   * more records than that after the last checkpoint means checkpoints were deleted.
   */
  readonly bounds?: {
    readonly checkpointEvery: number;
    readonly maxBatch: number;
    readonly intervalMs: number;
  };
  /**
   * The installation's public key: other replicas' checkpoint keys published in the store are
   * trusted when it certified them (and only then).
   */
  readonly installation?: CertVerifier | undefined;
  readonly batchSize?: number;
}

export async function verifyLog(opts: VerifyOptions): Promise<VerifyReport> {
  const { store } = opts;
  const batch = opts.batchSize ?? 20000;
  const problems: VerifyProblem[] = [];

  // 1. Checkpoints: signatures, chain, monotonic sizes.
  const certified = opts.installation
    ? await certifiedVerifiers(store, opts.installation)
    : { trusted: [], refused: [] };
  const verifiers = [...opts.verifiers, ...certified.trusted];
  const rows = await store.audit.checkpoints();
  const valid: (VerifiedCheckpoint & { id: number })[] = [];
  let prevNote: string | undefined;
  let maxSize = 0;
  const seenNotes = new Set<string>();
  for (const row of rows) {
    let cp: VerifiedCheckpoint | undefined;
    try {
      cp = openCheckpoint(row.note, verifiers);
    } catch (e) {
      problems.push(signatureProblem(row.id, row.note, verifiers, certified.refused, messageOf(e)));
    }
    if (cp) {
      const wantPrev = prevNote === undefined ? undefined : noteDigest(prevNote);
      const chained =
        wantPrev === undefined ? cp.prev === undefined : cp.prev !== undefined && cp.prev.equals(wantPrev);
      if (seenNotes.has(row.note) || cp.size < maxSize) {
        problems.push({
          kind: 'checkpoint-replayed',
          checkpoint: row.id,
          message: `checkpoint #${row.id} (size ${cp.size}) repeats or goes back from an earlier checkpoint (size ${maxSize})`,
        });
      } else if (!chained) {
        problems.push({
          kind: 'checkpoint-chain',
          checkpoint: row.id,
          message: `checkpoint #${row.id} does not follow the checkpoint before it: a checkpoint was deleted, inserted or replaced`,
        });
      } else if (opts.origin !== undefined && cp.origin !== opts.origin) {
        problems.push({
          kind: 'checkpoint-origin',
          checkpoint: row.id,
          message: `checkpoint #${row.id} belongs to log "${cp.origin}", not "${opts.origin}"`,
        });
      } else if (row.size !== cp.size) {
        problems.push({
          kind: 'checkpoint-chain',
          checkpoint: row.id,
          message: `checkpoint #${row.id} is stored with size ${row.size} but its signed size is ${cp.size}`,
        });
      } else {
        valid.push({ ...cp, id: row.id });
        maxSize = Math.max(maxSize, cp.size);
      }
    }
    seenNotes.add(row.note);
    prevNote = row.note;
  }
  const witnesses = [
    ...(opts.externalCheckpoint === undefined
      ? []
      : [{ from: '--checkpoint', note: opts.externalCheckpoint }]),
    ...(opts.witnesses ?? []),
  ];
  for (const w of witnesses) {
    try {
      const ext = openCheckpoint(w.note, verifiers);
      if (opts.origin !== undefined && ext.origin !== opts.origin) {
        problems.push({
          kind: 'witness',
          message: `the witness ${w.from} is of log "${ext.origin}", not this one`,
        });
        continue;
      }
      valid.push({ ...ext, id: 0 });
      maxSize = Math.max(maxSize, ext.size);
    } catch (e) {
      problems.push({
        kind: 'witness',
        message: `the witness ${w.from} is not a valid checkpoint: ${messageOf(e)}`,
      });
    }
  }
  const targets = [...valid].sort((a, b) => a.size - b.size);

  // 2. Records: one pass, comparing roots at every checkpoint size.
  const range = new CompactRange();
  let ti = 0;
  let lastGood = 0;
  let mismatch: { from: number; to: number; id: number } | undefined;
  let gapAt: number | undefined;
  const compare = (): void => {
    while (ti < targets.length && targets[ti]!.size === range.size) {
      const t = targets[ti]!;
      if (!range.root().equals(t.root)) {
        mismatch ??= { from: lastGood, to: t.size, id: t.id };
      } else if (!mismatch) {
        lastGood = t.size;
      }
      ti++;
    }
  };
  compare();
  let expected = 0;
  /** The newest record of a checkpoint taken on request: a checkpoint must cover it. */
  let lastRequested = -1;
  /** Times of the first record after the newest valid checkpoint, and of the last record. */
  let tailFirst: string | undefined;
  let lastEntry: string | undefined;
  const total = (await store.audit.head()).size;
  outer: for (;;) {
    opts.onProgress?.(expected, total);
    const rs = await store.audit.records(expected, batch);
    if (rs.length === 0) break;
    for (const r of rs) {
      if (r.seq !== expected) {
        gapAt = expected;
        break outer;
      }
      range.append(leafHash(r.entry));
      if (r.entry.startsWith('{"action":"audit.checkpoint",') && r.entry.includes('"outcome":"success"'))
        lastRequested = r.seq;
      if (r.seq === maxSize) tailFirst = r.entry;
      lastEntry = r.entry;
      expected++;
      if (ti < targets.length && targets[ti]!.size === range.size) compare();
    }
  }
  const count = expected;

  // Checkpoints the log says were taken must be there: a record of a requested checkpoint is
  // written before it is signed, so a valid checkpoint covers it.
  if (gapAt === undefined && lastRequested >= maxSize)
    problems.push({
      kind: 'checkpoint-missing',
      seq: lastRequested,
      message: `record ${lastRequested} says a checkpoint was taken after it, but no valid checkpoint covers it: checkpoints were deleted`,
    });
  // A writer checkpoints every checkpoint_every records and every checkpoint_interval (and at
  // start-up and shutdown): a longer unsigned stretch means its checkpoints were deleted.
  if (gapAt === undefined && opts.bounds && count > maxSize) {
    const b = opts.bounds;
    const tail = count - maxSize;
    // Each replica counts its own records towards checkpoint_every: allow for every signer seen.
    const writers = Math.max(1, new Set(valid.map((v) => v.signedBy)).size);
    const span = tailFirst && lastEntry ? timeOf(lastEntry) - timeOf(tailFirst) : 0;
    if (tail > writers * (b.checkpointEvery + b.maxBatch) + b.maxBatch)
      problems.push({
        kind: 'unsigned-tail',
        seq: maxSize,
        message: `${tail} records follow the last valid checkpoint (${maxSize === 0 ? 'there is none' : `size ${maxSize}`}), more than audit.checkpoint_every (${b.checkpointEvery}) allows: checkpoints were deleted`,
      });
    else if (span > 2 * b.intervalMs + 60_000)
      problems.push({
        kind: 'unsigned-tail',
        seq: maxSize,
        message: `records after the last valid checkpoint span ${Math.round(span / 1000)} s, longer than audit.checkpoint_interval (${Math.round(b.intervalMs / 1000)} s) allows: checkpoints were deleted`,
      });
  }

  if (gapAt !== undefined) {
    problems.push({
      kind: 'deleted',
      seq: gapAt,
      message: `record ${gapAt} is missing: the sequence jumps past it`,
    });
  } else if (maxSize > count) {
    problems.push({
      kind: 'truncated',
      seq: count,
      message: `the log ends at record ${count - 1} but a signed checkpoint covers ${maxSize} records: it was truncated`,
    });
  }

  if (mismatch) {
    const found = await localize(store, mismatch.from, Math.min(mismatch.to, count), batch);
    problems.push(
      found ?? {
        kind: 'rewritten',
        seq: mismatch.from,
        message:
          `records ${mismatch.from}..${mismatch.to - 1} do not match signed checkpoint ` +
          `#${mismatch.id}; they were rewritten together with their stored hashes`,
      },
    );
  }

  // 3. The unsigned tail: not covered by a signature, but naive edits still show against stored hashes.
  if (gapAt === undefined && count > maxSize) {
    const found = await localize(store, maxSize, count, batch);
    if (found) problems.push(found);
  }

  // 4. The head the writer appends from must agree with the records, or the next append forks.
  if (gapAt === undefined) {
    const head = await store.audit.head();
    const headRoot = new CompactRange(head.size, head.frontier).root();
    if (head.size !== count || !headRoot.equals(range.root())) {
      problems.push({
        kind: 'head-mismatch',
        seq: Math.min(head.size, count),
        message: `the stored tree head (size ${head.size}) does not match the ${count} records in the log`,
      });
    }
  }

  const latest = targets[targets.length - 1];
  const seqs = problems.map((p) => p.seq).filter((s): s is number => s !== undefined);
  return {
    ok: problems.length === 0,
    records: count,
    checkpoints: rows.length,
    verifiedSize: maxSize,
    latest: latest && { size: latest.size, time: latest.time, signedBy: latest.signedBy },
    unsignedTail: Math.max(0, count - maxSize),
    firstBadSeq: seqs.length > 0 ? Math.min(...seqs) : undefined,
    problems,
  };
}

/**
 * Why a checkpoint did not open. A signature by a key nobody vouches for is reported as exactly
 * that (it cannot be checked), not as tampering; a known key whose signature does not verify is
 * tampering.
 */
function signatureProblem(
  id: number,
  note: string,
  verifiers: readonly NoteVerifier[],
  refused: readonly string[],
  why: string,
): VerifyProblem {
  const signers = noteSigners(note);
  const known = signers.some((s) => verifiers.some((v) => v.name === s.name && v.keyHash.equals(s.keyHash)));
  if (signers.length > 0 && !known) {
    const names = signers.map((s) => s.name).join(', ');
    const badCert = signers.some((s) => refused.includes(s.name));
    return {
      kind: 'checkpoint-unknown-signer',
      checkpoint: id,
      message:
        `checkpoint #${id} is signed by ${names}, a key this installation does not vouch for` +
        (badCert
          ? ' (its certificate in the store does not verify with the installation key)'
          : ' (not certified in the store, not given with --key or audit.trusted_keys)') +
        ': it cannot be checked',
    };
  }
  return {
    kind: 'checkpoint-signature',
    checkpoint: id,
    message: `checkpoint #${id} is not validly signed: ${why}`,
  };
}

/**
 * Finds the first record in [from, to) whose content disagrees with its stored leaf hash or its
 * own sequence number, and classifies what happened to it.
 */
async function localize(
  store: Store,
  from: number,
  to: number,
  batch: number,
): Promise<VerifyProblem | undefined> {
  let at = from;
  while (at < to) {
    const n = Math.min(batch, to - at);
    const [records, leaves] = await Promise.all([store.audit.records(at, n + 1), store.audit.leaves(at, n)]);
    const stored = new Map(leaves.map((l) => [l.index, l.hash]));
    for (let i = 0; i < Math.min(n, records.length); i++) {
      const r = records[i]!;
      const own = embeddedSeq(r.entry);
      const hash = stored.get(r.seq);
      if (own === r.seq && hash !== undefined && leafHash(r.entry).equals(hash)) continue;
      const next = records[i + 1];
      const nextOwn = next ? embeddedSeq(next.entry) : undefined;
      if (own === r.seq + 1 && nextOwn === r.seq) {
        return { kind: 'reordered', seq: r.seq, message: `records ${r.seq} and ${r.seq + 1} were swapped` };
      }
      if (own !== undefined && own > r.seq) {
        return {
          kind: 'deleted',
          seq: r.seq,
          message: `record ${r.seq} was deleted and the records after it renumbered`,
        };
      }
      if (nextOwn === r.seq) {
        return {
          kind: 'inserted',
          seq: r.seq,
          message: `a record was inserted at ${r.seq}, before the original record ${r.seq}`,
        };
      }
      return { kind: 'edited', seq: r.seq, message: `record ${r.seq} was changed after it was written` };
    }
    at += n;
  }
  return undefined;
}

function timeOf(entry: string): number {
  try {
    const t = Date.parse((JSON.parse(entry) as { time?: string }).time ?? '');
    return Number.isNaN(t) ? 0 : t;
  } catch {
    return 0;
  }
}

function embeddedSeq(entry: string): number | undefined {
  try {
    const v = (JSON.parse(entry) as { seq?: unknown }).seq;
    return typeof v === 'number' ? v : undefined;
  } catch {
    return undefined;
  }
}

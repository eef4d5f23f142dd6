// The audit log: append-only records in a Merkle tree, with signed checkpoints.
//
// Appends are group-committed: records that arrive while a commit is in flight wait for the next
// one, and each caller's promise resolves only after its record's transaction is durable. A failed
// commit rejects every record in it with RAMPART_E_AUDIT_WRITE_FAILED, and callers must then not
// perform the action the record describes (the server answers 503), as Vault does.

import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { canonicalJson } from '../core/canonical.js';
import type { Clock } from '../core/clock.js';
import { RampartError, messageOf } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { readSecretFile, writeFileAtomic, writeSecretFile } from '../core/secretfile.js';
import type { AuditEntryInput, AuditReceipt, Auditor, ComponentHealth, Outcome } from '../core/types.js';
import type { AuditHead, PreparedEntry, Store } from '../store/types.js';
import {
  certifiedVerifiers,
  noteDigest,
  openCheckpoint,
  signCheckpoint,
  type NoteSigner,
  type NoteVerifier,
  type VerifiedCheckpoint,
} from './checkpoint.js';
import type { CertVerifier } from '../core/installation.js';
import {
  CompactRange,
  consistencyRanges,
  frontierNodes,
  inclusionRanges,
  resolveRanges,
  decompose,
  foldRange,
  type NodeRef,
} from '../core/merkle.js';

const OUTCOMES: readonly Outcome[] = ['success', 'denied', 'failure', 'error'];
/** Records larger than this keep a digest of their details instead of the details. */
const MAX_ENTRY_BYTES = 256 * 1024;

export interface AuditRecord {
  readonly seq: number;
  readonly time: string;
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  readonly outcome: Outcome;
  readonly details: Readonly<Record<string, unknown>>;
}

export interface AuditLogOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly signer: NoteSigner;
  /** Keys whose checkpoints this log accepts as its history (its own and configured ones). */
  readonly verifiers: readonly NoteVerifier[];
  /** Checks the certificates of other replicas' checkpoint keys published in the store. */
  readonly installation?: CertVerifier;
  readonly hmacKey: Buffer;
  readonly origin: string;
  readonly maxBatch: number;
  readonly checkpointEvery: number;
  readonly checkpointIntervalMs: number;
  /** Scrubs secrets from details before they are hashed and stored (the redaction component). */
  readonly sanitize?: (details: Readonly<Record<string, unknown>>) => Record<string, unknown>;
  /**
   * A file outside the store (in the data directory) that keeps the newest checkpoint this log
   * signed: a witness that someone who can rewrite the database cannot rewrite with it.
   */
  readonly witnessFile?: string;
}

interface Pending {
  readonly input: AuditEntryInput;
  readonly resolve: (r: AuditReceipt) => void;
  readonly reject: (e: Error) => void;
}

export interface AuditStats {
  appended: number;
  commits: number;
  failures: number;
  checkpoints: number;
  lastBatch: number;
}

export interface InclusionProof {
  readonly seq: number;
  readonly treeSize: number;
  readonly leafHash: string;
  readonly proof: readonly string[];
  readonly checkpoint: string;
}

export interface ConsistencyProof {
  readonly from: number;
  readonly to: number;
  readonly proof: readonly string[];
}

export class AuditLog implements Auditor {
  readonly stats: AuditStats = { appended: 0, commits: 0, failures: 0, checkpoints: 0, lastBatch: 0 };
  private queue: Pending[] = [];
  private flushing = false;
  private scheduled = false;
  private closed = false;
  private sinceCheckpoint = 0;
  private health_: ComponentHealth;
  private timer: NodeJS.Timeout | undefined;
  private checkpointing: Promise<unknown> = Promise.resolve();
  /** Other replicas' checkpoint keys, certified by the installation key (loaded when needed). */
  private certified: NoteVerifier[] = [];

  private constructor(private readonly opts: AuditLogOptions) {
    this.health_ = { status: 'ok', since: opts.clock.now() };
  }

  /** Opens the log and starts the periodic checkpoint timer. */
  static open(opts: AuditLogOptions): AuditLog {
    if (opts.maxBatch < 1) throw new TypeError('maxBatch must be at least 1');
    const log = new AuditLog(opts);
    log.timer = setInterval(() => {
      if (log.sinceCheckpoint > 0) log.backgroundCheckpoint();
    }, opts.checkpointIntervalMs);
    log.timer.unref();
    return log;
  }

  health(): ComponentHealth {
    return this.health_;
  }

  fingerprint(secret: string | Uint8Array): string {
    return 'hmac-sha256:' + createHmac('sha256', this.opts.hmacKey).update(secret).digest('hex');
  }

  record(input: AuditEntryInput): Promise<AuditReceipt> {
    if (this.closed) {
      return Promise.reject(
        new RampartError('RAMPART_E_SHUTTING_DOWN', 'the audit log is closed; the action was not performed'),
      );
    }
    validateInput(input);
    return new Promise<AuditReceipt>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a microtask: lets every request handler in this turn of the event loop
    // enqueue first, which is what makes group commit effective under load.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = true;
    const batch = this.queue.splice(0, this.opts.maxBatch);
    let receipts: AuditReceipt[] | undefined;
    let failure: Error | undefined;
    try {
      receipts = await this.commit(batch.map((p) => p.input));
    } catch (e) {
      failure = e instanceof Error ? e : new Error(String(e));
    }
    this.flushing = false;
    if (receipts) {
      this.stats.appended += receipts.length;
      this.stats.commits++;
      this.stats.lastBatch = receipts.length;
      this.sinceCheckpoint += receipts.length;
      if (this.health_.status !== 'ok') this.health_ = { status: 'ok', since: this.opts.clock.now() };
      batch.forEach((p, i) => p.resolve(receipts[i]!));
      if (this.sinceCheckpoint >= this.opts.checkpointEvery) this.backgroundCheckpoint();
    } else {
      this.stats.failures++;
      const err = new RampartError(
        'RAMPART_E_AUDIT_WRITE_FAILED',
        `audit records could not be written (${messageOf(failure)}); the actions they describe were not performed`,
        { cause: failure },
      );
      this.health_ = {
        status: 'failing',
        detail: `audit writes failing: ${messageOf(failure)}`,
        since: this.opts.clock.now(),
      };
      for (const p of batch) p.reject(err);
    }
    if (this.queue.length > 0) this.schedule();
  }

  private async commit(inputs: readonly AuditEntryInput[]): Promise<AuditReceipt[]> {
    const time = new Date(this.opts.clock.now()).toISOString();
    const prepared = inputs.map((input) => this.prepare(input, time));
    const { first } = await this.opts.store.audit.append(prepared);
    return prepared.map((_, i) => ({ seq: first + i, time }));
  }

  /**
   * The record as canonical JSON around its sequence number, which only the store knows: keys in
   * RFC 8785 order put "seq" between "outcome" and "target".
   */
  private prepare(input: AuditEntryInput, time: string): PreparedEntry {
    let details: Record<string, unknown> = input.details ? { ...input.details } : {};
    if (this.opts.sanitize) details = this.opts.sanitize(details);
    let detailsJson = canonicalJson(details);
    if (detailsJson.length > MAX_ENTRY_BYTES) {
      detailsJson = canonicalJson({
        truncated: true,
        bytes: detailsJson.length,
        keys: Object.keys(details).slice(0, 32),
      });
    }
    const J = JSON.stringify;
    return {
      before: `{"action":${J(input.action)},"actor":${J(input.actor)},"details":${detailsJson},"outcome":${J(input.outcome)},"seq":`,
      after: `,"target":${J(input.target)},"time":${J(time)}}`,
    };
  }

  /** Flushes everything queued so far. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.flushing || this.scheduled) {
      await new Promise((r) => setImmediate(r));
    }
  }

  private backgroundCheckpoint(): void {
    this.checkpointing = this.checkpoint(false).catch((e: unknown) => {
      this.health_ = {
        status: 'degraded',
        detail: `checkpoint failed: ${messageOf(e)}`,
        since: this.opts.clock.now(),
      };
    });
  }

  /**
   * Writes a signed checkpoint of the current tree. With `force` false, nothing is written when
   * the latest checkpoint already covers every record.
   */
  async checkpoint(force = true): Promise<{ size: number; note: string }> {
    this.sinceCheckpoint = 0;
    await this.checkWitness();
    const time = new Date(this.opts.clock.now()).toISOString();
    const row = await this.opts.store.audit.addCheckpoint((latest, head) => {
      if (latest && latest.size > head.size) {
        throw new RampartError(
          'RAMPART_E_AUDIT_TAMPERED',
          `the latest checkpoint covers ${latest.size} records but the log has ${head.size}: it was truncated`,
        );
      }
      if (!force && latest && latest.size === head.size) return undefined;
      const range = new CompactRange(head.size, head.frontier);
      const note = signCheckpoint(
        {
          origin: this.opts.origin,
          size: head.size,
          root: range.root(),
          time,
          prev: latest ? noteDigest(latest.note) : undefined,
        },
        this.opts.signer,
      );
      return { size: head.size, note };
    });
    if (row) {
      this.stats.checkpoints++;
      if (this.opts.witnessFile) writeWitness(this.opts.witnessFile, row.note);
      return { size: row.size, note: row.note };
    }
    const latest = await this.opts.store.audit.latestCheckpoint();
    return { size: latest!.size, note: latest!.note };
  }

  /**
   * Before signing anything, the log must still contain the newest checkpoint this replica signed
   * (its witness file, outside the database): otherwise someone rewrote the database, and signing
   * now would bless the rewrite. Refuses with RAMPART_E_AUDIT_TAMPERED and fails health.
   */
  private async checkWitness(): Promise<void> {
    const file = this.opts.witnessFile;
    if (!file || !existsSync(file)) return;
    let witness: VerifiedCheckpoint;
    try {
      witness = await this.openNote(readFileSync(file, 'utf8'));
    } catch (e) {
      return this.tampered(
        `the witness file ${file} is not a checkpoint this log can verify: ${messageOf(e)}`,
      );
    }
    if (witness.origin !== this.opts.origin) return;
    const head = await this.opts.store.audit.head();
    if (head.size < witness.size)
      return this.tampered(
        `the log has ${head.size} records but its witness (${file}) signed ${witness.size}: it was truncated`,
      );
    const refs = frontierNodes(witness.size);
    const hashes = await this.opts.store.audit.nodes(refs);
    const root = hashes.every((h) => h !== undefined) && new CompactRange(witness.size, hashes).root();
    if (!root || !root.equals(witness.root))
      this.tampered(
        `the log's first ${witness.size} records no longer match its witness (${file}): the database was rewritten`,
      );
  }

  private tampered(why: string): never {
    this.health_ = {
      status: 'failing',
      detail: `${why}; no checkpoint is signed`,
      since: this.opts.clock.now(),
    };
    throw new RampartError('RAMPART_E_AUDIT_TAMPERED', `${why}; refusing to sign a checkpoint over it`);
  }

  /** Signs the records no checkpoint covers yet (a crash's unsigned tail); nothing when none. */
  async signPending(): Promise<void> {
    const [head, latest] = await Promise.all([
      this.opts.store.audit.head(),
      this.opts.store.audit.latestCheckpoint(),
    ]);
    if (head.size > (latest?.size ?? 0)) await this.checkpoint(false);
  }

  async head(): Promise<AuditHead> {
    return this.opts.store.audit.head();
  }

  /** Records with seq >= from, parsed. */
  async read(from: number, limit: number): Promise<AuditRecord[]> {
    const rows = await this.opts.store.audit.records(from, limit);
    return rows.map((r) => JSON.parse(r.entry) as AuditRecord);
  }

  /**
   * Newest first: records before `before` (default: the head) whose stored text contains one of
   * `needles` (literal, case-sensitive), at most `limit`. The store does the reading, a window at a
   * time from the end, and at most `maxScan` records are read per call: `next` says where to go on
   * (undefined when the log's start was reached).
   */
  async searchNewest(
    needles: readonly string[],
    limit: number,
    before?: number,
    maxScan = 5_000_000,
  ): Promise<{ records: AuditRecord[]; next: number | undefined }> {
    const WINDOW = 10_000;
    const head = await this.opts.store.audit.head();
    let end = Math.min(before ?? head.size, head.size);
    const stop = Math.max(0, end - maxScan);
    const records: AuditRecord[] = [];
    while (end > stop && records.length < limit) {
      const from = Math.max(stop, end - WINDOW);
      const rows = await this.opts.store.audit.search(from, end, needles, WINDOW);
      for (let i = rows.length - 1; i >= 0 && records.length < limit; i--)
        records.push(JSON.parse(rows[i]!.entry) as AuditRecord);
      end = records.length >= limit ? records[records.length - 1]!.seq : from;
    }
    return { records, next: end > 0 ? end : undefined };
  }

  /**
   * Inclusion proof for record `seq` against the latest checkpoint, writing a new checkpoint
   * first if the latest one does not cover the record yet.
   */
  async inclusionProof(seq: number): Promise<InclusionProof> {
    const head = await this.opts.store.audit.head();
    if (!Number.isSafeInteger(seq) || seq < 0 || seq >= head.size) {
      throw new RampartError(
        'RAMPART_E_AUDIT_PROOF_RANGE',
        `record ${seq} does not exist (the log has ${head.size} records)`,
      );
    }
    let cp = await this.opts.store.audit.latestCheckpoint();
    if (!cp || cp.size <= seq) cp = { id: 0, ...(await this.checkpoint(true)) };
    const opened = await this.openNote(cp.note);
    const [leaf] = await this.opts.store.audit.nodes([{ level: 0, index: seq }]);
    if (!leaf) throw new Error(`leaf hash for record ${seq} is missing`);
    const proof = await resolveRanges(inclusionRanges(seq, opened.size), (refs) =>
      this.opts.store.audit.nodes(refs),
    );
    return {
      seq,
      treeSize: opened.size,
      leafHash: leaf.toString('hex'),
      proof: proof.map((p) => p.toString('hex')),
      checkpoint: cp.note,
    };
  }

  /**
   * Inclusion proofs for many records against one checkpoint (signed first if the latest does not
   * cover them all), every tree node they need read in one query: how an incident's timeline of
   * thousands of records gets its proofs in one pass. Proofs of nearby records share most of
   * their nodes, so each node is read, and turned into hex, once. Seqs come back in the order
   * given.
   */
  async inclusionProofs(seqs: readonly number[]): Promise<{
    checkpoint: string;
    treeSize: number;
    proofs: { seq: number; leafHash: string; proof: string[] }[];
  }> {
    const head = await this.opts.store.audit.head();
    let max = -1;
    for (const seq of seqs) {
      if (!Number.isSafeInteger(seq) || seq < 0 || seq >= head.size)
        throw new RampartError(
          'RAMPART_E_AUDIT_PROOF_RANGE',
          `record ${seq} does not exist (the log has ${head.size} records)`,
        );
      if (seq > max) max = seq;
    }
    let cp = await this.opts.store.audit.latestCheckpoint();
    if (!cp || cp.size <= max) cp = { id: 0, ...(await this.checkpoint(true)) };
    const size = (await this.openNote(cp.note)).size;
    // Each node needed gets a slot; proofs refer to slots, so shared nodes are read
    // once. A map per level keyed by the index: a small integer, where level and index packed in
    // one number (past 2^31) was a boxed double to hash on every lookup.
    const slotOf: Map<number, number>[] = [];
    const refs: NodeRef[] = [];
    const want = (level: number, index: number): number => {
      const m = (slotOf[level] ??= new Map<number, number>());
      let slot = m.get(index);
      if (slot === undefined) {
        slot = refs.length;
        m.set(index, slot);
        refs.push({ level, index });
      }
      return slot;
    };
    // A range that is not one stored node lies on the tree's ragged right edge: [a, size). The
    // same few such ranges are in most proofs, so each is decomposed, and later hashed, once.
    const folds: { n: number; slots: number[]; hex?: string }[] = [];
    const foldAt = new Map<number, number>();
    const fold = (a: number, n: number): number => {
      let f = foldAt.get(a);
      if (f === undefined || folds[f]!.n !== n) {
        f = folds.length;
        folds.push({ n, slots: decompose(a, a + n).map((r) => want(r.level, r.index)) });
        foldAt.set(a, f);
      }
      return f;
    };
    // RFC 9162's PATH(m, D[n]) walked top-down without building ranges: each step is one stored
    // node, except on the tree's ragged right edge, where it folds several.
    const path: number[] = [];
    const plans = seqs.map((seq) => {
      path.length = 0;
      let m = seq;
      let start = 0;
      let end = size;
      while (end - start > 1) {
        const k = largestPowerOfTwoBelow(end - start);
        if (m < k) {
          path.push(start + k, end);
          end = start + k;
        } else {
          path.push(start, start + k);
          m -= k;
          start += k;
        }
      }
      // A step is a slot (>= 0) or, on the ragged edge, -1 - the fold it needs.
      const steps: number[] = [];
      for (let j = path.length - 2; j >= 0; j -= 2) {
        const a = path[j]!;
        const n = path[j + 1]! - a;
        steps.push(
          (n & (n - 1)) === 0 && n <= 2 ** 30 && a % n === 0
            ? want(31 - Math.clz32(n), a / n)
            : -1 - fold(a, n),
        );
      }
      return { leaf: want(0, seq), steps };
    });
    // As hex from the database: these go into the proofs as they are.
    const hex = await this.opts.store.audit.nodesHex(refs);
    for (let slot = 0; slot < refs.length; slot++)
      if (hex[slot] === undefined) {
        const r = refs[slot]!;
        throw new Error(`tree node ${r.level}/${r.index} is missing from the store`);
      }
    const proofs = plans.map((p, j) => ({
      seq: seqs[j]!,
      leafHash: hex[p.leaf]!,
      proof: p.steps.map((st) => {
        if (st >= 0) return hex[st]!;
        const f = folds[-1 - st]!;
        return (f.hex ??= foldRange(f.slots.map((slot) => Buffer.from(hex[slot]!, 'hex'))).toString('hex'));
      }),
    }));
    return { checkpoint: cp.note, treeSize: size, proofs };
  }

  /** Opens a checkpoint note: signed by this replica, a configured key, or a certified replica. */
  private async openNote(note: string): Promise<VerifiedCheckpoint> {
    try {
      return openCheckpoint(note, [...this.opts.verifiers, ...this.certified]);
    } catch (e) {
      // Signed by a replica this one has not heard of yet: reload the certified keys, once.
      if (!this.opts.installation) throw e;
      this.certified = (await certifiedVerifiers(this.opts.store, this.opts.installation)).trusted;
      return openCheckpoint(note, [...this.opts.verifiers, ...this.certified]);
    }
  }

  async consistencyProof(from: number, to: number): Promise<ConsistencyProof> {
    const head = await this.opts.store.audit.head();
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || from > to || to > head.size) {
      throw new RampartError(
        'RAMPART_E_AUDIT_PROOF_RANGE',
        `no consistency proof from size ${from} to ${to} (the log has ${head.size} records)`,
      );
    }
    const proof = await resolveRanges(consistencyRanges(from, to), (refs) =>
      this.opts.store.audit.nodes(refs),
    );
    return { from, to, proof: proof.map((p) => p.toString('hex')) };
  }

  /** Flushes queued records, writes a final checkpoint and stops. Idempotent. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    await this.checkpointing;
    await this.checkpoint(true);
  }
}

/** The largest power of two below n (n >= 2): where RFC 9162 splits a tree of n leaves. */
function largestPowerOfTwoBelow(n: number): number {
  if (n <= 2 ** 31) return 2 ** (31 - Math.clz32(n - 1));
  let k = 2 ** 31;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * Keeps the newest checkpoint in the witness file, never an older one over a newer: the file
 * only moves forward, whatever order replicas or restarts write in.
 */
function writeWitness(file: string, note: string): void {
  const size = (n: string): number => Number(n.split('\n')[1]);
  let old: string | undefined;
  try {
    old = readFileSync(file, 'utf8');
  } catch {
    old = undefined;
  }
  if (old !== undefined && size(old) > size(note)) return;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, note, 0o644);
}

function validateInput(e: AuditEntryInput): void {
  const str = (v: unknown, name: string): void => {
    if (typeof v !== 'string' || v.length === 0 || v.length > 512) {
      throw new TypeError(`audit entry ${name} must be a non-empty string of at most 512 characters`);
    }
  };
  str(e.actor, 'actor');
  str(e.action, 'action');
  str(e.target, 'target');
  if (!OUTCOMES.includes(e.outcome))
    throw new TypeError(`audit entry outcome must be one of ${OUTCOMES.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------

/** The per-installation key that fingerprints secrets in audit records (never the secret itself). */
export function loadOrCreateHmacKey(dataDir: string): Buffer {
  const file = join(dataDir, 'keys', 'audit-hmac.key');
  if (!existsSync(file)) {
    mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
    writeSecretFile(file, randomBytes(32).toString('base64') + '\n');
  }
  const key = Buffer.from(
    readSecretFile(file, { purpose: 'audit fingerprint key' }).toString('utf8').trim(),
    'base64',
  );
  if (key.length < 32)
    throw new RampartError('RAMPART_E_SECRET_FILE_UNREADABLE', `${file} does not hold a 32-byte key`);
  return key;
}

/** The installation id names the log in its checkpoints; replicas sharing a store share it. */
export async function installationId(store: Store): Promise<string> {
  return store.meta.setIfAbsent('installation_id', newId());
}

import assert from 'node:assert/strict';
import { keyPair } from '../support/keys.js';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCheckpoint, signCheckpoint, signerFromPrivateKey } from '../../src/audit/checkpoint.js';
import { leafHash, verifyConsistency, verifyInclusion } from '../../src/core/merkle.js';
import { checkProofDocument } from '../../src/audit/proofs.js';
import { verifyLog } from '../../src/audit/verify.js';
import { RampartError } from '../../src/core/errors.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { entry, openTestLog, type TestLog } from '../support/audit.js';
import { tempDir } from '../support/tmp.js';

describe('audit log', () => {
  const t = tempDir();
  let store: Store;
  let tl: TestLog;
  before(async () => {
    store = openSqliteStore({ file: join(t.dir, 'r.db') });
    tl = await openTestLog(store, t.dir);
  });
  after(async () => {
    await tl.log.close();
    await store.close();
    t.cleanup();
  });

  it('group-commits concurrent records into one contiguous sequence', async () => {
    const receipts = await Promise.all(Array.from({ length: 500 }, (_, i) => tl.log.record(entry(i))));
    assert.deepEqual(
      receipts.map((r) => r.seq),
      Array.from({ length: 500 }, (_, i) => i),
    );
    // 500 records arrived in one turn of the event loop: far fewer commits than records.
    assert.ok(tl.log.stats.commits < 20, `commits: ${tl.log.stats.commits}`);
    const rows = await tl.log.read(0, 1000);
    assert.equal(rows.length, 500);
    assert.equal(rows[42]!.actor, 'actor-42');
    assert.equal(rows[42]!.seq, 42);
    assert.ok(!Number.isNaN(Date.parse(rows[42]!.time)));
  });

  it('signs checkpoints that chain, and serves proofs that verify against them', async () => {
    const cp1 = await tl.log.checkpoint();
    const opened1 = openCheckpoint(cp1.note, tl.verifiers);
    assert.equal(opened1.size, 500);
    assert.equal(opened1.origin, tl.origin);
    await Promise.all(Array.from({ length: 37 }, (_, i) => tl.log.record(entry(500 + i))));
    const cp2 = await tl.log.checkpoint();
    const opened2 = openCheckpoint(cp2.note, tl.verifiers);
    assert.equal(opened2.size, 537);

    for (const seq of [0, 1, 255, 256, 499, 536]) {
      const p = await tl.log.inclusionProof(seq);
      assert.equal(p.treeSize, 537);
      const row = (await store.audit.records(seq, 1))[0]!;
      assert.equal(p.leafHash, leafHash(row.entry).toString('hex'));
      assert.ok(
        verifyInclusion(
          seq,
          537,
          Buffer.from(p.leafHash, 'hex'),
          p.proof.map((h) => Buffer.from(h, 'hex')),
          opened2.root,
        ),
      );
      assert.equal(checkProofDocument({ ...p, entry: row.entry }, tl.verifiers).seq, seq);
    }
    const c = await tl.log.consistencyProof(500, 537);
    assert.ok(
      verifyConsistency(
        500,
        537,
        c.proof.map((h) => Buffer.from(h, 'hex')),
        opened1.root,
        opened2.root,
      ),
    );
  });

  it('writes a checkpoint on demand when a proof is asked for an unsigned record', async () => {
    await tl.log.record(entry(9999));
    const p = await tl.log.inclusionProof(537);
    assert.equal(p.treeSize, 538);
  });

  it('proves many records at once exactly as one at a time, on a ragged tree, signing first when needed', async () => {
    // A log of its own: the size must be one the other cases do not change.
    const t = tempDir();
    const store = openSqliteStore({ file: join(t.dir, 'r.db') });
    const tl = await openTestLog(store, t.dir);
    try {
      await Promise.all(Array.from({ length: 613 }, (_, i) => tl.log.record(entry(i))));
      const size = (await store.audit.head()).size; // not a power of two: the right edge is ragged
      const seqs = [size - 1, 0, 1, 2, 3, 255, 256, 257, 511, 512, size - 2, size - 77, 300];
      const many = await tl.log.inclusionProofs(seqs);
      assert.equal(many.treeSize, size);
      assert.deepEqual(
        many.proofs.map((p) => p.seq),
        seqs,
      );
      for (const p of many.proofs) {
        const one = await tl.log.inclusionProof(p.seq);
        assert.equal(one.treeSize, size);
        assert.deepEqual(
          { leafHash: p.leafHash, proof: p.proof },
          { leafHash: one.leafHash, proof: one.proof },
        );
      }
      // Records at every depth of the left subtrees, checked against the checkpoint's root.
      for (const n of [1, 2, 3, 5, 8, 13, 100]) {
        const part = await tl.log.inclusionProofs([0, Math.floor(n / 2), n - 1]);
        for (const p of part.proofs)
          assert.ok(
            verifyInclusion(
              p.seq,
              part.treeSize,
              Buffer.from(p.leafHash, 'hex'),
              p.proof.map((h) => Buffer.from(h, 'hex')),
              openCheckpoint(part.checkpoint, tl.verifiers).root,
            ),
          );
      }
      await assert.rejects(
        tl.log.inclusionProofs([0, size + 5]),
        (e: unknown) => e instanceof RampartError && e.code === 'RAMPART_E_AUDIT_PROOF_RANGE',
      );
    } finally {
      await tl.log.close();
      await store.close();
      t.cleanup();
    }
  });

  it('refuses proofs outside the log with a coded error', async () => {
    await assert.rejects(
      tl.log.inclusionProof(10_000),
      (e: unknown) => e instanceof RampartError && e.code === 'RAMPART_E_AUDIT_PROOF_RANGE',
    );
    await assert.rejects(
      tl.log.consistencyProof(10, 5),
      (e: unknown) => e instanceof RampartError && e.code === 'RAMPART_E_AUDIT_PROOF_RANGE',
    );
  });

  it('a proof document fails when the record, the proof or the checkpoint is altered', async () => {
    const p = await tl.log.inclusionProof(3);
    const row = (await store.audit.records(3, 1))[0]!;
    assert.throws(
      () => checkProofDocument({ ...p, entry: row.entry.replace('actor-3', 'actor-X') }, tl.verifiers),
      /does not hash/,
    );
    const proof = [...p.proof];
    proof[0] = proof[0]!.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    assert.throws(() => checkProofDocument({ ...p, proof }, tl.verifiers), /not included/);
    assert.throws(
      () =>
        checkProofDocument({ ...p, checkpoint: p.checkpoint.replace(/\n\d+\n/, '\n999\n') }, tl.verifiers),
      /signature/,
    );
  });

  it('verifies clean', async () => {
    await tl.log.checkpoint();
    const report = await verifyLog({ store, verifiers: tl.verifiers, origin: tl.origin });
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    assert.equal(report.records, 538);
    assert.equal(report.unsignedTail, 0);
  });

  it('fingerprints secrets with the installation key and never stores the secret', async () => {
    const fp = tl.log.fingerprint('ghp_supersecret');
    assert.match(fp, /^hmac-sha256:[0-9a-f]{64}$/);
    assert.equal(fp, tl.log.fingerprint('ghp_supersecret'));
    assert.notEqual(fp, tl.log.fingerprint('ghp_supersecreT'));
  });

  it('rejects malformed entries as caller errors', () => {
    assert.throws(() => void tl.log.record({ ...entry(1), actor: '' }), TypeError);
    assert.throws(() => void tl.log.record({ ...entry(1), outcome: 'maybe' as 'success' }), TypeError);
  });
});

describe('audit log fails closed', () => {
  it('rejects every record of a failed commit with RAMPART_E_AUDIT_WRITE_FAILED and reports failing health', async () => {
    const t = tempDir();
    const store = openSqliteStore({ file: join(t.dir, 'r.db') });
    const tl = await openTestLog(store, t.dir);
    await tl.log.record(entry(0));
    await store.close(); // the database goes away under the log
    const results = await Promise.allSettled([tl.log.record(entry(1)), tl.log.record(entry(2))]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(r.reason instanceof RampartError && r.reason.code === 'RAMPART_E_AUDIT_WRITE_FAILED');
    }
    assert.equal(tl.log.health().status, 'failing');
    assert.equal(tl.log.stats.failures, 1);
    t.cleanup();
  });

  it('sanitizes details before they are hashed and stored', async () => {
    const t = tempDir();
    const store = openSqliteStore({ file: join(t.dir, 'r.db') });
    const tl = await openTestLog(store, t.dir, {
      sanitize: (d) =>
        JSON.parse(JSON.stringify(d).replaceAll('hunter2', '[REDACTED]')) as Record<string, unknown>,
    });
    await tl.log.record({ ...entry(0), details: { password: 'hunter2' } });
    const [row] = await store.audit.records(0, 1);
    assert.ok(!row!.entry.includes('hunter2'));
    assert.ok(row!.entry.includes('[REDACTED]'));
    await tl.log.close();
    await store.close();
    t.cleanup();
  });

  it('checkpoints of another key are not accepted as history', async () => {
    const t = tempDir();
    const store = openSqliteStore({ file: join(t.dir, 'r.db') });
    const tl = await openTestLog(store, t.dir);
    const other = signerFromPrivateKey('intruder', keyPair({ type: 'ed25519' }).privateKey);
    const forged = signCheckpoint(
      { origin: tl.origin, size: 0, root: Buffer.alloc(32), time: new Date().toISOString(), prev: undefined },
      other,
    );
    assert.throws(
      () => openCheckpoint(forged, tl.verifiers),
      (e: unknown) => e instanceof RampartError && e.code === 'RAMPART_E_AUDIT_CHECKPOINT_INVALID',
    );
    await tl.log.close();
    await store.close();
    t.cleanup();
  });
});

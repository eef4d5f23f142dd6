// Every kind of tampering, done the way an attacker with database access would do it (SQL on the
// tables), on both engines. Each case asserts that verification fails and names the right first
// bad sequence number.

import assert from 'node:assert/strict';
import { copyFileSync, cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { keyPair } from '../support/keys.js';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { canonicalJson } from '../../src/core/canonical.js';
import {
  loadTrustedVerifiers,
  noteDigest,
  signCheckpoint,
  signerFromPrivateKey,
  witnessPath,
} from '../../src/audit/checkpoint.js';
import { installationId } from '../../src/audit/log.js';
import { CompactRange, leafHash, nodeHash } from '../../src/core/merkle.js';
import { verifyLog, type VerifyOptions, type VerifyReport } from '../../src/audit/verify.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { entry, openTestLog } from '../support/audit.js';
import { dropSchema, newSchema, pgConfig, pgExec, skipPg } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

const RECORDS = 50;

interface Engine {
  name: string;
  skip: string | false;
  /** Creates a log of 50 records with checkpoints at 20, 40 and 50; returns a handle. */
  create(): Promise<Handle>;
}

interface Handle {
  exec(sql: string, params?: unknown[]): Promise<void>;
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
  verify(extra?: VerifyExtra): Promise<VerifyReport>;
  /** The data directory the log was written with (its witness file is there). */
  readonly dir: string;
  cleanup(): Promise<void>;
}

type VerifyExtra = Pick<VerifyOptions, 'externalCheckpoint' | 'witnesses' | 'bounds'> & {
  /** Leave out the data directory's own witness file. */
  noLocalWitness?: boolean;
};

async function populate(store: Store, dir: string): Promise<void> {
  const tl = await openTestLog(store, dir);
  for (let i = 0; i < RECORDS; i++) {
    await tl.log.record(entry(i));
    if (i === 19 || i === 39) await tl.log.checkpoint();
  }
  await tl.log.close(); // final checkpoint at 50
}

async function verifyWith(store: Store, dir: string, extra: VerifyExtra = {}): Promise<VerifyReport> {
  // The keys and origin the log was written with; no log is opened, so nothing is signed now.
  const verifiers = loadTrustedVerifiers(dir, []);
  const origin = `rampart.audit/${await installationId(store)}`;
  // As `rampart audit verify` does: the data directory's witness file is always a witness.
  const local =
    existsSync(witnessPath(dir)) && !extra.noLocalWitness
      ? [{ from: 'local witness', note: readFileSync(witnessPath(dir), 'utf8') }]
      : [];
  const { noLocalWitness: _n, ...options } = extra;
  return verifyLog({
    store,
    verifiers,
    origin,
    batchSize: 7,
    ...options,
    witnesses: [...local, ...(extra.witnesses ?? [])],
  });
}

/**
 * The rewrite an attacker with the database does to hide an edit: change a record, recompute its
 * leaf hash and every stored node and the head's frontier from the records, delete every
 * checkpoint. The database alone then agrees with itself.
 */
async function rewrite(h: Handle, seq: number): Promise<void> {
  const changed = (await entryOf(h, seq)).replace(/"actor":"actor-\d+"/, '"actor":"someone-else"');
  await h.exec('UPDATE audit_records SET entry = ? WHERE seq = ?', [changed, seq]);
  const rows = await h.query<{ seq: number; entry: string }>(
    'SELECT seq, entry FROM audit_records ORDER BY seq',
  );
  const leaves = rows.map((r) => leafHash(r.entry));
  const range = new CompactRange();
  for (const l of leaves) range.append(l);
  await h.exec('DELETE FROM audit_nodes');
  for (const n of allNodes(leaves))
    await h.exec('INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)', [n.level, n.index, n.hash]);
  await h.exec('UPDATE audit_head SET size = ?, frontier = ? WHERE id = 1', [
    rows.length,
    Buffer.concat(range.frontier),
  ]);
  await h.exec('DELETE FROM audit_checkpoints');
}

/** Every complete subtree hash of a tree with these leaves, as the store keeps them. */
function allNodes(leaves: readonly Buffer[]): { level: number; index: number; hash: Buffer }[] {
  const out: { level: number; index: number; hash: Buffer }[] = [];
  let level = [...leaves];
  for (let l = 0; level.length > 0; l++) {
    level.forEach((hash, index) => out.push({ level: l, index, hash }));
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash(level[i]!, level[i + 1]!));
    level = next;
  }
  return out;
}

const pgParams = (sql: string): string => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

const sqliteEngine = (() => {
  // Build the pristine log once; each case works on a copy of the data directory.
  let template: Promise<string> | undefined;
  const pristine = (): Promise<string> =>
    (template ??= (async () => {
      const t = tempDir('rampart-tamper-template-');
      // Shared by every case of this file: removed when the test process ends.
      process.once('exit', () => t.cleanup());
      const store = openSqliteStore({ file: join(t.dir, 'r.db') });
      await populate(store, t.dir);
      await store.close();
      return t.dir;
    })());
  return {
    name: 'sqlite',
    skip: false as const,
    async create(): Promise<Handle> {
      const src = await pristine();
      const t = tempDir();
      cpSync(src, t.dir, { recursive: true });
      copyFileSync(join(src, 'r.db'), join(t.dir, 'r.db'));
      const file = join(t.dir, 'r.db');
      const withDb = <T>(fn: (db: Database.Database) => T): T => {
        const db = new Database(file);
        try {
          return fn(db);
        } finally {
          db.close();
        }
      };
      return {
        exec: async (sql, params = []) => withDb((db) => void db.prepare(sql).run(...params)),
        query: async <T>(sql: string, params: unknown[] = []) =>
          withDb((db) => db.prepare(sql).all(...params) as T[]),
        verify: async (extra) => {
          const store = openSqliteStore({ file });
          try {
            return await verifyWith(store, t.dir, extra);
          } finally {
            await store.close();
          }
        },
        dir: t.dir,
        cleanup: async () => t.cleanup(),
      };
    },
  };
})();

const pgEngine: Engine = {
  name: 'postgres',
  skip: skipPg,
  async create(): Promise<Handle> {
    const t = tempDir();
    const schema = newSchema();
    const store = await openPostgresStore(pgConfig(schema));
    await populate(store, t.dir);
    await store.close();
    return {
      exec: async (sql, params = []) => void (await pgExec(schema, pgParams(sql), params)),
      query: async <T>(sql: string, params: unknown[] = []) =>
        (await pgExec(schema, pgParams(sql), params)).rows as T[],
      verify: async (extra) => {
        const s = await openPostgresStore(pgConfig(schema));
        try {
          return await verifyWith(s, t.dir, extra);
        } finally {
          await s.close();
        }
      },
      dir: t.dir,
      cleanup: async () => {
        await dropSchema(schema);
        t.cleanup();
      },
    };
  },
};

function expectBad(report: VerifyReport, kind: string, seq: number | undefined): void {
  assert.equal(report.ok, false, 'tampering must be detected');
  assert.ok(
    report.problems.some((p) => p.kind === kind),
    `expected a "${kind}" problem, got ${JSON.stringify(report.problems)}`,
  );
  if (seq !== undefined) assert.equal(report.firstBadSeq, seq, JSON.stringify(report.problems));
}

async function entryOf(h: Handle, seq: number): Promise<string> {
  return (await h.query<{ entry: string }>('SELECT entry FROM audit_records WHERE seq = ?', [seq]))[0]!.entry;
}

/** Moves records with seq >= from by delta, in an order no unique check trips over. */
async function shift(h: Handle, from: number, delta: number): Promise<void> {
  await h.exec('UPDATE audit_records SET seq = -seq - 1000 WHERE seq >= ?', [from]);
  await h.exec('UPDATE audit_records SET seq = -seq - 1000 + ? WHERE seq < 0', [delta]);
}

for (const engine of [sqliteEngine, pgEngine] as Engine[]) {
  describe(`audit tampering is detected: ${engine.name}`, { skip: engine.skip }, () => {
    const scenario = (title: string, fn: (h: Handle) => Promise<void>): void => {
      it(title, async () => {
        const h = await engine.create();
        try {
          await fn(h);
        } finally {
          await h.cleanup();
        }
      });
    };

    scenario('an untouched log verifies', async (h) => {
      const r = await h.verify();
      assert.equal(r.ok, true, JSON.stringify(r.problems));
      assert.equal(r.records, RECORDS);
      assert.equal(r.verifiedSize, RECORDS);
    });

    scenario('edit: one record changed in place', async (h) => {
      await h.exec("UPDATE audit_records SET entry = replace(entry, 'actor-7', 'actor-X') WHERE seq = 7");
      expectBad(await h.verify(), 'edited', 7);
    });

    scenario('edit with its stored leaf hash recomputed: caught by the signed root', async (h) => {
      const changed = (await entryOf(h, 27)).replace('actor-27', 'actor-Y');
      await h.exec('UPDATE audit_records SET entry = ? WHERE seq = 27', [changed]);
      await h.exec('UPDATE audit_nodes SET hash = ? WHERE level = 0 AND idx = 27', [leafHash(changed)]);
      const r = await h.verify();
      expectBad(r, 'rewritten', undefined);
      assert.ok(
        r.firstBadSeq !== undefined && r.firstBadSeq <= 27 && r.firstBadSeq >= 20,
        `range starts after the last good checkpoint: ${r.firstBadSeq}`,
      );
    });

    scenario('delete: a record removed, leaving a gap', async (h) => {
      await h.exec('DELETE FROM audit_records WHERE seq = 12');
      expectBad(await h.verify(), 'deleted', 12);
    });

    scenario('delete: a record removed and the rest renumbered', async (h) => {
      await h.exec('DELETE FROM audit_records WHERE seq = 12');
      await shift(h, 13, -1);
      expectBad(await h.verify(), 'deleted', 12);
    });

    scenario('insert: a forged record slipped in, the rest renumbered', async (h) => {
      await shift(h, 9, 1);
      const forged = canonicalJson({ ...entry(999), seq: 9, time: new Date().toISOString() });
      await h.exec('INSERT INTO audit_records (seq, entry) VALUES (?, ?)', [9, forged]);
      expectBad(await h.verify(), 'inserted', 9);
    });

    scenario('reorder: two records swapped', async (h) => {
      const a = await entryOf(h, 30);
      const b = await entryOf(h, 31);
      await h.exec('UPDATE audit_records SET entry = ? WHERE seq = 30', [b]);
      await h.exec('UPDATE audit_records SET entry = ? WHERE seq = 31', [a]);
      expectBad(await h.verify(), 'reordered', 30);
    });

    scenario('truncate: the newest records removed', async (h) => {
      await h.exec('DELETE FROM audit_records WHERE seq >= 45');
      expectBad(await h.verify(), 'truncated', 45);
    });

    scenario('forged checkpoint: signed by a key nobody trusts', async (h) => {
      const latest = (
        await h.query<{ note: string }>('SELECT note FROM audit_checkpoints ORDER BY id DESC LIMIT 1')
      )[0]!.note;
      const origin = latest.split('\n')[0]!;
      const intruder = signerFromPrivateKey(
        'rampart-audit-intruder',
        keyPair({ type: 'ed25519' }).privateKey,
      );
      const forged = signCheckpoint(
        {
          origin,
          size: 60,
          root: Buffer.alloc(32, 7),
          time: new Date().toISOString(),
          prev: noteDigest(latest),
        },
        intruder,
      );
      await h.exec('INSERT INTO audit_checkpoints (size, note) VALUES (?, ?)', [60, forged]);
      // Reported as what it is: a key nobody vouches for, not an edit of the log.
      expectBad(await h.verify(), 'checkpoint-unknown-signer', undefined);
    });

    scenario('altered checkpoint: its size changed after signing', async (h) => {
      await h.exec(
        "UPDATE audit_checkpoints SET note = replace(note, chr(10) || '40' || chr(10), chr(10) || '41' || chr(10)) WHERE size = 40".replaceAll(
          'chr(',
          engine.name === 'sqlite' ? 'char(' : 'chr(',
        ),
      );
      expectBad(await h.verify(), 'checkpoint-signature', undefined);
    });

    scenario('replayed checkpoint: an old signed checkpoint appended again as the newest', async (h) => {
      const first = (
        await h.query<{ note: string; size: number }>(
          'SELECT note, size FROM audit_checkpoints ORDER BY id LIMIT 1',
        )
      )[0]!;
      await h.exec('INSERT INTO audit_checkpoints (size, note) VALUES (?, ?)', [first.size, first.note]);
      expectBad(await h.verify(), 'checkpoint-replayed', undefined);
    });

    scenario('deleted checkpoint: the chain shows the gap', async (h) => {
      await h.exec('DELETE FROM audit_checkpoints WHERE size = 40');
      expectBad(await h.verify(), 'checkpoint-chain', undefined);
    });

    scenario('rewrite: an edit with every stored hash recomputed and every checkpoint deleted', async (h) => {
      // Caught by the witness the data directory keeps outside the database.
      await rewrite(h, 27);
      expectBad(await h.verify(), 'rewritten', undefined);
      // And with no witness at all: a log longer than checkpoint_every with no checkpoint.
      expectBad(
        await h.verify({
          noLocalWitness: true,
          bounds: { checkpointEvery: 10, maxBatch: 5, intervalMs: 10_000 },
        }),
        'unsigned-tail',
        0,
      );
    });

    scenario(
      'rewrite of the database and the local witness together: caught by a witness kept elsewhere',
      async (h) => {
        const elsewhere = readFileSync(witnessPath(h.dir), 'utf8');
        await rewrite(h, 27);
        // The attacker also owns the data directory: the local witness is gone (or re-signed).
        rmSync(witnessPath(h.dir));
        const alone = await h.verify();
        assert.equal(
          alone.ok,
          true,
          'with neither checkpoints nor witness, 50 records look like a fresh log',
        );
        expectBad(
          await h.verify({ witnesses: [{ from: 'an earlier export', note: elsewhere }] }),
          'rewritten',
          undefined,
        );
      },
    );

    scenario('a checkpoint the log says was taken is missing', async (h) => {
      // The record of a checkpoint taken on request (POST /v1/audit/checkpoints), as the API writes it.
      const seq = RECORDS;
      const rec = canonicalJson({
        action: 'audit.checkpoint',
        actor: 'admin',
        details: {},
        outcome: 'success',
        seq,
        target: 'audit',
        time: new Date().toISOString(),
      });
      await h.exec('INSERT INTO audit_records (seq, entry) VALUES (?, ?)', [seq, rec]);
      const all = await h.query<{ entry: string }>('SELECT entry FROM audit_records ORDER BY seq');
      const range = new CompactRange();
      for (const r of all) range.append(leafHash(r.entry));
      await h.exec('UPDATE audit_head SET size = ?, frontier = ? WHERE id = 1', [
        all.length,
        Buffer.concat(range.frontier),
      ]);
      await h.exec('INSERT INTO audit_nodes (level, idx, hash) VALUES (0, ?, ?)', [seq, leafHash(rec)]);
      expectBad(await h.verify(), 'checkpoint-missing', seq);
    });

    scenario(
      'rollback of records and checkpoints together is caught against a witness checkpoint',
      async (h) => {
        const witness = (
          await h.query<{ note: string }>('SELECT note FROM audit_checkpoints ORDER BY id DESC LIMIT 1')
        )[0]!.note;
        await h.exec('DELETE FROM audit_records WHERE seq >= 40');
        await h.exec('DELETE FROM audit_checkpoints WHERE size > 40');
        expectBad(await h.verify({ externalCheckpoint: witness }), 'truncated', 40);
      },
    );
  });
}

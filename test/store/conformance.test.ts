// One conformance suite, run against every Store implementation: what one engine does, the other
// must do the same way.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CompactRange, leafHash } from '../../src/core/merkle.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { PreparedEntry, Store, StoredLease } from '../../src/store/types.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import Database from 'better-sqlite3';
import { dropSchema, newSchema, pgConfig, pgExec, skipPg } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';
import { until } from '../support/wait.js';

/** Entries whose stored text is {"e":"<name>","seq":N}. */
const prep = (names: string[]): PreparedEntry[] =>
  names.map((n) => ({ before: `{"e":${JSON.stringify(n)},"seq":`, after: '}' }));
const nameOf = (entry: string): string => (JSON.parse(entry) as { e: string }).e;

type Opened = { store: Store; exec: (sql: string) => Promise<void>; cleanup: () => Promise<void> };

function conformance(name: string, open: () => Promise<Opened>, skip: string | false): void {
  describe(`store conformance: ${name}`, { skip }, () => {
    let store: Store;
    let exec: Opened['exec'];
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, exec, cleanup } = await open());
    });
    after(async () => {
      await store.close();
      await cleanup();
    });

    it('applies every migration once', async () => {
      assert.deepEqual(
        await store.migrations(),
        MIGRATIONS.map((m) => m.version),
      );
      await store.ping();
    });

    it('starts with an empty audit head', async () => {
      const head = await store.audit.head();
      assert.equal(head.size, 0);
      assert.deepEqual(head.frontier, []);
      assert.equal(await store.audit.latestCheckpoint(), undefined);
    });

    it('appends records, nodes and head atomically and reads them back in order', async () => {
      const one = await store.audit.append(prep(['a', 'b', 'c']));
      assert.equal(one.first, 0);
      assert.equal(one.head.size, 3);
      const two = await store.audit.append(prep(['d', 'e']));
      assert.equal(two.first, 3);
      assert.equal(two.head.size, 5);
      const rows = await store.audit.records(0, 100);
      assert.deepEqual(
        rows.map((r) => [r.seq, r.entry]),
        ['a', 'b', 'c', 'd', 'e'].map((n, i) => [i, `{"e":"${n}","seq":${i}}`]),
      );
      assert.deepEqual(
        (await store.audit.records(3, 1)).map((r) => r.seq),
        [3],
      );
      const stored = await store.audit.head();
      assert.equal(stored.size, 5);
      const expected = new CompactRange();
      for (const r of rows) expected.append(leafHash(r.entry));
      assert.ok(new CompactRange(stored.size, stored.frontier).root().equals(expected.root()));
      const leaves = await store.audit.leaves(0, 10);
      assert.deepEqual(
        leaves.map((l) => l.index),
        [0, 1, 2, 3, 4],
      );
      assert.ok(leaves[2]!.hash.equals(leafHash(rows[2]!.entry)));
      const [n20, n11, missing] = await store.audit.nodes([
        { level: 2, index: 0 },
        { level: 1, index: 1 },
        { level: 3, index: 0 },
      ]);
      assert.ok(n20 && n11);
      assert.equal(missing, undefined);
      // As hex, in the order asked, a missing node left out, for few keys and for many.
      const many = [
        { level: 3, index: 0 },
        ...Array.from({ length: 70 }, (_, i) => ({ level: i % 2, index: i % 2 === 0 ? i % 5 : i % 2 })),
        { level: 2, index: 0 },
      ];
      const bin = await store.audit.nodes(many);
      assert.deepEqual(
        await store.audit.nodesHex(many),
        Array.from(bin, (b) => b?.toString('hex')),
      );
      assert.deepEqual(await store.audit.nodesHex([{ level: 1, index: 1 }]), [n11.toString('hex')]);
      assert.deepEqual(await store.audit.nodesHex([]), []);
    });

    it('rolls the whole batch back when a write fails, and keeps the log usable', async () => {
      const before = await store.audit.head();
      // Someone put a row where the next record goes: the append must fail as a whole.
      await exec(`INSERT INTO audit_records (seq, entry) VALUES (${before.size + 1}, 'intruder')`);
      await assert.rejects(store.audit.append(prep(['x', 'y', 'z'])));
      assert.equal((await store.audit.head()).size, before.size);
      assert.equal((await store.audit.records(before.size, 10)).length, 1, 'only the intruder row is there');
      await exec(`DELETE FROM audit_records WHERE seq = ${before.size + 1}`);
      const after = await store.audit.append(prep(['ok']));
      assert.equal(after.first, before.size);
    });

    it('fails a write alone: the writes issued beside it still commit', async () => {
      // SQLite commits the writes of one moment together: one that fails must not take the others.
      const before = await store.audit.head();
      await exec(`INSERT INTO audit_records (seq, entry) VALUES (${before.size + 1}, 'intruder')`);
      const [bad, ...rest] = await Promise.allSettled([
        store.audit.append(prep(['x', 'y'])),
        ...Array.from({ length: 10 }, (_, i) => store.meta.set(`group.${i}`, String(i))),
        store.meta.delete('group.none'),
      ]);
      assert.equal(bad.status, 'rejected');
      assert.deepEqual(
        rest.map((r) => r.status),
        Array<string>(11).fill('fulfilled'),
      );
      assert.equal((rest[10] as PromiseFulfilledResult<boolean>).value, false);
      assert.equal((await store.meta.list('group.')).length, 10);
      assert.equal((await store.audit.head()).size, before.size);
      await exec(`DELETE FROM audit_records WHERE seq = ${before.size + 1}`);
    });

    it('serializes concurrent appenders into one contiguous history', async () => {
      const start = (await store.audit.head()).size;
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.audit.append(prep([`c${i}a`, `c${i}b`]))));
      const rows = await store.audit.records(start, 1000);
      assert.equal(rows.length, 40);
      rows.forEach((r, i) => assert.equal(r.seq, start + i));
      // Each appender's two records are adjacent: batches never interleave.
      for (let i = 0; i < rows.length; i += 2)
        assert.equal(nameOf(rows[i]!.entry).slice(0, -1), nameOf(rows[i + 1]!.entry).slice(0, -1));
    });

    it('searches records for literal substrings within a range of record numbers', async () => {
      const texts = [
        '{"run":"r-1"}',
        '{"run":"r-2"}',
        '{"a":"%_"}',
        '{"run":"r-1","x":1}',
        '{"agent":"r-1"}',
      ];
      const { first } = await store.audit.append(texts.map((t) => ({ before: t, after: '' })));
      const seqs = async (from: number, end: number, needles: string[], limit = 100) =>
        (await store.audit.search(first + from, first + end, needles, limit)).map((r) => r.seq - first);
      assert.deepEqual(await seqs(0, 5, ['"r-1"']), [0, 3, 4]);
      assert.deepEqual(await seqs(0, 5, ['"r-1"', '"r-2"']), [0, 1, 3, 4]);
      assert.deepEqual(await seqs(1, 4, ['"r-1"']), [3]);
      assert.deepEqual(await seqs(0, 5, ['"r-1"'], 2), [0, 3]);
      // Literal: no wildcard meaning for % or _.
      assert.deepEqual(await seqs(0, 5, ['%_']), [2]);
      assert.deepEqual(await seqs(0, 5, ['r_1']), []);
      assert.deepEqual(await seqs(0, 5, []), []);
      const rows = await store.audit.search(first, first + 1, ['"r-1"'], 10);
      // Stored as before + seq + after.
      assert.equal(rows[0]!.entry, `${texts[0]}${first}`);
    });

    it('adds checkpoints in order and lets build decline', async () => {
      const first = await store.audit.addCheckpoint((latest, head) => {
        assert.equal(latest, undefined);
        return { size: head.size, note: 'one' };
      });
      assert.ok(first);
      const none = await store.audit.addCheckpoint(() => undefined);
      assert.equal(none, undefined);
      const second = await store.audit.addCheckpoint((latest) => {
        assert.equal(latest?.note, 'one');
        return { size: latest?.size ?? 0, note: 'two' };
      });
      assert.ok(second && second.id > first.id);
      assert.deepEqual(
        (await store.audit.checkpoints()).map((c) => c.note),
        ['one', 'two'],
      );
      assert.equal((await store.audit.latestCheckpoint())?.note, 'two');
    });

    it('chains concurrent checkpoints: each is built on the one added before it', async () => {
      // A checkpoint names its predecessor: two built at once on the same latest would fork the
      // chain. Whatever the store does (a lock, or building again), each must see the other.
      const added = await Promise.all(
        ['a', 'b', 'c'].map((n) =>
          store.audit.addCheckpoint((latest, head) => ({
            size: head.size,
            note: `${n} after ${latest?.note}`,
          })),
        ),
      );
      assert.ok(added.every((c) => c !== undefined));
      const notes = (await store.audit.checkpoints()).map((c) => c.note).slice(-4);
      for (let i = 1; i < notes.length; i++) assert.match(notes[i]!, new RegExp(` after ${notes[i - 1]}$`));
    });

    it('stores entities with increasing versions, tombstones deletions and lists changes in order', async () => {
      const a = await store.entities.put({
        type: 'agent',
        id: 'a1',
        attributes: { tier: 'gold', n: 3 },
        parents: ['team:t1'],
      });
      const b = await store.entities.put({ type: 'team', id: 't1', attributes: {}, parents: [] });
      assert.ok(b.version > a.version);
      const a2 = await store.entities.put({
        type: 'agent',
        id: 'a1',
        attributes: { tier: 'silver' },
        parents: [],
      });
      assert.ok(a2.version > b.version);
      assert.deepEqual((await store.entities.get('agent', 'a1'))?.attributes, { tier: 'silver' });
      const gone = await store.entities.delete('team', 't1');
      assert.ok(gone?.deleted && gone.version > a2.version);
      assert.equal(await store.entities.delete('team', 't1'), undefined, 'deleting twice is a no-op');
      assert.equal((await store.entities.get('team', 't1'))?.deleted, true);
      const changes = await store.entities.changes(a.version, 100);
      assert.deepEqual(
        changes.map((c) => `${c.type}:${c.id}:${c.deleted}`),
        ['agent:a1:false', 'team:t1:true'],
      );
      assert.equal(await store.entities.get('agent', 'nope'), undefined);
    });

    it('delivers notifications to subscribers', async () => {
      const got: string[] = [];
      const off = store.notifications.subscribe('test', (p) => got.push(p));
      await (store.notifications as { ready?: () => Promise<void> }).ready?.();
      await store.notifications.publish('test', 'hello');
      await until(() => got.includes('hello'), 'the notification');
      off();
      assert.ok(got.includes('hello'));
    });

    it('keeps signing keys by kid and purges them once no token they signed can be valid', async () => {
      const k = (kid: string, verifyUntil: number) => ({
        kid,
        alg: 'ES256',
        jwk: `{"kty":"EC","kid":"${kid}"}`,
        createdAt: 1_000,
        signUntil: 2_000,
        verifyUntil,
        cert: `cert-of-${kid}`,
      });
      await store.identity.putKey(k('k1', 5_000));
      await store.identity.putKey(k('k2', 9_000));
      await store.identity.putKey({ ...k('k1', 6_000), signUntil: 1_500 });
      assert.equal((await store.identity.keys())[0]!.cert, 'cert-of-k1');
      assert.deepEqual(
        (await store.identity.keys()).map((x) => [x.kid, x.signUntil, x.verifyUntil]),
        [
          ['k1', 1_500, 6_000],
          ['k2', 2_000, 9_000],
        ],
      );
      assert.equal(await store.identity.purgeKeys(6_000), 1);
      assert.deepEqual(
        (await store.identity.keys()).map((x) => x.kid),
        ['k2'],
      );
    });

    it('stores revocations with increasing ids and lists only those still in force', async () => {
      const a = await store.identity.revoke({
        kind: 'jti',
        value: 'j1',
        revokedAt: 100,
        expiresAt: 1_000,
        reason: 'leaked',
      });
      const b = await store.identity.revoke({
        kind: 'all',
        value: '',
        revokedAt: 200,
        expiresAt: 2_000,
        reason: 'incident',
      });
      assert.ok(b.id > a.id);
      assert.deepEqual(a, {
        id: a.id,
        kind: 'jti',
        value: 'j1',
        revokedAt: 100,
        expiresAt: 1_000,
        reason: 'leaked',
      });
      assert.deepEqual(
        (await store.identity.revocations(500)).map((r) => r.kind),
        ['jti', 'all'],
      );
      assert.deepEqual(
        (await store.identity.revocations(1_000)).map((r) => r.kind),
        ['all'],
      );
      assert.equal(await store.identity.purgeRevocations(1_500), 1);
      assert.deepEqual(
        (await store.identity.revocations(0)).map((r) => r.id),
        [b.id],
      );
    });

    it('keeps meta values and setIfAbsent never overwrites', async () => {
      assert.equal(await store.meta.get('k'), undefined);
      assert.equal(await store.meta.setIfAbsent('k', 'v1'), 'v1');
      assert.equal(await store.meta.setIfAbsent('k', 'v2'), 'v1');
      await store.meta.set('k', 'v3');
      assert.equal(await store.meta.get('k'), 'v3');
    });

    it('compares and sets meta values: one writer of each version wins', async () => {
      assert.equal(await store.meta.compareAndSet('cas', undefined, 'a'), true);
      assert.equal(await store.meta.compareAndSet('cas', undefined, 'b'), false);
      assert.equal(await store.meta.compareAndSet('cas', 'x', 'b'), false);
      assert.equal(await store.meta.get('cas'), 'a');
      // Two writers read "a" at once: exactly one of them moves it on.
      const won = await Promise.all([
        store.meta.compareAndSet('cas', 'a', 'b'),
        store.meta.compareAndSet('cas', 'a', 'c'),
      ]);
      assert.deepEqual(
        won.filter((w) => w),
        [true],
      );
      assert.equal(await store.meta.get('cas'), won[0] ? 'b' : 'c');
    });

    it('lists meta keys by a literal prefix and deletes them', async () => {
      await store.meta.set('respond.block.a', '1');
      await store.meta.set('respond.block.b_c', '2');
      await store.meta.set('respond.blockx', '3');
      await store.meta.set('respond.block%', '4');
      assert.deepEqual(await store.meta.list('respond.block.'), [
        ['respond.block.a', '1'],
        ['respond.block.b_c', '2'],
      ]);
      // "%" and "_" in a prefix are literal.
      assert.deepEqual(await store.meta.list('respond.block%'), [['respond.block%', '4']]);
      assert.deepEqual(await store.meta.list('respond.block._'), []);
      assert.equal(await store.meta.delete('respond.block.a'), true);
      assert.equal(await store.meta.delete('respond.block.a'), false);
      assert.deepEqual(await store.meta.list('respond.block.'), [['respond.block.b_c', '2']]);
    });

    it('versions sealed secrets: each add the next version, latest by default, concurrent adds distinct', async () => {
      const add = (vault: string, name: string, tag: string): Promise<number> =>
        store.secrets.add(
          vault,
          name,
          (v) => ({ sealed: `${tag}@${v}`, fingerprint: `fp-${tag}` }),
          1_000,
          'admin',
        );
      assert.equal(await add('ci', 'gh', 'a'), 1);
      assert.equal(await add('ci', 'gh', 'b'), 2);
      assert.equal(await add('ci', 'aws', 'c'), 1);
      assert.equal(await add('prod', 'db', 'd'), 1);
      assert.deepEqual(await store.secrets.get('ci', 'gh'), {
        vault: 'ci',
        name: 'gh',
        version: 2,
        createdAt: 1_000,
        createdBy: 'admin',
        sealed: 'b@2',
        fingerprint: 'fp-b',
      });
      assert.equal((await store.secrets.get('ci', 'gh', 1))?.sealed, 'a@1');
      assert.equal(await store.secrets.get('ci', 'gh', 9), undefined);
      assert.deepEqual(
        (await store.secrets.versions('ci', 'gh')).map((x) => x.version),
        [2, 1],
      );
      assert.deepEqual(
        (await store.secrets.list()).map((x) => `${x.vault}/${x.name}@${x.version}`),
        ['ci/aws@1', 'ci/gh@2', 'prod/db@1'],
      );
      assert.deepEqual(
        (await store.secrets.list('prod')).map((x) => x.name),
        ['db'],
      );
      // Concurrent adds to one secret each get their own version.
      const many = await Promise.all(Array.from({ length: 8 }, (_, i) => add('ci', 'race', String(i))));
      assert.deepEqual(
        [...many].sort((a, b) => a - b),
        [1, 2, 3, 4, 5, 6, 7, 8],
      );
      assert.equal(await store.secrets.count(), 12);
      // Every version in order, a page at a time; a re-wrap is compare-and-set.
      const first = await store.secrets.page(undefined, 3);
      assert.deepEqual(
        first.map((x) => `${x.vault}/${x.name}@${x.version}`),
        ['ci/aws@1', 'ci/gh@1', 'ci/gh@2'],
      );
      const rest = await store.secrets.page({ vault: 'ci', name: 'gh', version: 2 }, 100);
      assert.equal(rest.length, 9);
      assert.equal(rest[rest.length - 1]!.vault, 'prod');
      assert.equal(await store.secrets.reseal('ci', 'gh', 1, 'a@1', 'A@1'), true);
      assert.equal(await store.secrets.reseal('ci', 'gh', 1, 'a@1', 'B@1'), false);
      assert.equal((await store.secrets.get('ci', 'gh', 1))?.sealed, 'A@1');
      assert.equal(await store.secrets.remove('ci', 'gh'), 2);
      assert.equal(await store.secrets.get('ci', 'gh'), undefined);
      assert.equal(await store.secrets.remove('ci', 'gh'), 0);
    });

    it('keeps leases: renews active ones, claims each once by selector, expiry and retry', async () => {
      const lease = (id: string, over: Partial<StoredLease> = {}): StoredLease => ({
        id,
        vault: 'ci',
        name: 'gh',
        engine: 'static',
        version: 1,
        agent: 'a1',
        run: 'r1',
        issuedAt: 100,
        expiresAt: 1_000,
        maxExpiresAt: 5_000,
        state: 'active',
        attempts: 0,
        nextAttemptAt: null,
        lastError: null,
        reason: null,
        handle: '{}',
        fingerprint: 'fp',
        ...over,
      });
      await store.leases.insert(lease('l1'));
      await store.leases.insert(lease('l2', { run: 'r2', issuedAt: 101 }));
      await store.leases.insert(lease('l3', { agent: 'a2', run: null, vault: 'prod', issuedAt: 102 }));
      await store.leases.insert(
        lease('l4', { expiresAt: 50, issuedAt: 103, engine: 'postgres', version: null }),
      );
      await store.leases.insert(lease('l5', { expiresAt: 60, issuedAt: 104 }));
      assert.deepEqual(
        await store.leases.get('l4'),
        lease('l4', { expiresAt: 50, issuedAt: 103, engine: 'postgres', version: null }),
      );
      assert.deepEqual(
        (await store.leases.list({}, 10)).map((l) => l.id),
        ['l1', 'l2', 'l3', 'l4', 'l5'],
      );
      assert.deepEqual(
        (await store.leases.list({ run: 'r1' }, 2)).map((l) => l.id),
        ['l1', 'l4'],
      );
      assert.equal((await store.leases.renew('l1', 2_000, 3))?.expiresAt, 2_000);
      assert.equal((await store.leases.get('l1'))?.version, 3);
      assert.equal((await store.leases.renew('l1', 2_500))?.version, 3);
      assert.equal(await store.leases.renew('nope', 2_000), undefined);

      // Expired ones, soonest first, bounded; claimed once.
      const expired = await store.leases.claimExpired(100, 1, 900);
      assert.deepEqual(
        expired.map((l) => [l.id, l.state, l.reason, l.nextAttemptAt]),
        [['l4', 'revoking', 'expired', 900]],
      );
      assert.deepEqual(
        (await store.leases.claimExpired(100, 10, 9_000)).map((l) => l.id),
        ['l5'],
      );
      assert.deepEqual(await store.leases.claimExpired(100, 10, 9_000), []);
      // A revoking lease cannot be renewed, nor claimed again by a selector.
      assert.equal(await store.leases.renew('l4', 9_000), undefined);
      assert.deepEqual(
        (await store.leases.claim({ run: 'r1' }, 'run ended', 9_000)).map((l) => [l.id, l.reason]),
        [['l1', 'run ended']],
      );
      // A failed attempt is counted; its retry is claimed when due, and not before.
      await store.leases.failed('l4', 1_200, 'connection refused');
      assert.deepEqual(await store.leases.claimRetries(1_100, 10, 1_500), []);
      const retry = await store.leases.claimRetries(1_300, 10, 1_500);
      assert.deepEqual(
        retry.map((l) => [l.id, l.attempts, l.lastError, l.nextAttemptAt]),
        [['l4', 1, 'connection refused', 1_500]],
      );
      assert.deepEqual(await store.leases.counts(), { active: 2, revoking: 3, failing: 1 });
      assert.deepEqual(await store.leases.revoking(), { revoking: 3, failing: 1 });
      assert.deepEqual(
        (await store.leases.list({ state: 'revoking' }, 10)).map((l) => l.id),
        ['l1', 'l4', 'l5'],
      );
      // Concurrent claims of everything: each lease goes to one of them.
      const both = await Promise.all([
        store.leases.claim({ all: true }, 'all', 900),
        store.leases.claim({ all: true }, 'all', 900),
      ]);
      assert.deepEqual(
        both
          .flat()
          .map((l) => l.id)
          .sort(),
        ['l2', 'l3'],
      );
      assert.deepEqual(await store.leases.claim({ vault: 'prod' }, 'x', 900), []);
      // Expired stored-secret leases end in one statement; dynamic ones are left to be claimed.
      await store.leases.insert(lease('s1', { expiresAt: 10, issuedAt: 105 }));
      await store.leases.insert(lease('s2', { expiresAt: 20, issuedAt: 106 }));
      await store.leases.insert(lease('d1', { expiresAt: 5, issuedAt: 107, engine: 'postgres' }));
      assert.deepEqual(
        (await store.leases.removeExpiredStatic(100, 1)).map((l) => l.id),
        ['s1'],
      );
      assert.deepEqual(
        (await store.leases.removeExpiredStatic(100, 10)).map((l) => l.id),
        ['s2'],
      );
      assert.equal((await store.leases.get('d1'))?.state, 'active');
      assert.deepEqual(await store.leases.revoking(), { revoking: 5, failing: 1 });
      await store.leases.remove(['l1', 'l2', 'l3', 'l4', 'l5', 'd1']);
      assert.deepEqual(await store.leases.counts(), { active: 0, revoking: 0, failing: 0 });
      await store.leases.remove([]);
    });

    it('keeps runs by id and lists them by host and status, oldest first', async () => {
      const run = (id: string, host: string, status: string, startedAt: number) => ({
        id,
        host,
        agent: 'a1',
        status,
        startedAt,
        record: JSON.stringify({ id, uid: 7 }),
      });
      await store.runs.put(run('r2', 'h1', 'running', 2_000));
      await store.runs.put(run('r1', 'h1', 'running', 1_000));
      await store.runs.put(run('r3', 'h2', 'running', 3_000));
      await store.runs.put({ ...run('r2', 'h1', 'ended', 2_000), record: '{"ended":true}' });
      assert.deepEqual(await store.runs.get('r2'), {
        ...run('r2', 'h1', 'ended', 2_000),
        record: '{"ended":true}',
      });
      assert.equal(await store.runs.get('nope'), undefined);
      assert.deepEqual(
        (await store.runs.list({ host: 'h1', status: 'running', limit: 10 })).map((r) => r.id),
        ['r1'],
      );
      assert.deepEqual(
        (await store.runs.list({ limit: 2 })).map((r) => r.id),
        ['r1', 'r2'],
      );
      assert.deepEqual(
        (await store.runs.list({ status: 'running', limit: 10 })).map((r) => r.id),
        ['r1', 'r3'],
      );
    });

    it('publishes checkpoint signers by name, replacing a name written again', async () => {
      assert.deepEqual(await store.audit.signers(), []);
      await store.audit.putSigner({ name: 'b', vkey: 'b+1+x', cert: 'c1' });
      await store.audit.putSigner({ name: 'a', vkey: 'a+1+x', cert: 'c2' });
      await store.audit.putSigner({ name: 'b', vkey: 'b+2+y', cert: 'c3' });
      assert.deepEqual(await store.audit.signers(), [
        { name: 'a', vkey: 'a+1+x', cert: 'c2' },
        { name: 'b', vkey: 'b+2+y', cert: 'c3' },
      ]);
    });
  });
}

conformance(
  'sqlite',
  async () => {
    const t = tempDir();
    const file = join(t.dir, 'r.db');
    return {
      store: openSqliteStore({ file }),
      exec: async (sql) => {
        const db = new Database(file);
        db.exec(sql);
        db.close();
      },
      cleanup: async () => t.cleanup(),
    };
  },
  false,
);

conformance(
  'postgres',
  async () => {
    const schema = newSchema();
    return {
      store: await openPostgresStore(pgConfig(schema)),
      exec: async (sql) => void (await pgExec(schema, sql)),
      cleanup: () => dropSchema(schema),
    };
  },
  skipPg,
);

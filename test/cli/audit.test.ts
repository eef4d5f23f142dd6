// rampart audit verify | tail | export | verify-proof, as a user runs them.

import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { entry, openTestLog } from '../support/audit.js';
import { rampart } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

describe('rampart audit (CLI)', () => {
  const t = tempDir();
  const data = join(t.dir, '.rampart');
  before(async () => {
    const store = openSqliteStore({ file: join(data, 'rampart.db') });
    const tl = await openTestLog(store, data);
    for (let i = 0; i < 300; i++) void tl.log.record(entry(i));
    await tl.log.drain();
    await tl.log.close();
    await store.close();
  });
  after(() => t.cleanup());

  it('verify: exit 0 and a summary on an intact log', () => {
    const r = rampart(['audit', 'verify'], { cwd: t.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^audit log intact: 300 records, 1 checkpoints; latest checkpoint covers 300 records/,
    );
  });

  it('export writes every record with a proof that verify-proof accepts offline with only the verifier key', () => {
    const out = join(t.dir, 'export.jsonl');
    const r = rampart(['audit', 'export', '--format', 'jsonl', '-o', out], { cwd: t.dir });
    assert.equal(r.code, 0, r.stderr);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines.length, 300);
    const vkey = join(data, 'keys', 'audit-ed25519.vkey');
    const ok = rampart(['audit', 'verify-proof', out, '--key', vkey], { cwd: '/' });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(ok.stdout.trim().split('\n').length, 301);
    assert.match(ok.stdout, /\n300 proof\(s\) verified\n$/, 'a summary line at the end');
    // One edited line fails, and says which record.
    const doc = JSON.parse(lines[17]!) as { entry: string };
    doc.entry = doc.entry.replace('actor-17', 'actor-99');
    writeFileSync(join(t.dir, 'bad.jsonl'), JSON.stringify(doc) + '\n');
    const bad = rampart(['audit', 'verify-proof', join(t.dir, 'bad.jsonl'), '--key', vkey], { cwd: '/' });
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /FAILED: record 17 does not hash to its leaf hash/);
    assert.match(bad.stdout, /^1 of 1 proof\(s\) FAILED$/m);
  });

  it('tail prints the newest records as JSON lines', () => {
    const r = rampart(['audit', 'tail', '-n', '3'], { cwd: t.dir });
    assert.equal(r.code, 0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number });
    assert.deepEqual(
      lines.map((l) => l.seq),
      [297, 298, 299],
    );
  });

  it('verify: exit 2 on usage errors', () => {
    assert.equal(rampart(['audit', 'verify', '--nope'], { cwd: t.dir }).code, 2);
    assert.equal(rampart(['audit'], { cwd: t.dir }).code, 2);
    assert.equal(rampart(['audit', 'tail', '-n', 'lots'], { cwd: t.dir }).code, 2);
  });

  it('verify: exit 1 naming the first bad sequence number after tampering', () => {
    const db = new Database(join(data, 'rampart.db'));
    db.prepare(
      'UPDATE audit_records SET entry = replace(entry, \'"outcome":"success"\', \'"outcome":"denied"\') WHERE seq = 123',
    ).run();
    db.close();
    const r = rampart(['audit', 'verify'], { cwd: t.dir });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /audit log TAMPERED/);
    assert.match(r.stdout, /edited: record 123 was changed after it was written/);
    assert.match(r.stdout, /first bad sequence number: 123/);
  });

  it('verify: a data directory without a log is an error, not a clean pass', () => {
    const r = rampart(['audit', 'verify', '--data', 'nowhere'], { cwd: t.dir });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /RAMPART_E_(DATA_DIR|AUDIT_CHECKPOINT_INVALID)/);
  });

  it('export never drops the records after the last checkpoint: they come marked unsigned, and it says so', async () => {
    // A log of its own (the tests above tamper with theirs): 300 records under a checkpoint,
    // then eleven a crashed writer left unsigned (no control plane runs to sign them now).
    const own = tempDir();
    after(() => own.cleanup());
    const data = join(own.dir, '.rampart');
    let store = openSqliteStore({ file: join(data, 'rampart.db') });
    let tl = await openTestLog(store, data);
    for (let i = 0; i < 300; i++) void tl.log.record(entry(i));
    await tl.log.drain();
    await tl.log.close();
    await store.close();
    store = openSqliteStore({ file: join(data, 'rampart.db') });
    tl = await openTestLog(store, data);
    for (let i = 300; i < 311; i++) void tl.log.record(entry(i));
    await tl.log.drain();
    await store.close();
    const out = join(own.dir, 'tail.jsonl');
    const r = rampart(['audit', 'export', '-o', out], { cwd: own.dir }); // --format jsonl is the default
    assert.equal(r.code, 0, r.stderr);
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; unsigned?: boolean });
    assert.equal(lines.length, 311, 'every record, the tail included');
    assert.deepEqual(
      lines.filter((l) => l.unsigned).map((l) => l.seq),
      Array.from({ length: 11 }, (_, i) => 300 + i),
    );
    assert.match(r.stderr, /11 record\(s\) after the last checkpoint exported unsigned, without a proof/);
    const v = rampart(['audit', 'verify-proof', out, '--key', join(data, 'keys', 'audit-ed25519.vkey')], {
      cwd: '/',
    });
    assert.equal(v.code, 1);
    assert.match(v.stdout, /FAILED: record 300 was exported unsigned/);
    assert.match(v.stdout, /^11 of 311 proof\(s\) FAILED$/m);
  });
});

// Sealing at rest (src/secrets/seal.ts): envelopes open only with their KEK and only as the
// secret and version they were sealed for; a rotated KEK file keeps old versions open; a bad KEK
// file is a coded error naming the line, never the key.

import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { RampartError } from '../../src/core/errors.js';
import { kekPath, Sealer } from '../../src/secrets/seal.js';
import { tempDir } from '../support/tmp.js';

const coded = (code: string) => (e: unknown) => e instanceof RampartError && e.code === code;

describe('sealing secrets at rest', () => {
  it('opens what it sealed, only as the same secret and version', () => {
    const dir = tempDir();
    try {
      const s = Sealer.load(dir.dir, { create: true });
      assert.equal(statSync(kekPath(dir.dir)).mode & 0o777, 0o600);
      const sealed = s.seal(Buffer.from('ghp_value'), 'ci/gh#1');
      assert.ok(!sealed.includes('ghp_value'));
      assert.equal(s.open(sealed, 'ci/gh#1').toString(), 'ghp_value');
      // Moved to another secret or version, it does not open.
      assert.throws(() => s.open(sealed, 'ci/gh#2'), coded('RAMPART_E_SECRETS_KEK'));
      assert.throws(() => s.open(sealed, 'ci/other#1'), coded('RAMPART_E_SECRETS_KEK'));
      // One bit of the ciphertext changed: refused.
      const env = JSON.parse(sealed) as { ct: string };
      const ct = Buffer.from(env.ct, 'base64');
      ct[20] = ct[20]! ^ 1;
      assert.throws(
        () => s.open(JSON.stringify({ ...env, ct: ct.toString('base64') }), 'ci/gh#1'),
        coded('RAMPART_E_SECRETS_KEK'),
      );
    } finally {
      dir.cleanup();
    }
  });

  it('keeps old versions open across a KEK rotation, and refuses another installation’s KEK', () => {
    const dir = tempDir();
    const other = tempDir();
    try {
      const s1 = Sealer.load(dir.dir, { create: true });
      const old = s1.seal(Buffer.from('v1'), 'ci/db#1');
      // Rotation: a new first line; the old key stays below it.
      const file = kekPath(dir.dir);
      writeFileSync(file, `k2 ${'ab'.repeat(32)}\n${readFileSync(file, 'utf8')}`);
      const s2 = Sealer.load(dir.dir, { create: false });
      assert.equal(s2.current, 'k2');
      assert.equal(s2.open(old, 'ci/db#1').toString(), 'v1');
      const fresh = s2.seal(Buffer.from('v2'), 'ci/db#2');
      assert.equal((JSON.parse(fresh) as { kek: string }).kek, 'k2');
      const stranger = Sealer.load(other.dir, { create: true });
      assert.throws(() => stranger.open(old, 'ci/db#1'), /does not open with key-encryption key "k1"/);
    } finally {
      dir.cleanup();
      other.cleanup();
    }
  });

  it('refuses a missing or malformed KEK file with its position, never the key', () => {
    const dir = tempDir();
    try {
      assert.throws(
        () => Sealer.load(dir.dir, { create: false }),
        /is missing, and the store holds sealed secrets/,
      );
      Sealer.load(dir.dir, { create: true });
      const key = 'zz'.repeat(32);
      writeFileSync(kekPath(dir.dir), `k1 ${'cd'.repeat(32)}\nk0 ${key}\n`, { mode: 0o600 });
      assert.throws(
        () => Sealer.load(dir.dir, { create: false }),
        (e: unknown) =>
          coded('RAMPART_E_SECRETS_KEK')(e) &&
          /secrets\.kek:2:/.test((e as Error).message) &&
          !(e as Error).message.includes(key),
      );
      writeFileSync(kekPath(dir.dir), `k1 ${'cd'.repeat(32)}\n`);
      chmodSync(kekPath(dir.dir), 0o644);
      assert.throws(
        () => Sealer.load(dir.dir, { create: false }),
        coded('RAMPART_E_SECRET_FILE_PERMISSIONS'),
      );
    } finally {
      dir.cleanup();
    }
  });
});

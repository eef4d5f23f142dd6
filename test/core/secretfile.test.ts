// Secret files are read only when they are regular files: a FIFO, a device or a directory named
// as a secret is refused at once with a clear error, never waited on.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readSecretFile } from '../../src/core/secretfile.js';
import { RampartError } from '../../src/core/errors.js';
import { rampartAsync } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

describe('secret files', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());

  it('refuses a FIFO without waiting for a writer', () => {
    const fifo = join(tmp.dir, 'fifo');
    execFileSync('mkfifo', ['-m', '0600', fifo]);
    assert.throws(
      () => readSecretFile(fifo, { purpose: 'test' }),
      (e: unknown) =>
        e instanceof RampartError &&
        e.code === 'RAMPART_E_SECRET_FILE_UNREADABLE' &&
        /not a regular file/.test(e.message),
    );
  });

  it('`rampart run --secret NAME=FIFO` fails at once with the reason', async () => {
    const fifo = join(tmp.dir, 'fifo-cli');
    execFileSync('mkfifo', ['-m', '0600', fifo]);
    // The command would hang for ever on a FIFO with no writer; the child is killed at 20 s.
    const r = await rampartAsync(
      ['run', '--data', join(tmp.dir, 'data'), '--secret', `s=${fifo}`, '--', 'true'],
      {
        cwd: tmp.dir,
        timeoutMs: 20_000,
      },
    );
    assert.notEqual(r.code, null, 'rampart run hung on the FIFO and was killed');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /RAMPART_E_SECRET_FILE_UNREADABLE/);
    assert.match(r.stderr, /--secret s\) is not a regular file/);
  });
});

import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { RampartError, RampartErrorList } from '../../src/core/errors.js';
import { readSecretText, writeSecretFile } from '../../src/core/secretfile.js';
import { tempDir } from '../support/tmp.js';

const base = { baseDir: '/etc/rampart' };

function problems(text: string): RampartError[] {
  try {
    parseConfig(text, 'rampart.yaml', base);
  } catch (e) {
    if (e instanceof RampartErrorList) return [...e.errors];
    if (e instanceof RampartError) return [e];
    throw e;
  }
  assert.fail('expected the config to be rejected');
}

describe('configuration', () => {
  it('fills documented defaults and freezes the result', () => {
    const c = parseConfig('', undefined, base);
    assert.equal(c.dataDir, '/etc/rampart/.rampart');
    assert.deepEqual(c.server.listen, { host: '127.0.0.1', port: 7070 });
    assert.equal(c.store.driver, 'sqlite');
    assert.equal(c.server.bodyLimit, 1024 * 1024);
    assert.equal(c.server.requestTimeoutMs, 30_000);
    assert.equal(c.audit.checkpointIntervalMs, 10_000);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.server) && Object.isFrozen(c.server.listen));
    assert.throws(() => {
      (c.server as { metricsAuth: boolean }).metricsAuth = false;
    }, TypeError);
  });

  it('rejects an unknown key with its path, line and column, and suggests the near miss', () => {
    const [e] = problems('server:\n  listen: 127.0.0.1:9000\n  lisen: 0.0.0.0:80\n');
    assert.equal(e!.code, 'RAMPART_E_CONFIG_UNKNOWN_KEY');
    assert.deepEqual(e!.location, { file: 'rampart.yaml', line: 3, column: 3 });
    assert.match(e!.message, /unknown key "server\.lisen" \(did you mean "listen"\?\)/);
  });

  it('reports every problem in one pass, each with its location', () => {
    const errs = problems(
      [
        'server:',
        '  listen: nowhere',
        '  body_limit: lots',
        'store:',
        '  driver: mysql',
        'audit:',
        '  max_batch: -1',
        'bogus: 1',
      ].join('\n'),
    );
    const byPath = new Map(errs.map((e) => [e.details?.['path'] as string, e]));
    assert.equal(errs.length, 5, errs.map((e) => e.describe()).join('\n'));
    assert.deepEqual(byPath.get('server.listen')?.location, { file: 'rampart.yaml', line: 2, column: 11 });
    assert.match(byPath.get('server.listen')!.message, /host:port/);
    assert.match(byPath.get('server.body_limit')!.message, /size such as/);
    assert.match(byPath.get('store.driver')!.message, /must be one of "sqlite", "postgres"/);
    assert.equal(byPath.get('audit.max_batch')?.location?.line, 7);
    assert.ok(errs.some((e) => e.code === 'RAMPART_E_CONFIG_UNKNOWN_KEY' && e.location?.line === 8));
  });

  it('checks break-glass approvers against the clients, and K against N, at their lines', () => {
    const errs = problems(
      [
        'auth:',
        '  clients:',
        '    - {name: bob, token_file: /etc/rampart/bob.token, scopes: [audit:read]}',
        'breakglass:',
        '  approvers: [bob, mallory]',
        '  required: 3',
      ].join('\n'),
    );
    assert.equal(errs.length, 2);
    assert.match(errs[0]!.message, /^breakglass.approvers\[1\]: "mallory" is not a client in auth.clients/);
    assert.deepEqual(errs[0]!.location, { file: 'rampart.yaml', line: 5, column: 20 });
    assert.match(errs[1]!.message, /^breakglass.required: 3 approvals can never be given by 2 approver/);
    assert.equal(errs[1]!.location?.line, 6);
    const [w] = problems('incidents:\n  window: soon\n');
    assert.deepEqual(w!.location, { file: 'rampart.yaml', line: 2, column: 11 });
  });

  it('names YAML syntax errors with their position', () => {
    const [e] = problems('server:\n  listen: [1, 2\n');
    assert.equal(e!.code, 'RAMPART_E_CONFIG_PARSE');
    assert.equal(e!.location?.file, 'rampart.yaml');
    assert.ok((e!.location?.line ?? 0) >= 2);
  });

  it('rejects duplicate keys (a second value silently winning is how weak settings sneak in)', () => {
    const [e] = problems('logging:\n  level: info\n  level: debug\n');
    assert.equal(e!.code, 'RAMPART_E_CONFIG_PARSE');
    assert.equal(e!.location?.line, 3);
  });

  it('stops YAML alias bombs', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...'bcdefghij'
        .split('')
        .map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abcdefghij'[i]}`).join(', ')}]`),
    ].join('\n');
    const [e] = problems(bomb);
    assert.equal(e!.code, 'RAMPART_E_CONFIG_PARSE');
  });

  it('rejects a top level that is not a mapping', () => {
    const [e] = problems('- 1\n- 2\n');
    assert.equal(e!.code, 'RAMPART_E_CONFIG_INVALID');
  });

  it('resolves relative paths against the config file and lets --data override data_dir', () => {
    const c = parseConfig('data_dir: state\nstore:\n  sqlite:\n    file: x.db\n', 'rampart.yaml', base);
    assert.equal(c.dataDir, '/etc/rampart/state');
    assert.equal(c.store.driver === 'sqlite' && c.store.file, '/etc/rampart/state/x.db');
    const d = parseConfig('data_dir: state\n', 'rampart.yaml', { ...base, dataDirOverride: '/var/lib/r' });
    assert.equal(d.dataDir, '/var/lib/r');
  });

  it('has no way to put a database password in the file itself', () => {
    const [e] = problems('store:\n  driver: postgres\n  postgres:\n    password: hunter2\n');
    assert.equal(e!.code, 'RAMPART_E_CONFIG_UNKNOWN_KEY');
    // The error names the key, never the value.
    assert.ok(!e!.describe().includes('hunter2'));
  });

  it('fails clearly when --config names a missing file, and uses defaults when rampart.yaml is absent', () => {
    const t = tempDir();
    assert.throws(
      () => loadConfig({ file: 'nope.yaml', cwd: t.dir }),
      (e: unknown) => e instanceof RampartError && e.code === 'RAMPART_E_CONFIG_NOT_FOUND',
    );
    assert.equal(loadConfig({ cwd: t.dir }).source, undefined);
    writeFileSync(join(t.dir, 'rampart.yaml'), 'logging:\n  level: debug\n');
    const c = loadConfig({ cwd: t.dir });
    assert.equal(c.logging.level, 'debug');
    assert.equal(c.source, join(t.dir, 'rampart.yaml'));
    t.cleanup();
  });
});

describe('secret files', () => {
  it('reads a 0600 file and refuses one readable by group or others', () => {
    const t = tempDir();
    const f = join(t.dir, 'token');
    writeSecretFile(f, 'correct-horse-battery-staple\n');
    assert.equal(readSecretText(f, { purpose: 'test' }), 'correct-horse-battery-staple');
    chmodSync(f, 0o640);
    assert.throws(
      () => readSecretText(f, { purpose: 'test token' }),
      (e: unknown) =>
        e instanceof RampartError &&
        e.code === 'RAMPART_E_SECRET_FILE_PERMISSIONS' &&
        /mode 0640/.test(e.message) &&
        !e.message.includes('correct-horse') &&
        e.hint === `chmod 600 ${f}`,
    );
    chmodSync(f, 0o604);
    assert.throws(() => readSecretText(f, { purpose: 'x' }), /must not be readable/);
    t.cleanup();
  });

  it('refuses missing files, directories, symlinks and empty files with a coded error', () => {
    const t = tempDir();
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (e) {
        return (e as RampartError).code;
      }
      return undefined;
    };
    assert.equal(
      code(() => readSecretText(join(t.dir, 'missing'), { purpose: 'x' })),
      'RAMPART_E_SECRET_FILE_UNREADABLE',
    );
    assert.equal(
      code(() => readSecretText(t.dir, { purpose: 'x' })),
      'RAMPART_E_SECRET_FILE_UNREADABLE',
    );
    writeSecretFile(join(t.dir, 'empty'), '');
    assert.equal(
      code(() => readSecretText(join(t.dir, 'empty'), { purpose: 'x' })),
      'RAMPART_E_SECRET_FILE_UNREADABLE',
    );
    t.cleanup();
  });

  it('refuses to write a secret file with a wide mode', () => {
    assert.throws(() => writeSecretFile('/tmp/x', 'y', 0o644), TypeError);
  });
});

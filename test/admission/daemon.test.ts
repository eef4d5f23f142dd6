// rampart check on the Engine's own configuration (daemon.json), as a good/bad pair: the CIS
// Docker Benchmark's daemon section, each finding at its key.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, rampart } from '../support/cli.js';

const fixtures = join(ROOT, 'test', 'admission', 'fixtures');

describe('rampart check daemon.json', () => {
  it('a hardened daemon.json has no finding', () => {
    const r = rampart(['check', join(fixtures, 'daemon-good.json')], { cwd: ROOT });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
  });

  it('reports every weakness of the daemon at its key, with the benchmark item', () => {
    const r = rampart(['check', '--format', 'json', join(fixtures, 'daemon-bad.json')], { cwd: ROOT });
    assert.equal(r.code, 1, r.stderr);
    const found = (
      JSON.parse(r.stdout) as { findings: { ruleId: string; location: { line: number }; message: string }[] }
    ).findings;
    const at = Object.fromEntries(found.map((f) => [f.ruleId, f.location.line]));
    assert.deepEqual(at, {
      'daemon-icc': 2,
      'daemon-config-invalid': 3, // "true" as a string: dockerd would not start
      'daemon-live-restore': 3,
      'daemon-userns-remap': 1,
      'daemon-no-new-privileges': 1,
      'daemon-log-driver': 4,
      'daemon-authorization-plugin': 1,
      'daemon-insecure-registry': 5,
      'daemon-userland-proxy': 1,
      'daemon-seccomp-unconfined': 6,
      'daemon-tcp-without-tls': 7,
    });
    assert.ok(found.every((f) => /\(CIS Docker Benchmark [\d.-]+\)$/.test(f.message)));
    const text = rampart(['check', join(fixtures, 'daemon-bad.json')], { cwd: ROOT });
    assert.match(
      text.stdout,
      /daemon-bad\.json:7:3: critical daemon-tcp-without-tls: the Engine API listens on tcp:\/\/0\.0\.0\.0:2375/,
    );
  });
});

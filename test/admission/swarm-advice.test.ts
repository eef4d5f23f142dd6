// Advice for a Swarm stack names only what works on Swarm. `docker stack deploy` ignores a set of
// Compose fields; before, a stack without no-new-privileges was told to set security_opt, which
// Rampart's own swarm-ignored-field then reported as ignored. And what only a host setting can
// satisfy is not counted by harden as the file's failure.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkAll, EMPTY_POLICY, workloadsFrom } from '../../src/admission/engine.js';
import { SWARM_IGNORED } from '../../src/admission/formats/compose.js';
import { rampartAsync } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

// Everything a stack can get wrong, in the fields Swarm ignores and in those it reads.
const STACK = `services:
  worst:
    image: registry.internal/agent:1
    privileged: true
    security_opt: [seccomp=unconfined, no-new-privileges:false, label:disable]
    mem_limit: 1g
    cpus: 2
    pids_limit: 100
    restart: always
    devices: [/dev/kvm]
    network_mode: host
    pid: host
    ipc: host
    userns_mode: host
    cap_add: [SYS_ADMIN]
    ports: ["5900:5900"]
    deploy:
      replicas: 2
  bare:
    image: registry.internal/agent:1
    deploy:
      replicas: 1
      restart_policy: {condition: any}
`;

describe('Swarm advice', () => {
  const dir = tempDir();
  after(() => dir.cleanup());

  it('never tells a stack to set a field docker stack deploy ignores', () => {
    const findings = checkAll(
      workloadsFrom([{ file: 'stack.yml', text: STACK }], { swarm: true }),
      {
        profile: 'default',
      },
      EMPTY_POLICY,
    );
    assert.ok(findings.some((f) => f.ruleId === 'no-new-privileges'));
    assert.ok(findings.some((f) => f.ruleId === 'swarm-ignored-field'));
    for (const f of findings) {
      // Naming a field to say it is ignored, or to remove it, is allowed; advising a value for
      // it (`field: value`) is not.
      const fix = (f.help ?? '').split(' Fix: ')[1] ?? '';
      const advice = fix
        .replace(/\b(\w+) is ignored by docker stack deploy/g, '')
        .replace(/Swarm ignores (\w+)/g, '')
        .replace(/^Remove it[^.;]*/g, '');
      for (const field of SWARM_IGNORED)
        assert.ok(!new RegExp(`(?<![.\\w])${field}:`).test(advice), `${f.ruleId} advises ${field}: ${fix}`);
    }
  });

  it('harden lists host settings apart and does not count them against the file', async () => {
    const p = join(dir.dir, 'nnp.yml');
    writeFileSync(
      p,
      'services:\n  a:\n    image: x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n    healthcheck: {test: ["CMD", "true"]}\n    deploy: {replicas: 2}\n',
    );
    const r = await rampartAsync(['harden', p], { cwd: dir.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /high no-new-privileges: .*\(a host setting, not the file: Swarm ignores security_opt: set "no-new-privileges": true in \/etc\/docker\/daemon\.json/,
    );
    assert.match(
      r.stderr,
      /0 finding\(s\) left to fix by hand, 0 at or above high; 1 need\(s\) a host setting/,
    );
    // check, the gate, still reports it.
    const c = await rampartAsync(['check', p], { cwd: dir.dir });
    assert.equal(c.code, 1);
    assert.match(c.stdout, /no-new-privileges/);
  });
});

// What `rampart check` prints for people: the fix under each finding (--quiet: without), the
// Pod Security "restricted" findings marked and selectable (--only pss), and no probe asked of a
// Job or CronJob.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { rampart } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const POD = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  hostNetwork: true
  containers:
    - name: web
      image: registry.internal/web:1
`;

const JOB = `apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: registry.internal/migrate:1
`;

describe('rampart check, as read by a person', () => {
  const t = tempDir();
  after(() => t.cleanup());
  writeFileSync(join(t.dir, 'pod.yaml'), POD);
  writeFileSync(join(t.dir, 'job.yaml'), JOB);
  const check = (...args: string[]) => rampart(['check', ...args], { cwd: t.dir });

  it('prints the fix under each finding, and --quiet leaves it out', () => {
    const r = check('pod.yaml');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /pod\.yaml:5:16: high no-host-network: .*\[pss\]\n {4}\S.* Fix: .+$/m);
    const quiet = check('--quiet', 'pod.yaml');
    assert.doesNotMatch(quiet.stdout, /Fix:/);
    assert.equal(
      quiet.stdout.split('\n').filter(Boolean).length,
      r.stdout
        .split('\n')
        .filter((l) => !l.startsWith('    '))
        .filter(Boolean).length,
    );
  });

  it('--only pss reports the Pod Security "restricted" findings alone, each marked', () => {
    const all = check('--quiet', 'pod.yaml').stdout.trim().split('\n');
    const pss = check('--quiet', '--only', 'pss', 'pod.yaml').stdout.trim().split('\n');
    assert.ok(pss.length > 0 && pss.length < all.length, `${pss.length} of ${all.length}`);
    assert.ok(
      pss.every((l) => l.endsWith('[pss]')),
      pss.join('\n'),
    );
    assert.ok(all.some((l) => /image-digest/.test(l)) && !pss.some((l) => /image-digest/.test(l)));
    assert.equal(check('--only', 'cis', 'pod.yaml').code, 2);
  });

  it('asks no health check of a Job (it runs to completion)', () => {
    assert.doesNotMatch(check('job.yaml').stdout, /healthcheck/);
    assert.match(check('pod.yaml').stdout, /healthcheck/);
  });
});

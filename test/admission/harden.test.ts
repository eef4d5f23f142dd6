// `rampart harden` on real files through the CLI: comments and layout survive, the fixes clear
// their checks, what is left is listed as findings, hardening the output changes nothing, and
// values shared through anchors or merge keys are left alone rather than silently forked.

import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rampartAsync } from '../support/cli.js';
import { tempDir, type TempDir } from '../support/tmp.js';

const FIX = join(import.meta.dirname, '..', '..', '..', 'test', 'admission', 'fixtures');
const FIXED = [
  'drop-all-capabilities',
  'read-only-rootfs',
  'run-as-non-root',
  'no-new-privileges',
  'memory-limit',
  'cpu-limit',
  'pids-limit',
  'console-not-public',
  'seccomp-required',
  'bounded-restart',
  'encrypted-overlay',
  'secret-file-mode',
];

describe('rampart harden', () => {
  let dir: TempDir;
  const file = (name: string, text: string): string => {
    const p = join(dir.dir, name);
    writeFileSync(p, text);
    return p;
  };
  const ruleIds = async (path: string, extra: string[] = []): Promise<string[]> => {
    const r = await rampartAsync(['check', '--format', 'json', ...extra, path], { cwd: dir.dir });
    return (JSON.parse(r.stdout) as { findings: { ruleId: string }[] }).findings.map((f) => f.ruleId);
  };

  before(() => {
    dir = tempDir();
  });
  after(() => dir.cleanup());

  it('fixes the VM runner as far as it can, keeps comments and quoting, and lists the rest', async () => {
    const src = readFileSync(join(FIX, 'vm-runner-bad.yml'), 'utf8');
    const out = join(dir.dir, 'vm-hardened.yml');
    const r = await rampartAsync(['harden', '--profile', 'vm-runner', '-o', out, file('vm.yml', src)], {
      cwd: dir.dir,
    });
    assert.equal(r.code, 1, r.stderr); // privileged is left for a human
    const text = readFileSync(out, 'utf8');
    // Comments and the flow lists are as written.
    assert.ok(text.startsWith('# A QEMU/KVM runner as it is often first written'));
    assert.match(text, /cap_add: \[NET_ADMIN\]/);
    assert.match(text, /devices: \[\/dev\/kvm, \/dev\/net\/tun\]/);
    // The console is on loopback, quoted as it was.
    assert.match(text, /- "127\.0\.0\.1:5900:5900"/);
    assert.match(r.stderr, /fixed console-not-public: vm-runner: console port 5900 bound to 127\.0\.0\.1/);
    assert.match(r.stderr, /critical no-privileged: vm-runner is privileged \(not fixed automatically\)/);
    const left = await ruleIds(out, ['--profile', 'vm-runner']);
    for (const id of FIXED) assert.ok(!left.includes(id), `${id} is still found after harden`);
    assert.ok(left.includes('no-privileged'));
  });

  it('is idempotent: hardening its own output changes nothing', async () => {
    const once = join(dir.dir, 'vm-hardened.yml');
    const r = await rampartAsync(['harden', '--check', once], { cwd: dir.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /is already hardened/);
    const again = await rampartAsync(['harden', once], { cwd: dir.dir });
    assert.equal(again.stdout, readFileSync(once, 'utf8'));
  });

  it('--check exits 1 on a file that needs changes, and writes nothing', async () => {
    const p = file('plain.yml', 'services:\n  app:\n    image: alpine\n    restart: always\n');
    const r = await rampartAsync(['harden', '--check', p], { cwd: dir.dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /fixed bounded-restart: app: restart: on-failure:5/);
    assert.equal(readFileSync(p, 'utf8'), 'services:\n  app:\n    image: alpine\n    restart: always\n');
  });

  it('--write rewrites in place and keeps the file mode', async () => {
    const p = file('inplace.yml', 'services:\n  app: # the app\n    image: alpine\n');
    chmodSync(p, 0o640);
    const r = await rampartAsync(['harden', '-w', '--memory', '512m', '--pids', '64', p], { cwd: dir.dir });
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(p, 'utf8');
    assert.match(text, /# the app\n/);
    assert.match(text, /memory: 512m/);
    assert.match(text, /pids: 64/);
    assert.equal(statSync(p).mode & 0o777, 0o640);
  });

  it('hardens Kubernetes manifests, every document, in place of their style', async () => {
    const p = file(
      'k8s.yaml',
      [
        '# agents',
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata: {name: agent}',
        'spec:',
        '  template:',
        '    spec:',
        '      initContainers: [{name: init, image: busybox}]',
        '      containers:',
        '        - name: main # the agent',
        '          image: ghcr.io/acme/agent:1',
        '          securityContext:',
        '            capabilities: {drop: [NET_RAW]}',
        '            seccompProfile: {type: Unconfined}',
        '---',
        'apiVersion: batch/v1',
        'kind: CronJob',
        'metadata: {name: nightly}',
        'spec:',
        '  schedule: "@daily"',
        '  jobTemplate:',
        '    spec:',
        '      template:',
        '        spec:',
        '          containers: [{name: job, image: busybox}]',
        '',
      ].join('\n'),
    );
    const out = join(dir.dir, 'k8s-hardened.yaml');
    const r = await rampartAsync(['harden', '-o', out, p], { cwd: dir.dir });
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(out, 'utf8');
    assert.match(text, /- name: main # the agent/);
    assert.match(text, /drop: \[NET_RAW, ALL\]/);
    assert.match(text, /seccompProfile: \{type: RuntimeDefault\}/);
    assert.match(r.stderr, /CronJob\/nightly\/job: runAsNonRoot: true/);
    assert.match(r.stderr, /Deployment\/agent\/init: readOnlyRootFilesystem: true/);
    const left = await ruleIds(out);
    for (const id of FIXED) assert.ok(!left.includes(id), `${id} is still found after harden`);
  });

  it('hardens a Docker Engine create body as JSON', async () => {
    const p = file(
      'create.json',
      JSON.stringify({
        Image: 'alpine',
        HostConfig: { PortBindings: { '3389/tcp': [{ HostPort: '3389' }] } },
      }),
    );
    const r = await rampartAsync(['harden', p], { cwd: dir.dir });
    const body = JSON.parse(r.stdout) as { User: string; HostConfig: Record<string, unknown> };
    assert.equal(body.User, '65532:65532');
    assert.deepEqual(body.HostConfig['CapDrop'], ['ALL']);
    assert.deepEqual(body.HostConfig['PortBindings'], {
      '3389/tcp': [{ HostPort: '3389', HostIp: '127.0.0.1' }],
    });
  });

  it('leaves values from anchors and merge keys alone and says so', async () => {
    const p = file(
      'anchors.yml',
      [
        'x-defaults: &defaults',
        '  read_only: true',
        '  deploy:',
        '    resources:',
        '      limits: {memory: 256m, cpus: "0.5"}',
        'services:',
        '  a:',
        '    <<: *defaults',
        '    image: alpine',
        '',
      ].join('\n'),
    );
    const out = join(dir.dir, 'anchors-hardened.yml');
    const r = await rampartAsync(['harden', '-o', out, p], { cwd: dir.dir });
    assert.match(
      r.stderr,
      /not changed pids-limit: .*services\.a\.deploy comes from a merge key \(<<\): harden the anchor/,
    );
    const text = readFileSync(out, 'utf8');
    // The merged limits were not replaced by a partial deploy section.
    assert.ok(!/^ {4}deploy:/m.test(text), text);
    assert.match(text, /<<: \*defaults/);
    assert.ok(!(await ruleIds(out)).includes('memory-limit'));
  });

  it('refuses bad input with a located error and exit 2', async () => {
    const bomb = file(
      'bomb.yml',
      'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\nservices: {x: {image: [*f,*f,*f,*f,*f,*f,*f,*f,*f]}}\n',
    );
    const r = await rampartAsync(['harden', bomb], { cwd: dir.dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bomb\.yml:\d+:\d+: RAMPART_E_ADMISSION_INPUT: .*alias bomb/);
    const u = await rampartAsync(['harden', '--user', '0:0', bomb], { cwd: dir.dir });
    assert.equal(u.code, 2);
    assert.match(u.stderr, /--user must not be root/);
  });
});

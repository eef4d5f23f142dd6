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
    assert.match(text, /pids_limit: 64/);
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

  it('edits an Engine body in place, reading its keys as the Engine does (any case, last wins)', async () => {
    const src = '{\n  "Image": "alpine",\n  "hostconfig": {"Privileged": true, "capdrop": ["NET_RAW"]}\n}\n';
    const r = await rampartAsync(['harden', file('lower.json', src)], { cwd: dir.dir });
    // One HostConfig, the one written: a second, canonical one would replace it for the Engine.
    assert.match(
      r.stdout,
      /^ {2}"hostconfig": \{"Privileged": true, "capdrop": \["ALL", ?"NET_RAW"\], "ReadonlyRootfs": true/m,
    );
    assert.ok(!r.stdout.includes('"HostConfig"'), r.stdout);
    assert.ok(r.stdout.startsWith('{\n  "Image": "alpine",\n'), 'untouched lines stay as written');
    assert.match(r.stderr, /lower\.json:3:\d+: critical no-privileged/);
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
        '    restart_policy: {condition: any}',
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
      /not changed bounded-restart: .*services\.a\.deploy comes from a merge key \(<<\): harden the anchor/,
    );
    const text = readFileSync(out, 'utf8');
    // The merged limits were not replaced by a partial deploy section.
    assert.ok(!/^ {4}deploy:/m.test(text), text);
    assert.match(text, /<<: \*defaults/);
    assert.ok(!(await ruleIds(out)).includes('memory-limit'));
  });

  // What a fix did not change stays byte for byte: the output is the input with some lines
  // replaced (those named) and some added, in order.
  const keptLines = (input: string, output: string): string[] => {
    const a = input.split('\n');
    const b = output.split('\n');
    const lcs = a.map(() => new Array<number>(b.length + 1).fill(0));
    lcs.push(new Array<number>(b.length + 1).fill(0));
    for (let i = a.length - 1; i >= 0; i--)
      for (let j = b.length - 1; j >= 0; j--)
        lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    const gone: string[] = [];
    let [i, j] = [0, 0];
    while (i < a.length)
      if (j < b.length && a[i] === b[j]) {
        i++;
        j++;
      } else if (j < b.length && lcs[i]![j + 1]! >= lcs[i + 1]![j]!) j++;
      else gone.push(a[i++]!);
    return gone;
  };

  it('touches only the lines a fix changes in realistic Kubernetes and Compose files', async () => {
    for (const [name, changed] of [
      [
        'k8s-gateway.yaml',
        [
          '            drop: [NET_RAW]',
          '            type: Unconfined   # legacy',
          '          securityContext: {runAsUser: 1000}',
        ],
      ],
      [
        'compose-aligned.yml',
        [
          '      - 6080:6080              # noVNC console',
          '      - seccomp:unconfined     # for the old profiler',
          '    restart: always            # keep it up',
          '    cap_drop: [NET_RAW]',
          '    user: postgres',
          '        limits: {memory: 2g}',
        ],
      ],
    ] as const) {
      const src = readFileSync(join(FIX, 'harden', name), 'utf8');
      const r = await rampartAsync(['harden', file(name, src)], { cwd: dir.dir });
      assert.ok(r.code === 0 || r.code === 1, r.stderr);
      assert.deepEqual(keptLines(src, r.stdout), changed, `${name}: only the fixed lines changed`);
      const out = file(`out-${name}`, r.stdout);
      const left = await ruleIds(out);
      for (const id of FIXED) assert.ok(!left.includes(id), `${name}: ${id} is still found after harden`);
    }
  });

  it('keeps a comment after a changed value in its column', async () => {
    const src = readFileSync(join(FIX, 'harden', 'compose-aligned.yml'), 'utf8');
    const r = await rampartAsync(['harden', file('aligned.yml', src)], { cwd: dir.dir });
    assert.match(r.stdout, /^ {6}- "127\.0\.0\.1:6080:6080" {2}# noVNC console$/m);
    assert.match(r.stdout, /^ {4}restart: on-failure:5 {6}# keep it up$/m);
  });

  it('names positions true of the file it names: the input, or the rewritten file with -w', async () => {
    const src = readFileSync(join(FIX, 'harden', 'k8s-gateway.yaml'), 'utf8');
    const lineOf = (text: string, at: string): string => {
      const m = new RegExp(`${at.replace(/[.]/g, '\\.')}:(\\d+):(\\d+): high no-host-network`).exec(text);
      assert.ok(m, text);
      return m[0] && `${m[1]}:${m[2]}`;
    };
    const input = file('gw.yaml', src);
    const r = await rampartAsync(['harden', input], { cwd: dir.dir });
    assert.equal(lineOf(r.stderr, 'gw.yaml'), '17:20');
    assert.equal(src.split('\n')[16]!.slice(19, 30), 'true  # nee');
    // Each fix names where it was made: the seccomp type on its line, an addition at the
    // mapping it joins.
    assert.match(r.stderr, /gw\.yaml:28:19: fixed seccomp-required/);
    assert.match(r.stderr, /gw\.yaml:32:9: fixed memory-limit: Deployment\/gateway\/sidecar/);

    const w = await rampartAsync(['harden', '-w', input], { cwd: dir.dir });
    const rewritten = readFileSync(input, 'utf8');
    const [line, col] = lineOf(w.stderr, 'gw.yaml').split(':').map(Number) as [number, number];
    assert.equal(
      rewritten.split('\n')[line - 1]!.slice(col - 1 - 'hostNetwork: '.length, col + 3),
      'hostNetwork: true',
    );
  });

  it('leaves a console bound to 0.0.0.0 in the file unless --bind-consoles, and says why', async () => {
    const p = file(
      'consoles.yml',
      'services:\n  vm:\n    image: x\n    ports:\n      - "0.0.0.0:6080:6080"\n      - {target: 5900, published: 5900, host_ip: "::"}\n',
    );
    const plain = await rampartAsync(['harden', p], { cwd: dir.dir });
    assert.match(plain.stdout, /- "0\.0\.0\.0:6080:6080"/);
    assert.match(
      plain.stderr,
      /consoles\.yml:5:9: critical console-not-public: vm publishes console port 6080 on every interface \(0\.0\.0\.0 is written in the file, so harden leaves it unless given --bind-consoles 127\.0\.0\.1\)/,
    );
    const bound = await rampartAsync(['harden', '--bind-consoles', '127.0.0.1', p], { cwd: dir.dir });
    assert.match(bound.stdout, /- "127\.0\.0\.1:6080:6080"/);
    assert.match(bound.stdout, /host_ip: "127\.0\.0\.1"/);
    assert.ok(!bound.stderr.includes('console-not-public: vm publishes'), bound.stderr);
    const bad = await rampartAsync(['harden', '--bind-consoles', '0.0.0.0', p], { cwd: dir.dir });
    assert.equal(bad.code, 2);
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

// Admission checks with real files: a hardened spec per input format passes clean; every check
// has a bad twin (the good spec with one thing changed) that fails with that check, at the line
// of the change. Hostile input gets a located error, never a crash or a silent pass.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CHECKS } from '../../src/admission/catalogue.js';
import { checkAll, EMPTY_POLICY, loadAdmissionPolicy, loadWorkloads } from '../../src/admission/engine.js';
import { RampartError } from '../../src/core/errors.js';
import { rampartAsync } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const FIX = join(import.meta.dirname, '..', '..', '..', 'test', 'admission', 'fixtures');
const fixture = (name: string): string => readFileSync(join(FIX, name), 'utf8');

function check(
  files: Record<string, string>,
  profile: 'default' | 'vm-runner' = 'default',
  policy = EMPTY_POLICY,
) {
  const dir = tempDir();
  try {
    const paths = Object.entries(files).map(([name, text]) => {
      writeFileSync(join(dir.dir, name), text);
      return join(dir.dir, name);
    });
    return checkAll(loadWorkloads(paths), { profile }, policy, new Date('2026-11-22T00:00:00Z'));
  } finally {
    dir.cleanup();
  }
}

const ids = (fs: { ruleId: string; suppressed?: unknown }[]): string[] =>
  [...new Set(fs.filter((f) => !f.suppressed).map((f) => f.ruleId))].sort();

describe('admission: good specs pass', () => {
  for (const [name, profile] of [
    ['compose-good.yml', 'default'],
    ['k8s-good.yaml', 'default'],
    ['docker-good.json', 'default'],
    ['vm-runner-hardened.yml', 'vm-runner'],
  ] as const)
    it(`${name} has no findings`, () => {
      assert.deepEqual(ids(check({ [name]: fixture(name) }, profile)), []);
    });
});

// Each: [check, the line in compose-good.yml to change, what it becomes].
const COMPOSE_BAD: [string, string, string][] = [
  ['no-privileged', '    read_only: true', '    read_only: true\n    privileged: true'],
  ['drop-all-capabilities', '    cap_drop: [ALL]', '    cap_drop: [NET_RAW]'],
  ['no-added-capabilities', '    cap_drop: [ALL]', '    cap_drop: [ALL]\n    cap_add: [SYS_ADMIN]'],
  [
    'seccomp-required',
    '      - no-new-privileges:true',
    '      - no-new-privileges:true\n      - seccomp=unconfined',
  ],
  ['apparmor-required', '      - apparmor=docker-default', '      - apparmor=unconfined'],
  ['no-new-privileges', '      - no-new-privileges:true', '      - label=disable'],
  ['read-only-rootfs', '    read_only: true', '    read_only: false'],
  ['run-as-non-root', '    user: "1000:1000"', '    user: "0"'],
  ['non-root-group', '    user: "1000:1000"', '    user: "1000:0"'],
  ['no-host-network', '    read_only: true', '    read_only: true\n    network_mode: host'],
  ['no-host-pid', '    read_only: true', '    read_only: true\n    pid: host'],
  ['no-host-ipc', '    read_only: true', '    read_only: true\n    ipc: host'],
  ['no-host-uts', '    read_only: true', '    read_only: true\n    uts: host'],
  ['no-host-userns', '    read_only: true', '    read_only: true\n    userns_mode: host'],
  ['no-host-mounts', '      - work:/workspace', '      - /etc:/host-etc:ro'],
  ['no-runtime-socket', '      - work:/workspace', '      - /run/containerd/containerd.sock:/c.sock'],
  ['devices-allowed', '    tmpfs: [/tmp]', '    tmpfs: [/tmp]\n    devices: [/dev/mem]'],
  [
    'no-shared-propagation',
    '      - work:/workspace',
    '      - type: bind\n        source: /srv/x\n        target: /x\n        bind: { propagation: rshared }',
  ],
  [
    'memory-limit',
    '        limits: { memory: 2g, cpus: "1", pids: 256 }',
    '        limits: { cpus: "1", pids: 256 }',
  ],
  [
    'cpu-limit',
    '        limits: { memory: 2g, cpus: "1", pids: 256 }',
    '        limits: { memory: 2g, pids: 256 }',
  ],
  [
    'pids-limit',
    '        limits: { memory: 2g, cpus: "1", pids: 256 }',
    '        limits: { memory: 2g, cpus: "1" }',
  ],
  ['console-not-public', '      - "127.0.0.1:8080:8080"', '      - "5901:5900"'],
  ['no-privileged-ports', '      - "127.0.0.1:8080:8080"', '      - "127.0.0.1:443:8080"'],
  [
    'no-secrets-in-env',
    '      LOG_LEVEL: info',
    '      LOG_LEVEL: info\n      AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEYx',
  ],
  ['secret-file-mode', '        mode: 0400', '        mode: 0644'],
  [
    'image-digest',
    '    image: ghcr.io/acme/agent@sha256:0f3d7a1c2b4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8',
    '    image: ghcr.io/acme/agent:1.2',
  ],
  ['safe-sysctls', '    read_only: true', '    read_only: true\n    sysctls: { kernel.msgmax: 65536 }'],
  [
    'bounded-restart',
    '      restart_policy: { condition: on-failure, max_attempts: 3 }',
    '      restart_policy: { condition: any }',
  ],
  [
    'healthcheck',
    '    healthcheck:\n      test: ["CMD", "/agent", "health"]',
    '    healthcheck:\n      disable: true',
  ],
  ['unresolved-variable', '    read_only: true', '    read_only: true\n    privileged: ${PRIV}'],
  [
    'no-unmasked-paths',
    '      - apparmor=docker-default',
    '      - apparmor=docker-default\n      - systempaths=unconfined',
  ],
  ['no-host-cgroupns', '    read_only: true', '    read_only: true\n    cgroup: host'],
  [
    'no-device-cgroup-rules',
    '    read_only: true',
    "    read_only: true\n    device_cgroup_rules: ['c 1:3 mr', 'a *:* rwm']",
  ],
  [
    'selinux-not-disabled',
    '      - apparmor=docker-default',
    '      - apparmor=docker-default\n      - label=disable',
  ],
  ['no-oom-kill-disable', '    read_only: true', '    read_only: true\n    oom_kill_disable: true'],
  ['no-shared-namespaces', '    read_only: true', '    read_only: true\n    pid: "container:db"'],
  ['no-cgroup-parent', '    read_only: true', '    read_only: true\n    cgroup_parent: /'],
];

// Compose casts the strings of boolean fields as the YAML 1.1 boolean type reads them
// (compose-go's toBoolean: y, yes, true, on; n, no, false, off; any case): a quoted "yes" is
// privileged. Each variant must give the finding a real `true` gives.
describe('admission: Compose values read as the Compose loader casts them', () => {
  const good = fixture('compose-good.yml');
  const variants = ['"yes"', '"on"', '"y"', '"TRUE"', "'Yes'", '"ON"', 'yes', 'on', 'true'];
  for (const v of variants)
    it(`privileged: ${v} is privileged`, () => {
      const found = check({
        'compose.yml': good.replace('    read_only: true', `    read_only: true\n    privileged: ${v}`),
      });
      assert.ok(ids(found).includes('no-privileged'), `got ${ids(found).join(', ')}`);
    });
  for (const v of ['"no"', '"off"', '"n"', '"FALSE"', 'no'])
    it(`read_only: ${v} is a writable root`, () => {
      const found = check({ 'compose.yml': good.replace('    read_only: true', `    read_only: ${v}`) });
      assert.ok(ids(found).includes('read-only-rootfs'), `got ${ids(found).join(', ')}`);
    });
  it('read_only: "yes" is a read-only root, and volume read_only: "on" a read-only mount', () => {
    const text = good
      .replace('    read_only: true', '    read_only: "yes"')
      .replace(
        '      - work:/workspace',
        '      - { type: bind, source: /dev/kvm, target: /dev/kvm, read_only: "on" }',
      );
    assert.deepEqual(ids(check({ 'compose.yml': text })), []);
  });
  it('oom_kill_disable and healthcheck.disable are cast too', () => {
    const found = check({
      'compose.yml': good
        .replace('    read_only: true', '    read_only: true\n    oom_kill_disable: "Y"')
        .replace('      test: ["CMD", "/agent", "health"]', '      disable: "yes"'),
    });
    assert.ok(ids(found).includes('no-oom-kill-disable'), ids(found).join(', '));
    assert.ok(ids(found).includes('healthcheck'), ids(found).join(', '));
  });
  it('a value Compose refuses is an input error at its position, not a silent pass', () => {
    const text = good.replace('    read_only: true', '    read_only: true\n    privileged: "maybe"');
    assert.throws(
      () => check({ 'compose.yml': text }),
      (e: unknown) =>
        /privileged: "maybe" is not a boolean/.test((e as Error).message) &&
        (e as { location?: { line: number } }).location?.line === 7,
    );
  });
  it('a variable in any field a check reads is a finding, never assumed safe', () => {
    for (const [from, to] of [
      ['    read_only: true', '    read_only: ${RO:-true}'],
      ['    read_only: true', '    read_only: true\n    cgroup: ${CG}'],
      ['    read_only: true', '    read_only: true\n    oom_kill_disable: $OOM'],
      [
        '        limits: { memory: 2g, cpus: "1", pids: 256 }',
        '        limits: { memory: 2g, cpus: "1", pids: "${PIDS}" }',
      ],
      [
        '    healthcheck:\n      test: ["CMD", "/agent", "health"]',
        '    healthcheck:\n      disable: ${NOHC}',
      ],
    ] as const) {
      const found = check({ 'compose.yml': good.replace(from, to) });
      assert.ok(ids(found).includes('unresolved-variable'), `${to}: got ${ids(found).join(', ')}`);
    }
  });
});

describe('admission: every check has a bad twin', () => {
  const good = fixture('compose-good.yml');
  for (const [id, from, to] of COMPOSE_BAD)
    it(id, () => {
      assert.ok(good.includes(from), `fixture has ${from}`);
      const text = good.replace(from, to);
      const line = text.slice(0, text.indexOf(to)).split('\n').length;
      const found = check({ 'compose.yml': text });
      const hit = found.find((f) => f.ruleId === id);
      assert.ok(hit, `${id} found; got ${ids(found).join(', ')}`);
      const lines = to.split('\n').length;
      // The finding points into the changed lines (or at the service when the change removed a setting).
      assert.ok(
        (hit.location!.line >= line && hit.location!.line < line + lines) || hit.location!.line === 3,
        `${id} at line ${hit.location!.line}, change at ${line}`,
      );
    });

  it('covers every check', () => {
    const covered = new Set([
      ...COMPOSE_BAD.map(([id]) => id),
      'swarm-console-host-mode',
      'swarm-ignored-field',
      'no-host-ports',
      'pss-volume-types',
      'pss-proc-mount',
      'pss-selinux',
      'pss-host-process',
      'encrypted-overlay',
      'approved-registry',
      'distroless-base',
      'no-publish-all',
    ]);
    assert.deepEqual(
      CHECKS.map((c) => c.id).filter((id) => !covered.has(id)),
      [],
    );
  });

  const k8s = fixture('k8s-good.yaml');
  for (const [id, from, to] of [
    ['pss-volume-types', '          emptyDir: {}', '          hostPath: { path: /var/log }'],
    [
      'pss-proc-mount',
      '            readOnlyRootFilesystem: true',
      '            readOnlyRootFilesystem: true\n            procMount: Unmasked',
    ],
    [
      'pss-selinux',
      '            readOnlyRootFilesystem: true',
      '            readOnlyRootFilesystem: true\n            seLinuxOptions: { type: spc_t }',
    ],
    [
      'pss-host-process',
      '            readOnlyRootFilesystem: true',
      '            readOnlyRootFilesystem: true\n            windowsOptions: { hostProcess: true }',
    ],
    [
      'no-host-ports',
      '          livenessProbe:',
      '          ports: [{ containerPort: 80, hostPort: 8080 }]\n          livenessProbe:',
    ],
    [
      'seccomp-required',
      '        seccompProfile: { type: RuntimeDefault }',
      '        seccompProfile: { type: Unconfined }',
    ],
    ['run-as-non-root', '        runAsUser: 1000', '        runAsUser: 0'],
    [
      'no-new-privileges',
      '            allowPrivilegeEscalation: false',
      '            allowPrivilegeEscalation: true',
    ],
    ['no-host-pid', '      hostUsers: false', '      hostUsers: false\n      hostPID: true'],
    [
      'no-added-capabilities',
      '            capabilities: { drop: [ALL] }',
      '            capabilities: { drop: [ALL], add: [SYS_PTRACE] }',
    ],
  ] as const)
    it(`kubernetes: ${id}`, () => {
      assert.ok(k8s.includes(from));
      assert.ok(ids(check({ 'k8s.yaml': k8s.replace(from, to) })).includes(id));
    });

  // Each: [check, what is added to the good Engine body's HostConfig].
  const ENGINE_BAD: [string, Record<string, unknown>][] = [
    ['no-publish-all', { PublishAllPorts: true }],
    ['no-unmasked-paths', { MaskedPaths: [] }],
    ['no-unmasked-paths', { ReadonlyPaths: ['/proc/bus'] }],
    ['no-unmasked-paths', { SecurityOpt: ['no-new-privileges:true', 'systempaths=unconfined'] }],
    ['no-host-cgroupns', { CgroupnsMode: 'host' }],
    ['no-device-cgroup-rules', { DeviceCgroupRules: ['a *:* rwm'] }],
    ['no-oom-kill-disable', { OomKillDisable: true }],
    ['no-shared-namespaces', { VolumesFrom: ['db:ro'] }],
    ['no-shared-namespaces', { PidMode: 'container:db' }],
    ['no-cgroup-parent', { CgroupParent: '/' }],
    ['devices-allowed', { DeviceRequests: [{ Driver: 'nvidia', Count: -1, Capabilities: [['gpu']] }] }],
    ['selinux-not-disabled', { SecurityOpt: ['no-new-privileges:true', 'label:disable'] }],
  ];
  for (const [id, extra] of ENGINE_BAD)
    it(`docker engine: ${id} from ${Object.keys(extra)[0]}`, () => {
      const body = JSON.parse(fixture('docker-good.json')) as { HostConfig: Record<string, unknown> };
      Object.assign(body.HostConfig, extra);
      assert.ok(
        ids(check({ 'create.json': JSON.stringify(body) })).includes(id),
        ids(check({ 'create.json': JSON.stringify(body) })).join(', '),
      );
    });

  it('swarm: console ports on the routing mesh, and security settings stack deploy ignores', () => {
    const stack = `services:\n  vnc:\n    image: x@sha256:${'a'.repeat(64)}\n    security_opt: [no-new-privileges:true]\n    ports:\n      - "127.0.0.1:5900:5900"\n    deploy:\n      replicas: 1\nnetworks:\n  mesh:\n    driver: overlay\n`;
    const found = check({ 'stack.yml': stack });
    const got = ids(found);
    for (const id of ['swarm-console-host-mode', 'swarm-ignored-field', 'no-new-privileges'])
      assert.ok(got.includes(id), id);
    const ignored = found.find((f) => f.ruleId === 'swarm-ignored-field')!;
    assert.equal(ignored.location!.line, 4);
    assert.match(ignored.message, /security_opt is ignored by docker stack deploy/);
    const net = `services:\n  a:\n    image: x\n    networks: [mesh]\nnetworks:\n  mesh:\n    driver: overlay\n`;
    assert.ok(ids(check({ 's.yml': net })).includes('encrypted-overlay'));
  });

  it('registries and distroless bases come from the policy', () => {
    const dir = tempDir();
    try {
      writeFileSync(
        join(dir.dir, 'p.yaml'),
        'registries: [ghcr.io/acme]\ndistroless: [gcr.io/distroless/]\n',
      );
      const policy = loadAdmissionPolicy(join(dir.dir, 'p.yaml'));
      const got = ids(
        check(
          { 'c.yml': fixture('compose-good.yml').replace('ghcr.io/acme/agent', 'docker.io/evil/agent') },
          'default',
          policy,
        ),
      );
      assert.ok(got.includes('approved-registry') && got.includes('distroless-base'));
      assert.ok(
        !ids(check({ 'c.yml': fixture('compose-good.yml') }, 'default', policy)).includes(
          'approved-registry',
        ),
      );
    } finally {
      dir.cleanup();
    }
  });
});

describe('admission: Compose merging, exceptions, the VM runner', () => {
  it('merges a Compose file with its override and points at the file that set the value', () => {
    const found = check({
      // The override first: it is applied after its base whatever the order given.
      'compose.override.yml': 'services:\n  agent:\n    privileged: true\n    cap_add: [SYS_ADMIN]\n',
      'compose.yml': fixture('compose-good.yml'),
    });
    const priv = found.find((f) => f.ruleId === 'no-privileged')!;
    assert.match(priv.location!.file, /compose\.override\.yml$/);
    assert.equal(priv.location!.line, 3);
    assert.ok(found.some((f) => f.ruleId === 'no-added-capabilities'));
    assert.ok(!found.some((f) => f.ruleId === 'drop-all-capabilities'), 'cap_drop from a.yml still applies');
  });

  it('applies YAML merge keys (<<) as Compose does: explicit keys win, findings point at the anchor', () => {
    const found = check({
      'm.yml': [
        'x-base: &base',
        '  privileged: true',
        '  read_only: true',
        'services:',
        '  a:',
        '    <<: *base',
        '    read_only: false',
        '    image: alpine',
        '',
      ].join('\n'),
    });
    const priv = found.find((f) => f.ruleId === 'no-privileged')!;
    assert.equal(priv.location!.line, 2, 'the merged value is reported where the anchor sets it');
    assert.equal(found.find((f) => f.ruleId === 'read-only-rootfs')!.location!.line, 7);
  });

  it('reads Swarm ServiceSpec JSON: the good one is clean, each weakening is found', () => {
    assert.deepEqual(ids(check({ 'svc.json': fixture('swarm-service-good.json') })), []);
    const spec = JSON.parse(fixture('swarm-service-good.json'));
    spec.TaskTemplate.ContainerSpec.Privileges = {
      Seccomp: { Mode: 'unconfined' },
      AppArmor: { Mode: 'disabled' },
    };
    spec.TaskTemplate.ContainerSpec.Secrets[0].File.Mode = 0o644;
    spec.TaskTemplate.ContainerSpec.Mounts = [{ Type: 'bind', Source: '/var/run/docker.sock', Target: '/s' }];
    spec.TaskTemplate.RestartPolicy = { Condition: 'any', MaxAttempts: 0 };
    spec.TaskTemplate.Networks = [{ Target: 'host' }];
    spec.EndpointSpec.Ports.push({ TargetPort: 5901, PublishedPort: 5901, PublishMode: 'ingress' });
    assert.deepEqual(ids(check({ 'svc.json': JSON.stringify(spec, null, 2) })), [
      'apparmor-required',
      'bounded-restart',
      'no-host-network',
      'no-new-privileges',
      'no-runtime-socket',
      'seccomp-required',
      'secret-file-mode',
      'swarm-console-host-mode',
    ]);
  });

  it('runs custom CEL checks from the policy; a broken expression is a located load error', () => {
    const dir = tempDir();
    try {
      const pol = join(dir.dir, 'p.yaml');
      writeFileSync(
        pol,
        [
          'checks:',
          '  - id: team-label',
          '    severity: medium',
          '    scope: workload',
          '    message: has no team label',
          '    when: \'workload.platform == "kubernetes" && !("team" in workload.spec.metadata.labels)\'',
          '  - id: no-shell-images',
          '    severity: low',
          '    message: runs a shell image',
          '    when: container.image.startsWith("busybox") || container.image.startsWith("alpine")',
          '  - id: needs-guard',
          '    severity: low',
          '    message: never true',
          '    when: container.spec.missing == 1',
          '',
        ].join('\n'),
      );
      const policy = loadAdmissionPolicy(pol);
      const found = check(
        {
          'k.yaml':
            'apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: x}}\nspec:\n  containers: [{name: c, image: busybox}]\n',
        },
        'default',
        policy,
      );
      const byId = (id: string) => found.filter((f) => f.ruleId === id);
      assert.equal(byId('team-label').length, 1);
      assert.equal(byId('team-label')[0]!.severity, 'medium');
      assert.match(byId('no-shell-images')[0]!.message, /p\/c: runs a shell image/);
      // Evaluation errors are findings, never a pass.
      assert.match(byId('custom-check-error')[0]!.message, /custom check needs-guard could not be evaluated/);

      writeFileSync(
        pol,
        'checks:\n  - id: broken\n    severity: high\n    message: x\n    when: container.image +\n',
      );
      assert.throws(
        () => loadAdmissionPolicy(pol),
        (e: RampartError) =>
          e.code === 'RAMPART_E_ADMISSION_INPUT' &&
          e.location?.line === 5 &&
          /custom check broken: when:/.test(e.message),
      );
      writeFileSync(
        pol,
        'checks:\n  - id: no-privileged\n    severity: high\n    message: x\n    when: "true"\n',
      );
      assert.throws(() => loadAdmissionPolicy(pol), /already taken/);
    } finally {
      dir.cleanup();
    }
  });

  it('the bad VM runner fails the checklist; an exception needs justification, approver and a future expiry', () => {
    const bad = ids(check({ 'vm.yml': fixture('vm-runner-bad.yml') }, 'vm-runner'));
    for (const id of [
      'no-privileged',
      'no-added-capabilities',
      'console-not-public',
      'no-secrets-in-env',
      'no-host-mounts',
      'run-as-non-root',
    ])
      assert.ok(bad.includes(id), id);
    assert.ok(!bad.includes('devices-allowed'), '/dev/kvm and /dev/net/tun are allowed for VM runners');
    assert.ok(
      ids(check({ 'vm.yml': fixture('vm-runner-bad.yml') })).includes('devices-allowed'),
      'but not by default',
    );
    const dir = tempDir();
    try {
      writeFileSync(
        join(dir.dir, 'p.yaml'),
        [
          'exceptions:',
          '  - check: no-added-capabilities',
          '    target: vm-runner',
          '    value: NET_ADMIN',
          '    justification: TAP devices cannot be pre-created on the shared CI hosts yet',
          '    approver: security@acme.test',
          '    expires: 2027-03-31',
          '  - check: console-not-public',
          '    target: vm-runner',
          '    approver: bob',
          '    expires: 2027-01-01',
          '  - check: no-privileged',
          '    target: vm-runner',
          '    justification: legacy',
          '    approver: bob',
          '    expires: 2026-01-01',
          '',
        ].join('\n'),
      );
      const found = check(
        { 'vm.yml': fixture('vm-runner-bad.yml') },
        'vm-runner',
        loadAdmissionPolicy(join(dir.dir, 'p.yaml')),
      );
      assert.ok(found.find((f) => f.ruleId === 'no-added-capabilities')!.suppressed);
      assert.ok(
        !found.find((f) => f.ruleId === 'console-not-public')!.suppressed,
        'no justification: not applied',
      );
      assert.ok(!found.find((f) => f.ruleId === 'no-privileged')!.suppressed, 'expired: not applied');
      const invalid = found.filter((f) => f.ruleId === 'exception-invalid').map((f) => f.message);
      assert.equal(invalid.length, 2);
      assert.match(invalid.join('\n'), /has no justification/);
      assert.match(invalid.join('\n'), /expired on 2026-01-01/);
    } finally {
      dir.cleanup();
    }
  });

  it('an exception allows the value it names, not the whole check', () => {
    // Excepting NET_ADMIN once hid SYS_ADMIN on the same service too.
    const dir = tempDir();
    try {
      const policy = (value: string | undefined): string =>
        [
          'exceptions:',
          '  - check: no-added-capabilities',
          '    target: runner',
          ...(value === undefined ? [] : [`    value: ${value}`]),
          '    justification: TAP devices',
          '    approver: security@acme.test',
          '    expires: 2027-03-31',
          '',
        ].join('\n');
      const spec = { 'c.yml': 'services:\n  runner:\n    image: x\n    cap_add: [NET_ADMIN, SYS_ADMIN]\n' };
      const run = (value: string | undefined) => {
        writeFileSync(join(dir.dir, 'p.yaml'), policy(value));
        return check(spec, 'default', loadAdmissionPolicy(join(dir.dir, 'p.yaml'))).filter(
          (f) => f.ruleId === 'no-added-capabilities' || f.ruleId === 'exception-invalid',
        );
      };
      const named = run('NET_ADMIN');
      assert.deepEqual(
        named.map((f) => [
          f.ruleId,
          /NET_ADMIN/.test(f.message) ? 'NET_ADMIN' : 'SYS_ADMIN',
          Boolean(f.suppressed),
        ]),
        [
          ['no-added-capabilities', 'NET_ADMIN', true],
          ['no-added-capabilities', 'SYS_ADMIN', false],
        ],
      );
      const none = run(undefined);
      assert.ok(none.filter((f) => f.ruleId === 'no-added-capabilities').every((f) => !f.suppressed));
      assert.match(none.find((f) => f.ruleId === 'exception-invalid')!.message, /names no value/);
      assert.ok(
        run('"*"')
          .filter((f) => f.ruleId === 'no-added-capabilities')
          .every((f) => f.suppressed),
        'value: * covers the check',
      );
    } finally {
      dir.cleanup();
    }
  });
});

describe('admission: hostile and broken input', () => {
  const error = (files: Record<string, string>): RampartError => {
    try {
      check(files);
    } catch (e) {
      assert.ok(e instanceof RampartError, String(e));
      assert.equal(e.code, 'RAMPART_E_ADMISSION_INPUT');
      return e;
    }
    assert.fail('no error');
  };

  it('stops an alias bomb within bounded work', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++)
      bomb.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(',')}]`,
      );
    const t0 = performance.now();
    const e = error({
      'bomb.yml': `services:\n  x:\n    image: y\n${bomb.map((l) => '    ' + l.replace(/^(\w): /, 'x-$1: ')).join('\n')}\n`,
    });
    assert.match(e.message, /expands to more than/);
    assert.ok(performance.now() - t0 < 5000);
  });

  it('refuses deep nesting, oversized files, wrong types and unknown documents, with positions', () => {
    assert.match(
      error({ 'deep.yml': 'services:\n  x: ' + '['.repeat(100) + ']'.repeat(100) + '\n' }).message,
      /nested deeper than 64 levels/,
    );
    const big = error({ 'big.yml': 'services:\n  x:\n    image: "' + 'a'.repeat(17 * 1024 * 1024) + '"\n' });
    assert.match(big.message, /larger than the 16 MiB limit/);
    const typed = error({ 'typed.yml': 'services:\n  x:\n    image: y\n    cap_add: SYS_ADMIN\n' });
    assert.match(typed.message, /cap_add must be a list/);
    assert.equal(typed.location?.line, 4);
    assert.match(error({ 'what.yml': 'hello: world\n' }).message, /not a Compose file/);
    const syntax = error({ 'bad.yml': 'services:\n  x: [unclosed\n' });
    assert.ok(syntax.location && syntax.location.line >= 2);
  });
});

describe('rampart check', () => {
  it('reports like a compiler, exits 1 on findings, 0 when clean, 2 on bad input', async () => {
    const bad = await rampartAsync(['check', join(FIX, 'vm-runner-bad.yml')], { cwd: FIX });
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /vm-runner-bad\.yml:6:17: critical no-privileged: vm-runner is privileged/);
    const good = await rampartAsync(['check', join(FIX, 'compose-good.yml'), '--fail-on', 'info'], {
      cwd: FIX,
    });
    assert.equal(good.code, 0, good.stdout + good.stderr);
    const onlyHigh = await rampartAsync(['check', '--fail-on', 'critical', join(FIX, 'compose-good.yml')], {
      cwd: FIX,
    });
    assert.equal(onlyHigh.code, 0);
    const broken = await rampartAsync(['check', join(FIX, 'nope.yml')], { cwd: FIX });
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /RAMPART_E_ADMISSION_INPUT/);
  });

  it('writes SARIF 2.1.0 and a PolicyReport', async () => {
    const sarif = JSON.parse(
      (await rampartAsync(['check', '--format', 'sarif', join(FIX, 'vm-runner-bad.yml')], { cwd: FIX }))
        .stdout,
    );
    assert.equal(sarif.version, '2.1.0');
    const results = sarif.runs[0].results as {
      ruleId: string;
      locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } } }[];
    }[];
    const priv = results.find((r) => r.ruleId === 'no-privileged')!;
    assert.equal(priv.locations[0]!.physicalLocation.artifactLocation.uri, 'vm-runner-bad.yml');
    assert.equal(priv.locations[0]!.physicalLocation.region.startLine, 6);
    const report = JSON.parse(
      (
        await rampartAsync(['check', '--format', 'policy-report', join(FIX, 'vm-runner-bad.yml')], {
          cwd: FIX,
        })
      ).stdout,
    );
    assert.equal(report.apiVersion, 'wgpolicyk8s.io/v1alpha2');
    assert.equal(report.kind, 'PolicyReport');
    assert.ok(report.summary.fail > 0);
    assert.ok(
      report.results.every((r: { severity: string }) =>
        ['critical', 'high', 'medium', 'low', 'info'].includes(r.severity),
      ),
    );
  });
});

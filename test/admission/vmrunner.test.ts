// A hardened VM runner must start. `rampart harden --profile vm-runner` gives the runner a
// non-root user and a read-only root; before, that left a runner that could neither open
// /dev/kvm nor write its pid file. Here the hardened file is validated by Debian's docker-compose
// (`config`) and run by it against a real dockerd: the runner opens the KVM device as its
// non-root user and writes under /run and /tmp.
//
// The device is a node made for the test (the real KVM driver's major and minor, a group of the
// test's own, mode 0660), so the host's /dev/kvm is left as it is.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rampartAsync } from '../support/cli.js';
import { KVM_DEVICE, kvmSkip } from '../support/kvm.js';
import { dockerSkip, importBusybox, startDockerd, type Dockerd } from '../support/docker.js';
import { tempDir, type TempDir } from '../support/tmp.js';

const KVM_GROUP = 4242;

function composeSkip(): string | false {
  const docker = dockerSkip();
  if (docker) return docker;
  const why = existsSync('/usr/bin/docker-compose') ? false : 'docker-compose is not installed';
  if (why && process.env['CI'] === 'true') throw new Error(`CI=true but ${why}`);
  return why ? `VM runner tests skipped: ${why}` : false;
}

/** The runner opens a real KVM device: a machine whose kernel has none cannot run it. */
function kvmDeviceSkip(): string | false {
  const why = kvmSkip();
  return why ? `opening the device needs KVM: ${why}` : false;
}

describe('a hardened VM runner runs under docker-compose', { skip: composeSkip() }, () => {
  let d: Dockerd;
  let dir: TempDir;
  const compose = (args: string[]): Promise<{ code: number; out: string }> =>
    new Promise((resolve) => {
      const p = spawn('docker-compose', ['-p', 'rampartvm', ...args], {
        cwd: dir.dir,
        env: { ...process.env, DOCKER_HOST: d.host },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      p.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      p.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
      p.on('close', (code) => resolve({ code: code ?? -1, out }));
    });
  const kvm = (name: string, mode: number): string => {
    const p = join(dir.dir, name);
    const made = spawnSync('mknod', [p, 'c', String(KVM_DEVICE.major), String(KVM_DEVICE.minor)]);
    assert.equal(made.status, 0, String(made.stderr));
    chownSync(p, 0, KVM_GROUP);
    chmodSync(p, mode);
    return p;
  };
  const runner = (device: string): string =>
    [
      '# A QEMU runner as it is often first written: the KVM device and the VNC console.',
      'services:',
      '  vm-runner:',
      '    image: rampart-test/busybox:1',
      '    devices:',
      `      - ${device}:/dev/kvm`,
      '    ports:',
      '      - "5900:5900"   # VNC',
      '    command: ["sh", "-c", "exec 3<>/dev/kvm && echo 1 > /run/qemu.pid && echo d > /tmp/disk && echo RUNNER-OK"]',
      '',
    ].join('\n');

  before(async () => {
    dir = tempDir();
    chmodSync(dir.dir, 0o755);
    d = await startDockerd();
    await importBusybox(d);
  });
  after(async () => {
    await compose(['-f', 'hardened.yml', 'down', '--timeout', '0']);
    await d.stop();
    dir.cleanup();
  });

  it(
    'opens /dev/kvm as its non-root user and writes its pid and temporary files',
    { skip: kvmDeviceSkip() },
    async () => {
      writeFileSync(join(dir.dir, 'vm.yml'), runner(kvm('kvm', 0o660)));
      const h = await rampartAsync(['harden', '--profile', 'vm-runner', '-o', 'hardened.yml', 'vm.yml'], {
        cwd: dir.dir,
      });
      assert.match(h.stderr, new RegExp(`fixed run-as-non-root: vm-runner: group_add ${KVM_GROUP}`));
      assert.match(h.stderr, /fixed read-only-rootfs: vm-runner: tmpfs \/run/);
      const config = await compose(['-f', 'hardened.yml', 'config', '-q']);
      assert.equal(config.code, 0, config.out);
      const up = await compose(['-f', 'hardened.yml', 'up', '--exit-code-from', 'vm-runner']);
      assert.equal(up.code, 0, up.out);
      assert.match(up.out, /RUNNER-OK/);
      // And it is the hardened runner that ran: non-root, read-only, nothing added.
      const inspect = await d.docker([
        'inspect',
        '--format',
        '{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.PidsLimit}}',
        'rampartvm_vm-runner_1',
      ]);
      assert.equal(inspect.stdout.trim(), '65532:65532 true [ALL] 256');
    },
  );

  it('says what to give it when the device is open to no group on this host', async () => {
    writeFileSync(join(dir.dir, 'closed.yml'), runner(kvm('kvm-closed', 0o600)));
    const h = await rampartAsync(['harden', '--profile', 'vm-runner', 'closed.yml'], { cwd: dir.dir });
    assert.match(
      h.stderr,
      /not changed run-as-non-root: vm-runner: group_add for \/dev\/kvm: .* give --kvm-group/,
    );
    const given = await rampartAsync(
      ['harden', '--profile', 'vm-runner', '--kvm-group', '993', 'closed.yml'],
      {
        cwd: dir.dir,
      },
    );
    assert.match(given.stdout, /group_add:\n\s+- "993"/);
  });
});

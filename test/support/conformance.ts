// The conformance suite every runtime runs: what a run is promised does not depend on where it
// runs. bwrap runs on this host's bubblewrap; docker and swarm on a private Docker Engine
// (Debian's dockerd 20.10) with a busybox image imported for the test and approved by its id.
// Commands are busybox's, which all have (the bwrap sandbox sees the host's /bin/busybox).
//
// Each case asserts what would fail if the runtime broke the promise: the exit code and output,
// the identity and confinement of the process, read-only root, secrets and token as 0400 files
// and never in the environment, no network without a channel, the process, memory and time
// limits, and kill and quarantine from another process's service (the control plane's path).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { kvmSkip } from './kvm.js';
import type { SandboxHarness } from './sandbox.js';

const PROBE_SOURCE = fileURLToPath(new URL('../../../test/support/probe.c', import.meta.url));

const sh = (script: string): string[] => ['/bin/busybox', 'sh', '-c', script];

/** A group id no account here uses, for /dev/kvm while the test runs. */
const KVM_TEST_GID = 4244;

export interface Runtime {
  readonly name: 'bwrap' | 'docker' | 'swarm';
  readonly skip: string | false;
  setup(): Promise<{ harness: SandboxHarness; stop: () => Promise<void> }>;
}

export function conformance(rt: Runtime): void {
  describe(`runtime conformance: ${rt.name}`, { skip: rt.skip }, () => {
    let h: SandboxHarness;
    let stop: () => Promise<void>;
    let server: Server;
    let port: number;
    let probe: string;
    before(async () => {
      ({ harness: h, stop } = await rt.setup());
      // The syscall probe (probe.c), static so it runs in any image; never run it outside a run.
      probe = join(h.dir.dir, 'probe');
      execFileSync('cc', ['-static', '-O1', '-o', probe, PROBE_SOURCE]);
      // A service on the host's loopback that no run may reach.
      server = createServer((_q, r) => r.end('HOST-SERVICE-ANSWERED'));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    });
    after(async () => {
      server.close();
      h.cleanup();
      await stop();
    });

    it("exits with the command's code and passes its output", async () => {
      const r = await h.run({ command: sh('echo out; echo err >&2; exit 3') });
      assert.equal(r.exitCode, 3);
      assert.equal(r.reason, 'exited');
      assert.equal(r.stdout, 'out\n');
      assert.equal(r.stderr, 'err\n');
    });

    it('runs unprivileged: not root, no capabilities, no-new-privileges, seccomp filtering', async () => {
      const r = await h.run({
        command: sh(
          'busybox id -u; busybox grep -E "^(CapEff|CapPrm|NoNewPrivs|Seccomp):" /proc/self/status',
        ),
      });
      const [uid, ...status] = r.stdout.trim().split('\n');
      assert.notEqual(uid, '0');
      assert.deepEqual(Object.fromEntries(status.map((l) => l.split(/:\s+/))), {
        CapPrm: '0000000000000000',
        CapEff: '0000000000000000',
        NoNewPrivs: '1',
        Seccomp: '2',
      });
    });

    it('cannot write the root filesystem; can write the workspace and /tmp', async () => {
      const r = await h.run({
        command: sh(
          'busybox touch /etc/rampart-x 2>/dev/null && echo ROOT-WRITABLE; echo a > /workspace/f && echo ws-ok; echo b > /tmp/f && echo tmp-ok',
        ),
      });
      assert.equal(r.stdout, 'ws-ok\ntmp-ok\n');
    });

    it('gets secrets and its token as 0400 files, never in the environment', async () => {
      const r = await h.run({
        command: sh(
          'busybox stat -c %a /run/secrets/api /run/rampart/token; cat /run/secrets/api; echo; cat /run/rampart/token; echo; echo $RAMPART_TOKEN_FILE; busybox env | busybox grep -c -e SECRET-VALUE -e TOKEN-VALUE; busybox grep -c -e SECRET-VALUE -e TOKEN-VALUE /proc/1/environ',
        ),
        secrets: new Map([['api', Buffer.from('SECRET-VALUE-123')]]),
        token: Buffer.from('TOKEN-VALUE-456'),
      });
      assert.equal(r.stdout, '400\n400\nSECRET-VALUE-123\nTOKEN-VALUE-456\n/run/rampart/token\n0\n0\n');
    });

    it(
      'finds files planted in its home (honeytokens) as its own 0600 files',
      { skip: rt.name === 'swarm' && 'not planted on swarm' },
      async () => {
        const r = await h.run({
          command: sh('busybox stat -c "%a %u" ~/.aws/credentials ~/.aws ~/.env; busybox id -u; cat ~/.env'),
          homeFiles: new Map([
            ['.aws/credentials', Buffer.from('[default]\naws_access_key_id = AKIADECOY\n')],
            ['.env', Buffer.from('DATABASE_URL=decoy')],
          ]),
        });
        const lines = r.stdout.trim().split('\n');
        const uid = lines[3]!;
        assert.deepEqual(lines.slice(0, 3), [`600 ${uid}`, `700 ${uid}`, `600 ${uid}`]);
        assert.equal(lines[4], 'DATABASE_URL=decoy');
      },
    );

    it("has no network without an egress channel: not even the host's loopback", async () => {
      const r = await h.run({
        command: sh(
          `busybox wget -T 2 -q -O- http://127.0.0.1:${port}/; busybox wget -T 2 -q -O- http://169.254.169.254/; echo done`,
        ),
      });
      assert.ok(!r.stdout.includes('HOST-SERVICE-ANSWERED'), r.stdout);
      assert.match(r.stdout, /done\n$/);
    });

    it('cannot ptrace, mount, unshare, setns, load modules, use keyctl, bpf, perf, io_uring or chroot', async () => {
      const ws = h.workspace();
      copyFileSync(probe, join(ws, 'probe'));
      chmodSync(join(ws, 'probe'), 0o755);
      const r = await h.run({ workspace: ws, command: ['/workspace/probe'] });
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 13, r.stdout + r.stderr);
      for (const l of lines) {
        const [name, rc, errno] = l.split(' ');
        assert.equal(rc, '-1', `${name} succeeded`);
        assert.equal(errno, '1', `${name}: errno ${errno}, not EPERM`);
      }
    });

    it("cannot read the host's files: root's, Rampart's data, the Engine's socket", async () => {
      writeFileSync(join(h.dataDir, 'host-secret'), 'HOST-SECRET', { mode: 0o600 });
      const r = await h.run({
        command: sh(
          `for p in /etc/shadow /root ${h.dataDir}/host-secret /var/run/docker.sock /run/docker.sock; do cat $p 2>/dev/null | busybox grep -q . && echo READ $p; done; echo done`,
        ),
      });
      assert.equal(r.stdout, 'done\n');
    });

    it('cannot mount, unshare or enter another namespace', async () => {
      const r = await h.run({
        command: sh(
          'busybox unshare -U true 2>/dev/null && echo UNSHARE-OK; busybox mount -t tmpfs none /tmp 2>/dev/null && echo MOUNT-OK; busybox nsenter -t 1 -m true 2>/dev/null && echo NSENTER-OK; echo checked',
        ),
      });
      assert.equal(r.stdout, 'checked\n');
    });

    it('stops a fork bomb at the process limit, and nothing survives the run', async () => {
      const r = await h.run({
        pids: 32,
        command: sh('i=0; while [ $i -lt 100 ]; do busybox sleep 60 & i=$((i+1)); done; echo looped'),
      });
      assert.match(r.stderr, /fork|Resource temporarily unavailable/i);
      // Under cgroup v1 a Docker container's own group counts the hit, and the Engine removes it
      // the moment the container exits: Rampart reports what it read while the run lived.
      if (rt.name === 'bwrap') assert.ok(r.stats.pidsLimitHit, 'the pids limit was hit');
      assert.ok(r.durationMs < 20_000, `ended in ${r.durationMs} ms, not when the sleeps would`);
    });

    it('is killed at its memory limit, and says so', async () => {
      const r = await h.run({
        memoryBytes: 64 << 20,
        command: sh(
          'busybox head -c 300000000 /dev/zero | busybox tail -c 250000000 > /dev/null; echo survived',
        ),
      });
      assert.ok(r.stats.oomKilled || r.stats.memoryLimitHit, JSON.stringify(r.stats));
      assert.ok(!r.stdout.includes('survived') || r.stats.oomKilled, r.stdout);
    });

    it('cannot outlive its timeout, even ignoring SIGTERM', async () => {
      const r = await h.run({ timeoutMs: 1000, command: sh('trap "" TERM; busybox sleep 30; echo late') });
      assert.equal(r.reason, 'timeout');
      assert.ok(r.durationMs < 10_000, `ended in ${r.durationMs} ms`);
      assert.ok(!r.stdout.includes('late'));
    });

    it(
      'opens /dev/kvm with the vm-runner profile as its unprivileged user, and not without it',
      {
        skip: kvmSkip(),
      },
      async () => {
        // A host gives /dev/kvm to a group (Debian: kvm, 0660); this machine's is root's alone, so
        // the test gives it a group of its own for its duration and puts it back.
        const st = statSync('/dev/kvm');
        chownSync('/dev/kvm', st.uid, KVM_TEST_GID);
        chmodSync('/dev/kvm', 0o660);
        try {
          const open =
            '[ -c /dev/kvm ] && exec 3<>/dev/kvm 2>/dev/null && echo KVM-OPEN; busybox id -u; echo done';
          const vm = await h.run({ profile: 'vm-runner', memoryBytes: 256 << 20, command: sh(open) });
          const [opened, uid] = vm.stdout.split('\n');
          assert.equal(opened, 'KVM-OPEN', vm.stderr);
          assert.notEqual(uid, '0');
          const plain = await h.run({ command: sh(open) });
          assert.ok(!plain.stdout.includes('KVM-OPEN'), 'the default profile has no /dev/kvm');
        } finally {
          chownSync('/dev/kvm', st.uid, st.gid);
          chmodSync('/dev/kvm', st.mode & 0o7777);
        }
      },
    );

    it('cannot open a raw or packet socket', async () => {
      const r = await h.run({
        command: sh('busybox arping -c 1 -w 1 -I lo 127.0.0.1 2>&1; echo done'),
      });
      assert.match(r.stdout, /not permitted|denied/i);
      assert.ok(!/Received [1-9]|reply from/i.test(r.stdout), r.stdout);
    });

    it('cannot fill the host: a file past the memory limit in /tmp fails', async () => {
      const r = await h.run({
        memoryBytes: 64 << 20,
        command: sh(
          'busybox dd if=/dev/zero of=/tmp/fill bs=1M count=200 2>/dev/null; busybox ls -l /tmp/fill | busybox awk "{print \\$5}"; echo done',
        ),
      });
      // The run's tmpfs pages are charged to its memory group: the write stops (or the run is
      // killed) well before 200 MiB.
      const size = Number(r.stdout.split('\n')[0]);
      assert.ok(!(size >= 200 << 20), `wrote ${size} bytes`);
    });

    it('cannot reach another run: not its network, its files or its processes', async () => {
      const ws = h.workspace();
      const spec = h.svc.prepare({
        agent: 'first',
        workspace: ws,
        command: sh(
          'echo private > /workspace/mine; echo up; busybox nc -l -p 9000 -e /bin/busybox echo ANSWERED',
        ),
        stdio: 'pipe',
      });
      const first = await h.start(spec);
      await new Promise<void>((r) => first.stdout.once('data', () => r()));
      const r = await h.run({
        command: sh(
          `busybox nc -w 2 127.0.0.1 9000 < /dev/null; cat ${ws}/mine 2>/dev/null; busybox ls /workspace/..; busybox ps -o pid,comm | busybox grep -c nc; echo done`,
        ),
      });
      assert.ok(!r.stdout.includes('ANSWERED'), 'reached the other run on 127.0.0.1:9000');
      assert.ok(!r.stdout.includes('private'), "read the other run's workspace");
      assert.match(r.stdout, /^0$/m, "sees the other run's processes");
      h.twin().kill(spec.id, 0);
      await first.done;
      await first.cleaned();
      h.svc.uids.release(spec.uid);
    });

    it("is killed from another process's service (the control plane's path)", async () => {
      const spec = h.svc.prepare({
        agent: 'tester',
        workspace: h.workspace(),
        command: sh('echo up; busybox sleep 60'),
        stdio: 'pipe',
      });
      const run = await h.start(spec);
      await new Promise<void>((r) => run.stdout.once('data', () => r()));
      assert.ok(h.twin().running().includes(spec.id), 'listed by another service');
      assert.ok(h.twin().kill(spec.id, 0));
      const result = await run.done;
      await run.cleaned();
      h.svc.uids.release(spec.uid);
      assert.equal(result.signal, 'SIGKILL');
      assert.ok(result.durationMs < 30_000);
    });

    it('is quarantined from another process: frozen, evidence captured, then ended', async () => {
      const ws = h.workspace();
      const spec = h.svc.prepare({
        agent: 'tester',
        workspace: ws,
        command: sh('echo planted > /workspace/payload; echo up; busybox sleep 60'),
        stdio: 'pipe',
      });
      const run = await h.start(spec);
      await new Promise<void>((r) => run.stdout.once('data', () => r()));
      const evidence = await h.twin().quarantine(spec.id, ws);
      const result = await run.done;
      await run.cleaned();
      h.svc.uids.release(spec.uid);
      assert.ok(evidence, 'evidence captured');
      assert.ok(evidence.processes >= 1, `processes: ${evidence.processes}`);
      assert.equal(evidence.kept, 1, 'the workspace file is kept');
      assert.match(evidence.sha256, /^[0-9a-f]{64}$/);
      assert.equal(result.signal, 'SIGKILL');
    });
  });
}

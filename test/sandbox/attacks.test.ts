// Attacks from inside a real sandbox (bubblewrap, seccomp, cgroups on this machine): each
// attempt must fail, and each test would pass the attack if the control it checks were gone.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  readFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sandboxHarness, sandboxSkip, type SandboxHarness } from '../support/sandbox.js';
import { until } from '../support/wait.js';

const skip = sandboxSkip();

/** A process and all its descendants, from /proc (as the host sees them). */
const descendants = (root: number): number[] => {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'latin1');
      parent.set(Number(d), Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parent) if (pp === out[i]) out.push(pid);
  return out;
};

/** Python inside the sandbox, printing one line per probe. */
const py = (code: string): string[] => ['python3', '-c', code];

describe('sandbox attacks', { skip }, () => {
  let h: SandboxHarness;
  let hostServer: Server;
  let hostPort = 0;
  before(async () => {
    h = sandboxHarness();
    hostServer = createServer((s) => s.end('host service\n'));
    await new Promise<void>((r) => hostServer.listen(0, '127.0.0.1', r));
    hostPort = (hostServer.address() as { port: number }).port;
  });
  after(() => {
    hostServer.close();
    h.cleanup();
  });

  it('runs a command as a non-root user with no capabilities, no-new-privs and seccomp', async () => {
    const r = await h.run({
      command: [
        'sh',
        '-c',
        'id -u; id -g; grep -E "^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp):" /proc/self/status; exit 7',
      ],
    });
    assert.equal(r.exitCode, 7);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 2), ['1000', '1000']);
    assert.match(r.stdout, /CapEff:\s+0000000000000000/);
    assert.match(r.stdout, /CapBnd:\s+0000000000000000/);
    assert.match(r.stdout, /CapPrm:\s+0000000000000000/);
    assert.match(r.stdout, /NoNewPrivs:\s+1/);
    assert.match(r.stdout, /Seccomp:\s+2/);
  });

  it('cannot write outside the workspace (root, system dirs, /run); can write the workspace and /tmp', async () => {
    const ws = h.workspace();
    const r = await h.run({
      workspace: ws,
      command: [
        'sh',
        '-c',
        'for p in /x /etc/x /usr/x /opt/x /run/x /proc/x; do (echo 1 > $p) 2>/dev/null && echo WROTE $p; done; echo ok > /workspace/out; echo ok > /tmp/t && echo tmp-ok',
      ],
    });
    assert.doesNotMatch(r.stdout, /WROTE/);
    assert.match(r.stdout, /tmp-ok/);
    assert.equal(readFileSync(join(ws, 'out'), 'utf8'), 'ok\n');
  });

  it('cannot see homes, /root, /var, other workspaces or the data directory', async () => {
    const other = h.workspace('other-agent');
    writeFileSync(join(other, 'secret.txt'), 'other agent data');
    mkdirSync(join(h.dataDir, 'keys'), { recursive: true });
    writeFileSync(join(h.dataDir, 'keys', 'k'), 'key material');
    const r = await h.run({
      command: [
        'sh',
        '-c',
        `for p in /root /var/lib /var/run/docker.sock ${other}/secret.txt ${h.dataDir}/keys/k ${h.workspaces} /sys/fs/cgroup; do cat $p >/dev/null 2>&1 && echo READ $p; ls $p >/dev/null 2>&1 && echo SAW $p; done; echo done`,
      ],
    });
    assert.equal(r.stdout.trim(), 'done', r.stdout);
    // /home holds the run's own home alone: empty, private, writable; no host user's.
    const home = await h.run({
      command: [
        'sh',
        '-c',
        'ls -A /home; ls -A "$HOME"; stat -c %a "$HOME"; echo x > "$HOME/.config" && echo wrote; echo $HOME',
      ],
    });
    assert.equal(home.stdout, 'agent\n700\nwrote\n/home/agent\n');
  });

  it('cannot read root-only host files it can see (the sandbox user is unprivileged on the host)', async () => {
    assert.ok(existsSync('/etc/shadow'));
    const r = await h.run({
      command: ['sh', '-c', 'cat /etc/shadow >/dev/null 2>&1 && echo READ; echo done'],
    });
    assert.equal(r.stdout.trim(), 'done');
  });

  it('cannot ptrace, mount, unshare, setns, load modules, use keyctl, bpf or io_uring', async () => {
    const r = await h.run({
      command: py(`
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def call(name, nr, *args):
    rc = libc.syscall(nr, *args)
    print(name, rc, ctypes.get_errno())
import platform
x86 = platform.machine() == 'x86_64'
n = (lambda a, b: a if x86 else b)
call('ptrace', n(101, 117), 0, 0, 0, 0)
call('mount', n(165, 40), b'none', b'/tmp', b'tmpfs', 0, 0)
call('unshare', n(272, 97), 0x10000000)
call('setns', n(308, 268), 0, 0)
call('init_module', n(175, 105), 0, 0, b'')
call('finit_module', n(313, 273), 0, b'', 0)
call('keyctl', n(250, 219), 0, 0)
call('bpf', n(321, 280), 0, 0, 0)
call('perf_event_open', n(298, 241), 0, 0, -1, -1, 0)
call('io_uring_setup', n(425, 425), 8, 0)
call('userfaultfd', n(323, 282), 0)
call('kexec_load', n(246, 104), 0, 0, 0, 0)
call('chroot', n(161, 51), b'/tmp')
`),
    });
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 13, r.stdout + r.stderr);
    for (const l of lines) {
      const [name, rc, errno] = l.split(' ');
      assert.equal(rc, '-1', `${name} succeeded`);
      assert.equal(errno, '1', `${name}: errno ${errno}, not EPERM from the filter`);
    }
  });

  it('cannot create a user namespace with the unshare tool either', async () => {
    const r = await h.run({
      command: ['sh', '-c', 'unshare -U true && echo ESCAPED; unshare -r true && echo ESCAPED; echo done'],
    });
    assert.doesNotMatch(r.stdout, /ESCAPED/);
  });

  it('cannot gain root or capabilities (setuid, su, setcap binaries are inert)', async () => {
    const r = await h.run({
      command: py(`
import os
try:
    os.setuid(0); print('ROOT')
except OSError as e: print('setuid', e.errno)
`),
    });
    assert.doesNotMatch(r.stdout, /ROOT/);
  });

  it('cannot open raw or packet sockets', async () => {
    const r = await h.run({
      command: py(`
import socket
for fam, typ, name in [(socket.AF_INET, socket.SOCK_RAW, 'raw4'), (socket.AF_INET6, socket.SOCK_RAW, 'raw6'), (17, socket.SOCK_RAW, 'packet')]:
    try:
        socket.socket(fam, typ, 1 if fam != 17 else 0); print('OPENED', name)
    except OSError as e: print(name, e.errno)
`),
    });
    assert.doesNotMatch(r.stdout, /OPENED/);
    assert.equal(r.stdout.trim().split('\n').length, 3);
  });

  it("cannot reach any address: not the host's 127.0.0.1, not 169.254.169.254, not a public address", async () => {
    const r = await h.run({
      command: py(`
import socket
for host, port in [('127.0.0.1', ${hostPort}), ('169.254.169.254', 80), ('1.1.1.1', 443), ('10.0.0.1', 80), ('::1', ${hostPort})]:
    try:
        s = socket.create_connection((host, port), timeout=2)
        print('CONNECTED', host, s.recv(100))
    except OSError as e: print('refused', host, e.errno)
try:
    socket.getaddrinfo('example.com', 443); print('RESOLVED')
except OSError as e: print('dns', e.errno)
`),
    });
    assert.doesNotMatch(r.stdout, /CONNECTED|RESOLVED/, r.stdout);
    assert.equal(r.stdout.trim().split('\n').length, 6, r.stdout + r.stderr);
  });

  it('a fork bomb hits the pids limit and ends, and nothing survives', async () => {
    const r = await h.run({
      command: ['sh', '-c', 'b() { b | b & }; b; sleep 100'],
      pids: 32,
      timeoutMs: 1500,
    });
    assert.equal(r.stats.pidsLimitHit, true);
    // The shell itself may fail to fork and give up before the deadline: either way it ends.
    assert.ok(r.reason === 'timeout' || r.reason === 'exited', r.reason);
    assert.ok(r.durationMs < 5000, `${r.durationMs} ms`);
    assert.equal(h.svc.running().length, 0, 'no cgroup left behind');
  });

  it('allocating past the memory limit is killed and reported', async () => {
    const r = await h.run({
      command: py('x = bytearray(200 * 1024 * 1024); print(len(x))'),
      memoryBytes: 64 * 1024 * 1024,
    });
    assert.notEqual(r.exitCode, 0);
    assert.equal(r.stats.oomKilled, true);
    assert.ok(r.stats.peakMemory <= 64 * 1024 * 1024);
    assert.doesNotMatch(r.stdout, /209715200/);
  });

  it('cannot outlive its timeout, even with a process that ignores SIGTERM', async () => {
    const marker = `${Date.now() % 100000}.25`;
    const r = await h.run({
      command: ['sh', '-c', `trap '' TERM; sleep ${marker} & sleep ${marker}`],
      timeoutMs: 300,
    });
    assert.equal(r.reason, 'timeout');
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(r.durationMs < 3000);
    const left = execFileSync('ps', ['-eo', 'args']).toString();
    assert.ok(!left.includes(`sleep ${marker}`), 'a process of the run survived');
  });

  it('leaves no background process behind when the command exits', async () => {
    const marker = `${Date.now() % 100000}.75`;
    const r = await h.run({ command: ['sh', '-c', `setsid sleep ${marker} & exit 0`] });
    assert.equal(r.exitCode, 0);
    const left = execFileSync('ps', ['-eo', 'args']).toString();
    assert.ok(!left.includes(`sleep ${marker}`), 'a background process survived the run');
  });

  it('secrets are 0400 files owned by the sandbox user, never in the environment or /proc/1/environ', async () => {
    const secret = 'ghp_' + 'A'.repeat(36);
    const r = await h.run({
      command: [
        'sh',
        '-c',
        'stat -c "%a %u" /run/secrets/github; cat /run/secrets/github; echo; env; cat /proc/1/environ /proc/self/environ | tr "\\0" "\\n"; (echo x > /run/secrets/github) 2>/dev/null && echo WROTE',
      ],
      secrets: new Map([['github', Buffer.from(secret)]]),
      token: Buffer.from('token-bytes'),
    });
    const [mode, ...rest] = r.stdout.split('\n');
    assert.equal(mode, '400 1000');
    assert.equal(rest[0], secret, 'the file holds the secret');
    assert.equal(
      r.stdout.split(secret).length,
      2,
      'the secret appears once: only where the file was printed',
    );
    assert.doesNotMatch(r.stdout, /WROTE/);
    assert.match(r.stdout, /RAMPART_TOKEN_FILE=\/run\/rampart\/token/);
  });

  it('passes exit codes and signals through', async () => {
    assert.equal((await h.run({ command: ['sh', '-c', 'exit 42'] })).exitCode, 42);
    const r = await h.run({ command: ['sh', '-c', 'kill -SEGV $$'] });
    assert.equal(r.exitCode, null);
    assert.equal(r.signal, 'SIGSEGV');
  });

  it('never starts the command when its gate (the audit record of the run) fails', async () => {
    const ws = h.workspace();
    const spec = h.svc.prepare({
      agent: 'a',
      workspace: ws,
      command: ['sh', '-c', 'touch /workspace/ran'],
    });
    await assert.rejects(
      h.svc.start({
        ...spec,
        gate: new Promise((_, reject) => setTimeout(() => reject(new Error('not recorded')), 50)),
      }),
      /not recorded/,
    );
    // start() rejects only after bwrap (still blocked on its gate, which never opened) has
    // exited: the command cannot still be about to run. The cgroup goes once the kernel has
    // reaped the last task.
    assert.equal(existsSync(join(ws, 'ran')), false);
    await until(() => h.svc.running().length === 0, 'its cgroup removed');
  });

  it("a profile's read-only path under /tmp is visible, read-only, over the run's own /tmp", async () => {
    const shared = mkdtempSync('/tmp/rampart-ro-');
    chmodSync(shared, 0o755); // readable by the run's uid, as a shared tool directory is
    writeFileSync(join(shared, 'tool'), 'shared tool\n', { mode: 0o644 });
    try {
      const ws = h.workspace();
      const spec = {
        ...h.svc.prepare({
          agent: 'a',
          workspace: ws,
          command: [
            'sh',
            '-c',
            `cat ${shared}/tool > /workspace/read; touch ${shared}/x 2>/dev/null && echo yes > /workspace/wrote; true`,
          ],
        }),
        readOnly: [shared],
      };
      const run = await h.svc.start(spec);
      await run.done;
      assert.equal(readFileSync(join(ws, 'read'), 'utf8'), 'shared tool\n');
      assert.equal(existsSync(join(ws, 'wrote')), false, 'the bind is read-only');
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });

  it('is born in its cgroup: every process of the run is in it from the start, bwrap included', async () => {
    const ws = h.workspace();
    const spec = h.svc.prepare({ agent: 'a', workspace: ws, command: ['sh', '-c', 'sleep 30 & sleep 30'] });
    const run = await h.svc.start(spec);
    try {
      // The command's processes, as the host sees them: bwrap's (the outer process and the
      // namespace's pid 1) and the two sleeps.
      let tree: number[] = [];
      for (let i = 0; i < 200 && tree.length < 4; i++) {
        await new Promise((r) => setTimeout(r, 10));
        tree = descendants(run.pid);
      }
      assert.ok(tree.length >= 4, `expected bwrap, its pid 1 and two sleeps, saw ${tree.length}`);
      for (const ctl of ['memory', 'pids', 'cpu', 'freezer']) {
        const procs = readFileSync(`/sys/fs/cgroup/${ctl}/${h.cgroupParent}/${spec.id}/cgroup.procs`, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map(Number);
        for (const pid of tree) assert.ok(procs.includes(pid), `pid ${pid} is outside the ${ctl} group`);
      }
    } finally {
      run.stop('killed', 0);
      await run.done;
      await run.cleaned;
    }
    assert.ok(!h.svc.running().includes(spec.id), 'its cgroup is removed once cleaned settles');
  });

  it("keeps bwrap's options (environment values, paths) out of its command line", async () => {
    const ws = h.workspace();
    const spec = h.svc.prepare({
      agent: 'a',
      workspace: ws,
      command: ['sleep', '30'],
      env: { MARKER: 'not-for-other-users-1f3a' },
    });
    const run = await h.svc.start(spec);
    try {
      const cmdline = readFileSync(`/proc/${run.pid}/cmdline`, 'utf8').split('\0');
      assert.deepEqual(cmdline.slice(1), ['--args', '4', '--', 'sleep', '30', '']);
      assert.ok(!cmdline.join(' ').includes('not-for-other-users'));
    } finally {
      run.stop('killed', 0);
      await run.done;
    }
  });

  it('refuses limits above the profile and unknown profiles', () => {
    assert.throws(() => h.svc.prepare({ agent: 'a', command: ['true'], memoryBytes: 64 * 1024 ** 3 }), {
      code: 'RAMPART_E_RUN_INVALID',
    });
    assert.throws(
      () => h.svc.prepare({ agent: 'a', command: ['true'], profile: 'nope' }),
      /unknown profile "nope"/,
    );
    assert.throws(
      () => h.svc.prepare({ agent: 'a', command: ['true'], workspace: h.dataDir }),
      /would expose Rampart's own directories/,
    );
  });

  it('a run id that is already running is a conflict (409), not a second run', () => {
    const rec = {
      id: 'twice',
      agent: 'a',
      profile: 'default',
      workspace: '/tmp',
      command: 'true',
      startedAt: new Date().toISOString(),
      startedBy: 'admin',
    };
    h.svc.records.register(rec);
    try {
      assert.throws(() => h.svc.records.register(rec), { code: 'RAMPART_E_CONFLICT', status: 409 });
    } finally {
      h.svc.records.ended('twice', { reason: 'exit' }, new Date().toISOString());
    }
  });

  it("resolves a workspace before judging it: a symlink into Rampart's own directories is refused", () => {
    mkdirSync(join(h.dataDir, 'keys'), { recursive: true });
    mkdirSync(join(h.dataDir, 'evidence'), { recursive: true });
    mkdirSync(join(h.workspaces, '.egress'), { recursive: true });
    const targets: [string, string][] = [
      ['the data directory', h.dataDir],
      ['a directory inside it', join(h.dataDir, 'keys')],
      ['the evidence directory', join(h.dataDir, 'evidence')],
      ['the run channels', join(h.workspaces, '.egress')],
      ['the workspaces directory itself', h.workspaces],
      ['a parent of the data directory', h.dir.dir],
    ];
    for (const [what, target] of targets) {
      const link = join(h.dir.dir, `link-${what.replace(/\W+/g, '-')}`);
      symlinkSync(target, link);
      assert.throws(
        () => h.svc.prepare({ agent: 'a', command: ['true'], workspace: link }),
        (e: unknown) =>
          (e as { code?: string }).code === 'RAMPART_E_RUN_INVALID' &&
          /resolves to .* inside Rampart's own directories|would expose Rampart's/.test((e as Error).message),
        `a symlink to ${what} was accepted as a workspace`,
      );
    }
    // A symlink to an ordinary directory is fine, and the run gets the resolved path.
    const real = h.workspace('real-target');
    const link = join(h.dir.dir, 'link-ok');
    symlinkSync(real, link);
    assert.equal(h.svc.prepare({ agent: 'a', command: ['true'], workspace: link }).workspace, real);
  });
});

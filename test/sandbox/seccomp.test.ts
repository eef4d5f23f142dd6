// The seccomp program, run through a BPF interpreter the way the kernel runs it, on both
// architectures: every always-denied syscall is refused, every allowed one passes, argument
// checks hold, and a foreign architecture is killed.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../support/cli.js';
import {
  ALWAYS_DENIED,
  allowedSyscalls,
  compileSeccomp,
  defaultSeccomp,
  PRECOMPILED,
  SECCOMP_RET,
  simulateSeccomp,
  type SeccompArch,
} from '../../src/sandbox/seccomp.js';
import { AARCH64, X86_64 } from '../../src/sandbox/syscalls.generated.js';

const TABLES: Record<SeccompArch, Readonly<Record<string, number>>> = { x86_64: X86_64, aarch64: AARCH64 };
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNS = 0x00020000;
const CLONE_THREAD_FLAGS = 0x003d0f00; // what pthread_create passes
const SIGCHLD = 17;

for (const arch of ['x86_64', 'aarch64'] as const) {
  describe(`seccomp filter on ${arch}`, () => {
    const prog = compileSeccomp({ arch });
    const table = TABLES[arch];
    const run = (name: string, args: number[] = []): number => {
      const nr = table[name];
      assert.ok(nr !== undefined, `${name} on ${arch}`);
      return simulateSeccomp(prog, { arch, nr, args });
    };

    it('refuses every always-denied syscall the architecture has', () => {
      let checked = 0;
      for (const name of ALWAYS_DENIED) {
        if (table[name] === undefined) continue;
        checked++;
        const expected = name === 'clone3' ? SECCOMP_RET.ENOSYS : SECCOMP_RET.EPERM;
        assert.equal(run(name), expected, name);
      }
      assert.ok(checked > 40, `${checked} checked`);
    });

    it('allows every listed syscall (with ordinary arguments)', () => {
      for (const name of allowedSyscalls()) {
        if (table[name] === undefined || name === 'personality') continue;
        const args = name === 'socket' ? [2, 1] : name === 'clone' ? [SIGCHLD] : [];
        assert.equal(run(name, args), SECCOMP_RET.ALLOW, name);
      }
      assert.equal(run('personality', [0xffffffff]), SECCOMP_RET.ALLOW);
    });

    it('refuses what is neither listed nor denied (default deny)', () => {
      const listed = new Set([...allowedSyscalls(), ...ALWAYS_DENIED]);
      const others = Object.keys(table).filter((n) => !listed.has(n));
      assert.ok(others.length > 0);
      for (const name of others) assert.equal(run(name), SECCOMP_RET.EPERM, name);
      assert.equal(simulateSeccomp(prog, { arch, nr: 4000 }), SECCOMP_RET.EPERM, 'beyond the table');
    });

    it('lets clone make processes and threads but never namespaces', () => {
      assert.equal(run('clone', [SIGCHLD]), SECCOMP_RET.ALLOW);
      assert.equal(run('clone', [CLONE_THREAD_FLAGS]), SECCOMP_RET.ALLOW);
      assert.equal(run('clone', [SIGCHLD | CLONE_NEWUSER]), SECCOMP_RET.EPERM);
      assert.equal(run('clone', [CLONE_NEWNS]), SECCOMP_RET.EPERM);
    });

    it('allows stream and datagram sockets but no raw or packet sockets', () => {
      assert.equal(run('socket', [2, 1 | 0x80800]), SECCOMP_RET.ALLOW, 'AF_INET stream, nonblock|cloexec');
      assert.equal(run('socket', [10, 2]), SECCOMP_RET.ALLOW, 'AF_INET6 datagram');
      assert.equal(run('socket', [1, 5]), SECCOMP_RET.ALLOW, 'AF_UNIX seqpacket');
      assert.equal(run('socket', [2, 3]), SECCOMP_RET.EPERM, 'AF_INET raw');
      assert.equal(run('socket', [10, 3]), SECCOMP_RET.EPERM, 'AF_INET6 raw');
      assert.equal(run('socket', [17, 3]), SECCOMP_RET.EPERM, 'AF_PACKET');
      assert.equal(run('socket', [40, 1]), SECCOMP_RET.EPERM, 'AF_VSOCK');
      assert.equal(run('socket', [38, 5]), SECCOMP_RET.EPERM, 'AF_ALG');
    });

    it('allows only harmless personalities', () => {
      assert.equal(run('personality', [0]), SECCOMP_RET.ALLOW);
      assert.equal(run('personality', [0x0040000]), SECCOMP_RET.EPERM, 'ADDR_NO_RANDOMIZE');
    });

    it('kills a process calling with another architecture', () => {
      const other = arch === 'x86_64' ? 'aarch64' : 'x86_64';
      const buf = compileSeccomp({ arch });
      assert.equal(simulateSeccomp(buf, { arch: other, nr: 0 }), SECCOMP_RET.KILL_PROCESS);
    });
  });
}

it('x86_64 refuses the x32 ABI', () => {
  const prog = compileSeccomp({ arch: 'x86_64' });
  assert.equal(
    simulateSeccomp(prog, { arch: 'x86_64', nr: 0x40000000 + X86_64['read']! }),
    SECCOMP_RET.EPERM,
  );
});

it('a profile can add syscalls but never an always-denied one', () => {
  assert.throws(() => compileSeccomp({ allow: ['ptrace'] }), /ptrace can never be allowed/);
  assert.throws(() => compileSeccomp({ allow: ['no_such_call'] }), /unknown syscall/);
  const prog = compileSeccomp({ arch: 'x86_64', allow: ['process_mrelease'] });
  assert.equal(simulateSeccomp(prog, { arch: 'x86_64', nr: X86_64['process_mrelease']! }), SECCOMP_RET.ALLOW);
});

it('the programs the build ships next to the CLI bundle are exactly what compiling gives', () => {
  for (const arch of ['x86_64', 'aarch64'] as const) {
    const shipped = readFileSync(join(ROOT, 'dist', PRECOMPILED(arch)));
    assert.ok(shipped.equals(compileSeccomp({ arch })), `dist/${PRECOMPILED(arch)} is stale`);
  }
  // From the compiled sources (no file next to them) the default is compiled.
  assert.ok(defaultSeccomp(undefined).equals(compileSeccomp()));
});

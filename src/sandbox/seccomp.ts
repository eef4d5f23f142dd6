// The seccomp filter every sandboxed command runs under, compiled by Rampart itself to a classic
// BPF program (the format bwrap's --seccomp FD takes: an array of struct sock_filter).
//
// The policy is an allow-list modelled on Docker's default profile: the syscalls ordinary
// programs (shells, compilers, language runtimes, git, package managers) need, and nothing that
// changes the kernel's or another process's state. Everything else fails with EPERM, as under
// Docker, so programs that probe for a feature fall back instead of dying. On top of Docker's
// list, and whatever the profile says, these are never allowed: ptrace, process_vm_*, mount and
// the new mount API, pivot_root, unshare, setns, new namespaces through clone flags, clone3
// (ENOSYS, so libc falls back to clone, whose flags can be checked), keyctl and add_key, bpf,
// perf_event_open, kexec, module loading, userfaultfd, io_uring, personality changes other than
// the harmless ones, reboot, swap, clock setting, acct, quotactl, and the obsolete syscalls.
//
// The program: check the architecture (anything else is killed: an x86_64 process switching to
// the i386 or x32 ABI would otherwise index a different table), load the syscall number, then a
// balanced binary search over the allowed ranges, with a few syscalls sent to argument checks.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AARCH64, X86_64 } from './syscalls.generated.js';

const words = (s: string): string[] => s.split(/\s+/).filter(Boolean);

export type SeccompArch = 'x86_64' | 'aarch64';

/** Syscalls ordinary programs need (Docker's default allow-list, minus the dangerous ones below). */
const ALLOWED: readonly string[] = words(`
  accept accept4 access alarm arch_prctl bind brk capget capset chdir chmod chown clock_getres
  clock_gettime clock_nanosleep close close_range connect copy_file_range creat dup dup2 dup3
  epoll_create epoll_create1 epoll_ctl epoll_pwait epoll_pwait2 epoll_wait eventfd eventfd2
  execve execveat exit exit_group faccessat faccessat2 fadvise64 fallocate fanotify_mark fchdir
  fchmod fchmodat fchmodat2 fchown fchownat fcntl fdatasync fgetxattr flistxattr flock fork
  fremovexattr fsetxattr fstat fstatfs fsync ftruncate futex futex_waitv futimesat
  get_robust_list get_thread_area getcpu getcwd getdents getdents64 getegid geteuid getgid
  getgroups getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
  getresuid getrlimit getrusage getsid getsockname getsockopt gettid gettimeofday getuid
  getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel io_destroy
  io_getevents io_pgetevents io_setup io_submit ioctl ioprio_get ioprio_set kill
  landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lgetxattr link linkat
  listen listxattr llistxattr lremovexattr lseek lsetxattr lstat madvise membarrier memfd_create
  mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mprotect mq_getsetattr
  mq_notify mq_open mq_timedreceive mq_timedsend mq_unlink mremap msgctl msgget msgrcv msgsnd
  msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat open openat openat2
  pause pidfd_getfd pidfd_open pidfd_send_signal pipe pipe2 poll ppoll prctl pread64 preadv
  preadv2 prlimit64 pselect6 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv
  recvfrom recvmmsg recvmsg remap_file_pages removexattr rename renameat renameat2
  restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
  rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo sched_get_priority_max
  sched_get_priority_min sched_getaffinity sched_getattr sched_getparam sched_getscheduler
  sched_rr_get_interval sched_setaffinity sched_setattr sched_setparam sched_setscheduler
  sched_yield seccomp select semctl semget semop semtimedop sendfile sendmmsg sendmsg sendto
  set_robust_list set_thread_area set_tid_address setfsgid setfsuid setgid setgroups setitimer
  setpgid setpriority setregid setresgid setresuid setreuid setrlimit setsid setsockopt setuid
  setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 socketpair splice
  stat statfs statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
  timer_create timer_delete timer_getoverrun timer_gettime timer_settime timerfd_create
  timerfd_gettime timerfd_settime times tkill truncate umask uname unlink unlinkat utime
  utimensat utimes vfork vmsplice wait4 waitid write writev clone socket personality
`);

/**
 * Never allowed, whatever else changes: the escapes and kernel attack surface the sandbox exists
 * to close. Listed so a test can prove none is reachable, and so a future edit of ALLOWED that
 * adds one fails loudly.
 */
export const ALWAYS_DENIED: readonly string[] = words(`
  ptrace process_vm_readv process_vm_writev process_madvise kcmp mount umount2 mount_setattr
  move_mount open_tree fsopen fsconfig fsmount fspick pivot_root chroot unshare setns clone3
  keyctl add_key request_key bpf perf_event_open fanotify_init kexec_load kexec_file_load
  init_module finit_module delete_module create_module userfaultfd io_uring_setup io_uring_enter
  io_uring_register reboot swapon swapoff settimeofday clock_settime clock_adjtime adjtimex acct
  quotactl quotactl_fd lookup_dcookie nfsservctl syslog vhangup iopl ioperm uselib ustat sysfs
  _sysctl open_by_handle_at sethostname setdomainname set_mempolicy mbind migrate_pages
  move_pages get_mempolicy memfd_secret pkey_alloc pkey_free pkey_mprotect modify_ldt vm86
  vm86old
`);

// struct seccomp_data: nr at 0, arch at 4, instruction_pointer at 8, args[6] (u64) from 16.
const OFF_NR = 0;
const OFF_ARCH = 4;
const argLow = (i: number): number => 16 + 8 * i; // little-endian on both architectures

const AUDIT_ARCH: Record<SeccompArch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };
const TABLE: Record<SeccompArch, Readonly<Record<string, number>>> = { x86_64: X86_64, aarch64: AARCH64 };

const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const retErrno = (errno: number): number => 0x00050000 | (errno & 0xffff);
const EPERM = 1;
const ENOSYS = 38;

// Namespace flags a clone must not carry (CLONE_NEWNS .. CLONE_NEWNET, CLONE_NEWCGROUP, NEWTIME).
const CLONE_NS_FLAGS =
  0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;
const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const SOCK_TYPE_MASK = 0xf;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_SEQPACKET = 5;
// personality(2) values Docker allows: PER_LINUX (0), PER_LINUX32 (8), UNAME26 (0x20000) and
// the two combined, and the query 0xffffffff. ADDR_NO_RANDOMIZE is not among them: it turns off
// ASLR.
const PERSONALITIES = [0x0, 0x0008, 0x20000, 0x20008, 0xffffffff];

// BPF opcodes.
const LD_W_ABS = 0x20;
const JMP_JEQ_K = 0x15;
const JMP_JGE_K = 0x35;
const JMP_JSET_K = 0x45;
const JMP_JA = 0x05;
const ALU_AND_K = 0x54;
const RET_K = 0x06;

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}
const insn = (code: number, jt: number, jf: number, k: number): Insn => ({ code, jt, jf, k });

type Special = 'clone' | 'socket' | 'personality';

/** The argument check for a syscall allowed only with certain arguments; ends in returns. */
function special(kind: Special): Insn[] {
  const deny = insn(RET_K, 0, 0, retErrno(EPERM));
  const allow = insn(RET_K, 0, 0, RET_ALLOW);
  switch (kind) {
    case 'clone':
      return [insn(LD_W_ABS, 0, 0, argLow(0)), insn(JMP_JSET_K, 0, 1, CLONE_NS_FLAGS), deny, allow];
    case 'socket':
      // Netlink (libc's getaddrinfo reads routes with it) in any type; UNIX, INET and INET6 only
      // as stream, datagram or seqpacket (never SOCK_RAW or SOCK_PACKET); no other family
      // (AF_PACKET, AF_VSOCK, AF_ALG, ...).
      return [
        insn(LD_W_ABS, 0, 0, argLow(0)),
        insn(JMP_JEQ_K, 10, 0, AF_NETLINK),
        insn(JMP_JEQ_K, 3, 0, AF_UNIX),
        insn(JMP_JEQ_K, 2, 0, AF_INET),
        insn(JMP_JEQ_K, 1, 0, AF_INET6),
        deny,
        insn(LD_W_ABS, 0, 0, argLow(1)),
        insn(ALU_AND_K, 0, 0, SOCK_TYPE_MASK),
        insn(JMP_JEQ_K, 3, 0, SOCK_STREAM),
        insn(JMP_JEQ_K, 2, 0, SOCK_DGRAM),
        insn(JMP_JEQ_K, 1, 0, SOCK_SEQPACKET),
        deny,
        allow,
      ];
    case 'personality': {
      const out: Insn[] = [insn(LD_W_ABS, 0, 0, argLow(0))];
      PERSONALITIES.forEach((p, i) => out.push(insn(JMP_JEQ_K, PERSONALITIES.length - i, 0, p)));
      out.push(deny, allow);
      return out;
    }
  }
}

interface Range {
  lo: number;
  hi: number;
  special?: Special;
}

/** Sorted, merged ranges of allowed numbers; a special syscall is a range of its own. */
function ranges(arch: SeccompArch, allowed: readonly string[]): Range[] {
  const table = TABLE[arch];
  const nums: { n: number; special?: Special }[] = [];
  for (const name of allowed) {
    const n = table[name];
    if (n === undefined) continue; // not on this architecture (aarch64 has no open, fork, ...)
    const sp = name === 'clone' || name === 'socket' || name === 'personality' ? name : undefined;
    nums.push(sp ? { n, special: sp } : { n });
  }
  nums.sort((a, b) => a.n - b.n);
  const out: Range[] = [];
  for (const { n, special: sp } of nums) {
    const last = out[out.length - 1];
    if (!sp && last && !last.special && last.hi === n - 1) last.hi = n;
    else out.push(sp ? { lo: n, hi: n, special: sp } : { lo: n, hi: n });
  }
  return out;
}

/**
 * Emits a search over ranges[from..to) for the number in A. Within the window the number is
 * known to be >= lower bound and < upper bound of the parent, so a leaf range only has to check
 * its own bounds. Far jumps go through `ja` (32-bit offset); conditional jumps stay 0/1 short.
 */
function search(rs: Range[], from: number, to: number, arch: SeccompArch): Insn[] {
  const denyRet = insn(RET_K, 0, 0, retErrno(EPERM));
  if (from >= to) return [denyRet];
  if (to - from === 1) {
    const r = rs[from]!;
    const body = r.special ? special(r.special) : [insn(RET_K, 0, 0, RET_ALLOW)];
    // A >= lo && A <= hi (i.e. !(A >= hi+1)) → body, else deny. Reload A: a special clobbers it.
    return [
      insn(LD_W_ABS, 0, 0, OFF_NR),
      insn(JMP_JGE_K, 0, 2, r.lo), // A < lo → deny (skip the next two)
      insn(JMP_JGE_K, 1, 0, r.hi + 1), // A > hi → deny
      insn(JMP_JA, 0, 0, 1), // in range → body
      denyRet,
      ...body,
    ];
  }
  const mid = (from + to) >> 1;
  const left = search(rs, from, mid, arch);
  const right = search(rs, mid, to, arch);
  // A >= rs[mid].lo → right subtree, else left. jge true falls to `ja right`; false skips it.
  return [
    insn(LD_W_ABS, 0, 0, OFF_NR),
    insn(JMP_JGE_K, 0, 1, rs[mid]!.lo),
    insn(JMP_JA, 0, 0, left.length),
    ...left,
    ...right,
  ];
}

export interface SeccompOptions {
  readonly arch?: SeccompArch;
  /** Extra syscalls a profile allows (never one of ALWAYS_DENIED). */
  readonly allow?: readonly string[];
}

/** The architecture of this machine, or undefined when Rampart has no filter for it. */
export function hostArch(): SeccompArch | undefined {
  return process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : undefined;
}

/** The allowed syscall names, after a profile's additions (checked against ALWAYS_DENIED). */
export function allowedSyscalls(extra: readonly string[] = []): string[] {
  for (const name of extra) {
    if (ALWAYS_DENIED.includes(name)) throw new TypeError(`seccomp: ${name} can never be allowed`);
    if (X86_64[name] === undefined && AARCH64[name] === undefined)
      throw new TypeError(`seccomp: unknown syscall "${name}"`);
  }
  return [...new Set([...ALLOWED, ...extra])];
}

/** Compiles the filter to the bytes bwrap reads from --seccomp FD (8 bytes per instruction). */
export function compileSeccomp(opts: SeccompOptions = {}): Buffer {
  const arch = opts.arch ?? hostArch();
  if (arch === undefined) throw new TypeError(`seccomp: no filter for architecture ${process.arch}`);
  const allowed = allowedSyscalls(opts.allow);
  const table = TABLE[arch];
  const rs = ranges(arch, allowed);
  const prog: Insn[] = [
    insn(LD_W_ABS, 0, 0, OFF_ARCH),
    insn(JMP_JEQ_K, 1, 0, AUDIT_ARCH[arch]),
    insn(RET_K, 0, 0, RET_KILL_PROCESS),
    insn(LD_W_ABS, 0, 0, OFF_NR),
  ];
  if (arch === 'x86_64') {
    // x32 ABI numbers have bit 30 set: refuse them outright.
    prog.push(insn(JMP_JGE_K, 0, 1, 0x40000000), insn(RET_K, 0, 0, retErrno(EPERM)));
  }
  // clone3 answers ENOSYS so libc falls back to clone, whose flags the filter can see.
  const clone3 = table['clone3'];
  if (clone3 !== undefined) prog.push(insn(JMP_JEQ_K, 0, 1, clone3), insn(RET_K, 0, 0, retErrno(ENOSYS)));
  prog.push(...search(rs, 0, rs.length, arch));
  if (prog.length > 4096) throw new Error(`seccomp program too long (${prog.length} instructions)`);
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((p, i) => {
    buf.writeUInt16LE(p.code, i * 8);
    buf.writeUInt8(p.jt, i * 8 + 2);
    buf.writeUInt8(p.jf, i * 8 + 3);
    buf.writeUInt32LE(p.k >>> 0, i * 8 + 4);
  });
  return buf;
}

/** A rule of a Docker (libseccomp) seccomp profile. */
interface DockerRule {
  readonly names: readonly string[];
  readonly action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  readonly errnoRet?: number;
  readonly args?: readonly { index: number; value: number; valueTwo?: number; op: string }[];
}

/**
 * The same policy as a Docker seccomp profile (the JSON `--security-opt seccomp=` takes), for
 * the Docker runtime: the allow-list, with clone, socket and personality allowed only with the
 * arguments the BPF program allows, clone3 answering ENOSYS, everything else EPERM. Only this
 * architecture is listed, so a call through another ABI (i386, x32) gets libseccomp's bad-arch
 * action: the process is killed, as under the BPF program.
 */
export function dockerSeccompProfile(opts: SeccompOptions = {}): string {
  const arch = opts.arch ?? hostArch();
  if (arch === undefined) throw new TypeError(`seccomp: no filter for architecture ${process.arch}`);
  const allowed = allowedSyscalls(opts.allow).filter((n) => TABLE[arch][n] !== undefined);
  const plain = allowed.filter((n) => n !== 'clone' && n !== 'socket' && n !== 'personality');
  const rules: DockerRule[] = [{ names: plain, action: 'SCMP_ACT_ALLOW' }];
  if (allowed.includes('clone'))
    rules.push({
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: CLONE_NS_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    });
  if (allowed.includes('socket')) {
    rules.push({
      names: ['socket'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: AF_NETLINK, op: 'SCMP_CMP_EQ' }],
    });
    for (const family of [AF_UNIX, AF_INET, AF_INET6])
      for (const type of [SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET])
        rules.push({
          names: ['socket'],
          action: 'SCMP_ACT_ALLOW',
          args: [
            { index: 0, value: family, op: 'SCMP_CMP_EQ' },
            { index: 1, value: SOCK_TYPE_MASK, valueTwo: type, op: 'SCMP_CMP_MASKED_EQ' },
          ],
        });
  }
  if (allowed.includes('personality'))
    for (const p of PERSONALITIES)
      rules.push({
        names: ['personality'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: p, op: 'SCMP_CMP_EQ' }],
      });
  if (TABLE[arch]['clone3'] !== undefined)
    rules.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  return JSON.stringify({
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    architectures: [arch === 'x86_64' ? 'SCMP_ARCH_X86_64' : 'SCMP_ARCH_AARCH64'],
    syscalls: rules,
  });
}

/** Where the build puts the default program for an architecture (next to the CLI bundle). */
export const PRECOMPILED = (arch: SeccompArch): string => `seccomp-${arch}.bpf`;

/**
 * The default program (no extra syscalls), from the file the build wrote next to the bundle this
 * code runs from when there is one, or compiled. Compiling takes most of a millisecond, which
 * `rampart run` would pay on every start; test/sandbox/seccomp.test.ts checks that the file is
 * what compiling gives.
 */
export function defaultSeccomp(dir: string | undefined): Buffer {
  const arch = hostArch();
  if (arch !== undefined && dir !== undefined) {
    try {
      return readFileSync(join(dir, PRECOMPILED(arch)));
    } catch {
      // not built (compiled sources): compile
    }
  }
  return compileSeccomp();
}

/**
 * Runs the compiled program on one syscall, the way the kernel would (for tests: every
 * ALWAYS_DENIED syscall is refused, every allowed one passes, on both architectures).
 */
export function simulateSeccomp(
  prog: Buffer,
  data: { arch: SeccompArch; nr: number; args?: number[] },
): number {
  const mem = Buffer.alloc(64);
  mem.writeUInt32LE(data.nr, OFF_NR);
  mem.writeUInt32LE(AUDIT_ARCH[data.arch], OFF_ARCH);
  (data.args ?? []).forEach((a, i) => mem.writeUInt32LE(a >>> 0, argLow(i)));
  let A = 0;
  let pc = 0;
  const n = prog.length / 8;
  for (let steps = 0; steps < 100_000 && pc < n; steps++) {
    const code = prog.readUInt16LE(pc * 8);
    const jt = prog.readUInt8(pc * 8 + 2);
    const jf = prog.readUInt8(pc * 8 + 3);
    const k = prog.readUInt32LE(pc * 8 + 4);
    switch (code) {
      case LD_W_ABS:
        A = mem.readUInt32LE(k);
        pc++;
        break;
      case JMP_JEQ_K:
        pc += 1 + (A === k ? jt : jf);
        break;
      case JMP_JGE_K:
        pc += 1 + (A >= k ? jt : jf);
        break;
      case JMP_JSET_K:
        pc += 1 + ((A & k) !== 0 ? jt : jf);
        break;
      case JMP_JA:
        pc += 1 + k;
        break;
      case ALU_AND_K:
        A = (A & k) >>> 0;
        pc++;
        break;
      case RET_K:
        return k;
      default:
        throw new Error(`unknown BPF opcode ${code} at ${pc}`);
    }
  }
  throw new Error('BPF program ran off its end');
}

export const SECCOMP_RET = {
  ALLOW: RET_ALLOW,
  KILL_PROCESS: RET_KILL_PROCESS,
  EPERM: retErrno(EPERM),
  ENOSYS: retErrno(ENOSYS),
};

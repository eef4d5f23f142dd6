// A static probe run inside every runtime's sandbox (test/support/conformance.ts): it tries each
// call a confined run must not make and prints "name rc errno" per line. Static, so it runs in a
// busybox image as on the host; compiled by the test that uses it.

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

static void probe(const char *name, long rc) {
  printf("%s %ld %d\n", name, rc, rc < 0 ? errno : 0);
  errno = 0;
}

int main(void) {
  probe("ptrace", syscall(SYS_ptrace, PTRACE_ATTACH, 1, 0, 0));
  probe("mount", syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, 0));
  probe("unshare", syscall(SYS_unshare, CLONE_NEWUSER));
  probe("setns", syscall(SYS_setns, 0, 0));
  probe("init_module", syscall(SYS_init_module, 0, 0, ""));
  probe("finit_module", syscall(SYS_finit_module, 0, "", 0));
  probe("keyctl", syscall(SYS_keyctl, 0, 0));
  probe("bpf", syscall(SYS_bpf, 0, 0, 0));
  probe("perf_event_open", syscall(SYS_perf_event_open, 0, 0, -1, -1, 0));
  probe("io_uring_setup", syscall(SYS_io_uring_setup, 8, 0));
  probe("userfaultfd", syscall(SYS_userfaultfd, 0));
  probe("kexec_load", syscall(SYS_kexec_load, 0, 0, 0, 0));
  probe("chroot", syscall(SYS_chroot, "/tmp"));
  return 0;
}

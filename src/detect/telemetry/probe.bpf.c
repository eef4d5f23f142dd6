// Kernel telemetry for Rampart's runs: process exec and exit, file opens, socket connects and the
// syscalls a run's sandbox refuses, from tracepoints (and the file_open LSM hook through fentry,
// for the path as the process sees it). Filtered here, in the kernel, to the processes of this
// installation's runs: a task's cgroup2 ancestor at `parent_level` must be the installation's
// parent group (by name, memoized per group id), so the host's own processes cost a few loads and
// one compare. Every event that cannot be reserved in the ring buffer is counted in `drops`.
//
// Built with clang -target bpf against the running kernel's BTF (vmlinux.h from bpftool): CO-RE.

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "probe.h"

char LICENSE[] SEC("license") = "GPL";

// Set by the loader before the programs are loaded (read-only afterwards).
const volatile char parent_name[PARENT_MAX] = {};
const volatile __u32 parent_len = 0;
const volatile __u32 parent_level = 1;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, RINGBUF_BYTES);
} events SEC(".maps");

// Events that found the ring buffer full, per CPU (summed by the loader).
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} drops SEC(".maps");

// cgroup2 id of a task's ancestor at parent_level -> 1 (this installation's parent) or 2 (not).
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, __u64);
  __type(value, __u8);
} parents SEC(".maps");

// Syscall numbers whose refusal is reported (set by the loader).
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 512);
  __type(key, __u32);
  __type(value, __u8);
} denied_nrs SEC(".maps");

// A read every process makes as it starts (libraries, the loader's cache, locale, its own /proc).
static __always_inline int is_system_read(const char *p) {
  if (p[0] != '/') return 0;
  if (p[1] == 'u' && p[2] == 's' && p[3] == 'r' && p[4] == '/') return 1;
  if (p[1] == 'l' && p[2] == 'i' && p[3] == 'b') return 1;
  if (p[1] == 's' && p[2] == 'y' && p[3] == 's' && p[4] == '/') return 1;
  if (p[1] == 'd' && p[2] == 'e' && p[3] == 'v' && p[4] == '/') return 1;
  if (p[1] == 'b' && p[2] == 'i' && p[3] == 'n' && p[4] == '/') return 1;
  if (p[1] == 's' && p[2] == 'b' && p[3] == 'i' && p[4] == 'n' && p[5] == '/') return 1;
  if (p[1] == 'p' && p[2] == 'r' && p[3] == 'o' && p[4] == 'c' && p[5] == '/' && p[6] == 's' && p[7] == 'e' &&
      p[8] == 'l' && p[9] == 'f' && p[10] == '/')
    return 1;
  if (p[1] == 'e' && p[2] == 't' && p[3] == 'c' && p[4] == '/' && p[5] == 'l' && p[6] == 'd' && p[7] == '.') return 1;
  return 0;
}

#define O_ACCMODE_BITS 03
#define O_CREAT_BIT 0100
#define O_TRUNC_BIT 01000
#define O_APPEND_BIT 02000
#define AT_FDCWD_VALUE -100

// The current task's working directory as its root sees it (its mount namespace and chroot:
// inside a sandbox, the sandbox's view), written backwards into buf so that it ends at CWD_END;
// returns where it starts. Components past 24 levels or 255 bytes are left out (the path then
// starts with "..."), never guessed.
static __always_inline __u32 cwd_into(char *buf) {
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  struct fs_struct *fs = BPF_CORE_READ(t, fs);
  struct dentry *d = BPF_CORE_READ(fs, pwd.dentry);
  struct vfsmount *vm = BPF_CORE_READ(fs, pwd.mnt);
  struct dentry *root_d = BPF_CORE_READ(fs, root.dentry);
  struct vfsmount *root_m = BPF_CORE_READ(fs, root.mnt);
  struct mount *m = container_of(vm, struct mount, mnt);
  __u32 end = CWD_END;
  int complete = 0;
  for (int i = 0; i < 24; i++) {
    if (d == root_d && vm == root_m) {
      complete = 1;
      break;
    }
    struct dentry *mnt_root = BPF_CORE_READ(vm, mnt_root);
    struct dentry *parent = BPF_CORE_READ(d, d_parent);
    if (d == mnt_root || d == parent) {
      struct mount *pm = BPF_CORE_READ(m, mnt_parent);
      if (pm == m) {
        complete = 1;
        break;
      }
      d = BPF_CORE_READ(m, mnt_mountpoint);
      m = pm;
      vm = &pm->mnt;
      continue;
    }
    __u32 len = BPF_CORE_READ(d, d_name.len);
    const unsigned char *name = BPF_CORE_READ(d, d_name.name);
    if (len == 0 || len + 1 > end) break;
    __u32 start = (end - len - 1) & CWD_END;
    buf[start] = '/';
    bpf_probe_read_kernel(buf + start + 1, len & CWD_END, name);
    end = start;
    d = parent;
  }
  if (end == CWD_END) {
    end = CWD_END - 1;
    buf[end] = '/';
  }
  if (!complete && end >= 3) {
    end -= 3;
    buf[end & CWD_END] = '.';
    buf[(end + 1) & CWD_END] = '.';
    buf[(end + 2) & CWD_END] = '.';
  }
  return end;
}

// The reader is not woken for every event (a wakeup per event is a cross-CPU interrupt and a
// context switch: on a 2-vCPU machine it cost a run's fork+exec loop a third of its speed); it
// drains the buffer every millisecond, and is woken at once only when a quarter of the buffer is
// waiting, so a burst cannot outrun it between two drains.
static __always_inline __u64 wakeup_flags(void) {
  return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > RINGBUF_BYTES / 4 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void count_drop(void) {
  __u32 k = 0;
  __u64 *n = bpf_map_lookup_elem(&drops, &k);
  if (n) *n += 1;
}

// The run's cgroup2 id (the ancestor just below the parent), or 0 for a task that is not in one
// of this installation's runs.
static __always_inline __u64 run_cgroup(void) {
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  struct cgroup *c = BPF_CORE_READ(t, cgroups, dfl_cgrp);
  if (!c) return 0;
  int level = BPF_CORE_READ(c, level);
  if (level <= (int)parent_level) return 0;
  __u64 pid = bpf_get_current_ancestor_cgroup_id(parent_level);
  __u8 *known = bpf_map_lookup_elem(&parents, &pid);
  __u8 verdict;
  if (known) {
    verdict = *known;
  } else {
    struct cgroup *a = 0;
    bpf_core_read(&a, sizeof(a), &c->ancestors[parent_level]);
    const char *name = BPF_CORE_READ(a, kn, name);
    char buf[PARENT_MAX] = {};
    bpf_probe_read_kernel_str(buf, sizeof(buf), name);
    verdict = 1;
    for (int i = 0; i < PARENT_MAX; i++) {
      if (i > parent_len) break;
      char want = i == parent_len ? 0 : parent_name[i];
      if (buf[i] != want) {
        verdict = 2;
        break;
      }
    }
    bpf_map_update_elem(&parents, &pid, &verdict, BPF_ANY);
  }
  if (verdict != 1) return 0;
  return bpf_get_current_ancestor_cgroup_id(parent_level + 1);
}

static __always_inline void fill(struct header *h, __u32 kind, __u64 cg) {
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  __u64 id = bpf_get_current_pid_tgid();
  h->kind = kind;
  h->pid = id >> 32;
  h->ppid = BPF_CORE_READ(t, real_parent, tgid);
  h->uid = (__u32)bpf_get_current_uid_gid();
  h->cgroup = cg;
  h->time = bpf_ktime_get_boot_ns();
  bpf_get_current_comm(h->comm, sizeof(h->comm));
}

SEC("tp/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx) {
  __u64 cg = run_cgroup();
  if (!cg) return 0;
  struct exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_drop();
    return 0;
  }
  fill(&e->h, KIND_EXEC, cg);
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  unsigned off = ctx->__data_loc_filename & 0xFFFF;
  bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + off);
  struct task_struct *parent = BPF_CORE_READ(t, real_parent);
  bpf_probe_read_kernel_str(e->pcomm, sizeof(e->pcomm), &parent->comm);
  unsigned long start = BPF_CORE_READ(t, mm, arg_start);
  unsigned long end = BPF_CORE_READ(t, mm, arg_end);
  unsigned long len = end > start ? end - start : 0;
  if (len > ARGS_MAX - 1) len = ARGS_MAX - 1;
  len &= ARGS_MAX - 1;
  e->args_len = len;
  if (len > 0 && bpf_probe_read_user(e->args, len, (void *)start) != 0) e->args_len = 0;
  e->cwd[CWD_END] = 0;
  e->cwd_off = cwd_into(e->cwd);
  e->stdin_mode = 0;
  struct file **fds = BPF_CORE_READ(t, files, fdt, fd);
  struct file *f0 = 0;
  if (fds && bpf_probe_read_kernel(&f0, sizeof(f0), &fds[0]) == 0 && f0) {
    e->stdin_mode = BPF_CORE_READ(f0, f_inode, i_mode);
    // A socket's family goes above the mode: a shell reading a TCP connection is a reverse
    // shell; one reading a unix socketpair is a program started by Node, systemd or an IDE.
    if ((e->stdin_mode & 0170000) == 0140000) {
      struct socket *so = (struct socket *)BPF_CORE_READ(f0, private_data);
      __u16 family = so ? BPF_CORE_READ(so, sk, __sk_common.skc_family) : 0;
      e->stdin_mode |= (__u32)family << 16;
    }
  }
  bpf_ringbuf_submit(e, wakeup_flags());
  return 0;
}

SEC("tp/sched/sched_process_exit")
int on_exit(void *ctx) {
  __u64 id = bpf_get_current_pid_tgid();
  if ((__u32)id != (__u32)(id >> 32)) return 0; // threads: only the process's end
  __u64 cg = run_cgroup();
  if (!cg) return 0;
  struct exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_drop();
    return 0;
  }
  fill(&e->h, KIND_EXIT, cg);
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  e->code = BPF_CORE_READ(t, exit_code);
  bpf_ringbuf_submit(e, wakeup_flags());
  return 0;
}

// An open, seen at the syscall's entry: the path as the process passed it, and for a relative one
// its working directory (the loader joins them). Reads of the system's own files are dropped here.
static __always_inline int report_open(int dfd, const char *name, __u32 flags) {
  __u64 cg = run_cgroup();
  if (!cg) return 0;
  int writes = (flags & (O_ACCMODE_BITS | O_CREAT_BIT | O_TRUNC_BIT | O_APPEND_BIT)) != 0;
  if (!writes) {
    // Decided on the path's first bytes before anything is reserved: most opens of a process's
    // start are the system's own files.
    char head[16] = {};
    bpf_probe_read_user_str(head, sizeof(head), name);
    if (is_system_read(head)) return 0;
  }
  struct open_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_drop();
    return 0;
  }
  fill(&e->h, KIND_OPEN, cg);
  e->flags = flags;
  e->dfd = dfd;
  e->cwd_off = CWD_END;
  e->cwd[CWD_END] = 0;
  if (bpf_probe_read_user_str(e->path, sizeof(e->path), name) < 0) e->path[0] = 0;
  if (e->path[0] != '/') e->cwd_off = cwd_into(e->cwd);
  bpf_ringbuf_submit(e, wakeup_flags());
  return 0;
}

SEC("tp/syscalls/sys_enter_openat")
int on_openat(struct trace_event_raw_sys_enter *ctx) {
  return report_open((int)ctx->args[0], (const char *)ctx->args[1], (__u32)ctx->args[2]);
}

SEC("tp/syscalls/sys_enter_openat2")
int on_openat2(struct trace_event_raw_sys_enter *ctx) {
  __u64 flags = 0;
  bpf_probe_read_user(&flags, sizeof(flags), (const void *)ctx->args[2]);
  return report_open((int)ctx->args[0], (const char *)ctx->args[1], (__u32)flags);
}

SEC("tp/syscalls/sys_enter_open")
int on_open(struct trace_event_raw_sys_enter *ctx) {
  return report_open(AT_FDCWD_VALUE, (const char *)ctx->args[0], (__u32)ctx->args[1]);
}

SEC("tp/syscalls/sys_enter_creat")
int on_creat(struct trace_event_raw_sys_enter *ctx) {
  return report_open(AT_FDCWD_VALUE, (const char *)ctx->args[0], O_CREAT_BIT | 1 | O_TRUNC_BIT);
}

SEC("tp/syscalls/sys_enter_connect")
int on_connect(struct trace_event_raw_sys_enter *ctx) {
  __u64 cg = run_cgroup();
  if (!cg) return 0;
  struct connect_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_drop();
    return 0;
  }
  fill(&e->h, KIND_CONNECT, cg);
  const void *addr = (const void *)ctx->args[1];
  __u64 addrlen = ctx->args[2];
  __builtin_memset(e->addr, 0, sizeof(e->addr));
  e->family = 0;
  e->port = 0;
  if (addrlen > sizeof(e->addr)) addrlen = sizeof(e->addr);
  if (addrlen >= 2 && bpf_probe_read_user(e->addr, addrlen & 127, addr) == 0)
    e->family = *(__u16 *)e->addr;
  bpf_ringbuf_submit(e, wakeup_flags());
  return 0;
}

SEC("tp/raw_syscalls/sys_exit")
int on_sys_exit(struct trace_event_raw_sys_exit *ctx) {
  long ret = ctx->ret;
  if (ret != -1 /* EPERM */ && ret != -13 /* EACCES */) return 0;
  __u32 nr = (__u32)ctx->id;
  __u8 *want = bpf_map_lookup_elem(&denied_nrs, &nr);
  if (!want || !*want) return 0;
  __u64 cg = run_cgroup();
  if (!cg) return 0;
  struct denied_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_drop();
    return 0;
  }
  fill(&e->h, KIND_DENIED, cg);
  e->nr = nr;
  e->ret = ret;
  bpf_ringbuf_submit(e, wakeup_flags());
  return 0;
}

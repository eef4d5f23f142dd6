// rampart-telemetry: loads Rampart's kernel programs (probe.bpf.c, embedded as a libbpf
// skeleton), attaches each one, and writes what they see as JSON lines on stdout for the control
// plane (src/detect/telemetry.ts). It exits when its stdin closes, so it never outlives the
// control plane that started it.
//
//   rampart-telemetry --parent NAME --level N [--deny SYSCALL,...]
//
// First line: {"t":"ready","attached":[...],"failed":[{"program","error"}]}. Then one line per
// event, and {"t":"drops","total":N} whenever the count of events the kernel could not queue
// grows: nothing is lost without a count. When stdout is not read fast enough, writes block, the
// ring buffer fills, and the kernel side counts what it cannot queue.

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "probe.h"
#include "probe.skel.h"

static const struct {
  const char *name;
  int nr;
} SYSCALLS[] = {
#define S(n) {#n, SYS_##n},
    S(mount) S(umount2) S(unshare) S(setns) S(pivot_root) S(chroot) S(ptrace) S(process_vm_readv)
        S(process_vm_writev) S(bpf) S(keyctl) S(add_key) S(request_key) S(init_module) S(finit_module)
            S(delete_module) S(kexec_load) S(kexec_file_load) S(open_by_handle_at) S(perf_event_open)
                S(userfaultfd) S(reboot) S(swapon) S(swapoff) S(acct) S(settimeofday) S(clock_settime)
                    S(sethostname) S(setdomainname) S(fsopen) S(fsmount) S(move_mount) S(open_tree)
                        S(personality) S(quotactl) S(lookup_dcookie) S(name_to_handle_at) S(vhangup)
#ifdef SYS_iopl
                            S(iopl) S(ioperm)
#endif
#undef S
};

static const char *syscall_name(unsigned nr) {
  for (size_t i = 0; i < sizeof(SYSCALLS) / sizeof(SYSCALLS[0]); i++)
    if ((unsigned)SYSCALLS[i].nr == nr) return SYSCALLS[i].name;
  return "";
}

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("rampart-telemetry: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

// A JSON string: quotes, backslashes and control characters escaped, bytes above 0x7f as \u00XX
// (paths and arguments are bytes, not always UTF-8), at most `n` bytes or up to a NUL.
static void json_str(const char *s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n && s[i]; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      putchar('\\');
      putchar(c);
    } else if (c < 0x20 || c >= 0x7f) {
      printf("\\u%04x", c);
    } else {
      putchar(c);
    }
  }
  putchar('"');
}

static void header(const char *t, const struct header *h) {
  printf("{\"t\":\"%s\",\"pid\":%u,\"ppid\":%u,\"uid\":%u,\"cg\":\"%llu\",\"ns\":%llu,\"comm\":", t, h->pid,
         h->ppid, h->uid, (unsigned long long)h->cgroup, (unsigned long long)h->time);
  json_str(h->comm, sizeof(h->comm));
}

static const char *file_kind(__u32 mode) {
  switch (mode & 0170000) {
    case 0140000:
      // The family, above the mode (probe.bpf.c): AF_UNIX is a local socketpair or socket.
      return (mode >> 16) == 1 ? "unix-socket" : "socket";
    case 0010000:
      return "pipe";
    case 0020000:
      return "tty";
    case 0100000:
      return "file";
    case 0:
      return "";
    default:
      return "other";
  }
}

static int on_event(void *ctx, void *data, size_t size) {
  (void)ctx;
  const struct header *h = data;
  if (size < sizeof(*h)) return 0;
  switch (h->kind) {
    case KIND_EXEC: {
      const struct exec_event *e = data;
      header("exec", h);
      fputs(",\"pcomm\":", stdout);
      json_str(e->pcomm, sizeof(e->pcomm));
      fputs(",\"file\":", stdout);
      json_str(e->filename, sizeof(e->filename));
      fputs(",\"argv\":[", stdout);
      // argv is NUL-separated in the process's memory; a truncated last one is kept as it is.
      size_t len = e->args_len < ARGS_MAX ? e->args_len : ARGS_MAX;
      for (size_t i = 0, first = 1; i < len;) {
        size_t j = i;
        while (j < len && e->args[j]) j++;
        if (!first) putchar(',');
        json_str(e->args + i, j - i);
        first = 0;
        i = j + 1;
      }
      printf("],\"stdin\":\"%s\",\"cwd\":", file_kind(e->stdin_mode));
      json_str(e->cwd + (e->cwd_off & CWD_END), CWD_END - (e->cwd_off & CWD_END));
      fputs("}\n", stdout);
      break;
    }
    case KIND_EXIT: {
      const struct exit_event *e = data;
      header("exit", h);
      printf(",\"code\":%d,\"signal\":%d}\n", (e->code >> 8) & 0xff, e->code & 0x7f);
      break;
    }
    case KIND_OPEN: {
      const struct open_event *e = data;
      header("open", h);
      // A relative path is joined to the working directory when it is relative to it; relative
      // to another directory descriptor, it is shown as "<fd N>/path".
      char full[CWD_BUF + PATH_MAX_EV + 16];
      if (e->path[0] == 0)
        full[0] = 0; // not readable at the syscall's entry (not yet paged in): counted as such
      else if (e->path[0] == '/')
        snprintf(full, sizeof(full), "%.*s", PATH_MAX_EV, e->path);
      else if (e->dfd == -100)
        snprintf(full, sizeof(full), "%.*s/%.*s", (int)(CWD_END - (e->cwd_off & CWD_END)),
                 e->cwd + (e->cwd_off & CWD_END), PATH_MAX_EV, e->path);
      else
        snprintf(full, sizeof(full), "<fd %d>/%.*s", e->dfd, PATH_MAX_EV, e->path);
      fputs(",\"path\":", stdout);
      json_str(full, sizeof(full));
      printf(",\"flags\":%u}\n", e->flags);
      break;
    }
    case KIND_CONNECT: {
      const struct connect_event *e = data;
      char ip[INET6_ADDRSTRLEN] = "";
      header("connect", h);
      if (e->family == AF_INET) {
        inet_ntop(AF_INET, e->addr + 4, ip, sizeof(ip));
        printf(",\"family\":\"inet\",\"address\":\"%s\",\"port\":%u}\n", ip, ntohs(*(const __u16 *)(e->addr + 2)));
      } else if (e->family == AF_INET6) {
        inet_ntop(AF_INET6, e->addr + 8, ip, sizeof(ip));
        printf(",\"family\":\"inet6\",\"address\":\"%s\",\"port\":%u}\n", ip, ntohs(*(const __u16 *)(e->addr + 2)));
      } else if (e->family == AF_UNIX) {
        // An abstract socket's name starts with a NUL: shown as "@name", as ss(8) does.
        const char *p = (const char *)e->addr + 2;
        fputs(",\"family\":\"unix\",\"address\":", stdout);
        if (p[0] == 0) {
          char abs[sizeof(e->addr)] = "@";
          memcpy(abs + 1, p + 1, sizeof(e->addr) - 4);
          json_str(abs, sizeof(abs) - 1);
        } else {
          json_str(p, sizeof(e->addr) - 2);
        }
        fputs(",\"port\":0}\n", stdout);
      } else {
        printf(",\"family\":\"%u\",\"address\":\"\",\"port\":0}\n", e->family);
      }
      break;
    }
    case KIND_DENIED: {
      const struct denied_event *e = data;
      header("denied", h);
      printf(",\"nr\":%u,\"syscall\":\"%s\",\"errno\":%d}\n", e->nr, syscall_name(e->nr), -e->ret);
      break;
    }
    default:
      break;
  }
  return 0;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap) {
  return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static __u64 total_drops(int fd) {
  long ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0 || ncpu > 4096) return 0;
  __u64 values[4096];
  __u32 key = 0;
  if (bpf_map_lookup_elem(fd, &key, values) != 0) return 0;
  __u64 sum = 0;
  for (long i = 0; i < ncpu; i++) sum += values[i];
  return sum;
}

int main(int argc, char **argv) {
  const char *parent = NULL, *deny = "";
  int level = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--parent")) parent = argv[i + 1];
    else if (!strcmp(argv[i], "--level")) level = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--deny")) deny = argv[i + 1];
    else fail("unknown option %s", argv[i]);
  }
  if (!parent || strlen(parent) >= PARENT_MAX || level < 0 || level > 64)
    fail("usage: rampart-telemetry --parent NAME --level N [--deny SYSCALL,...]");
  libbpf_set_print(quiet);
  // Tracepoints are found through tracefs: mounted where the kernel documents it when missing.
  if (access("/sys/kernel/tracing/events", F_OK) != 0 &&
      mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) != 0)
    fail("tracefs is not mounted and cannot be (%s)", strerror(errno));

  struct probe_bpf *skel = probe_bpf__open();
  if (!skel) fail("cannot open the programs: %s", strerror(errno));
  memcpy((char *)skel->rodata->parent_name, parent, strlen(parent));
  skel->rodata->parent_len = strlen(parent);
  skel->rodata->parent_level = level;
  int err = probe_bpf__load(skel);
  if (err) fail("the kernel refused the programs: %s", strerror(-err));

  char list[1024];
  snprintf(list, sizeof(list), "%s", deny);
  for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
    int found = 0;
    for (size_t i = 0; i < sizeof(SYSCALLS) / sizeof(SYSCALLS[0]); i++)
      if (!strcmp(SYSCALLS[i].name, name)) {
        __u32 nr = SYSCALLS[i].nr;
        __u8 on = 1;
        if (nr < 512) bpf_map_update_elem(bpf_map__fd(skel->maps.denied_nrs), &nr, &on, BPF_ANY);
        found = 1;
      }
    if (!found) fprintf(stderr, "rampart-telemetry: no syscall %s on this architecture\n", name);
  }

  struct bpf_program *progs[] = {skel->progs.on_exec,   skel->progs.on_exit,  skel->progs.on_openat,
                                 skel->progs.on_openat2, skel->progs.on_open,  skel->progs.on_creat,
                                 skel->progs.on_connect, skel->progs.on_sys_exit};
  enum { PROGS = sizeof(progs) / sizeof(progs[0]) };
  struct bpf_link *links[PROGS] = {0};
  fputs("{\"t\":\"ready\",\"attached\":[", stdout);
  int n = 0;
  char failed[2048] = "";
  size_t used = 0;
  for (int i = 0; i < PROGS; i++) {
    links[i] = bpf_program__attach(progs[i]);
    long e = libbpf_get_error(links[i]);
    if (e) {
      links[i] = NULL;
      used += snprintf(failed + used, sizeof(failed) - used, "%s{\"program\":\"%s\",\"error\":\"%s\"}",
                       used ? "," : "", bpf_program__name(progs[i]), strerror((int)-e));
      if (used >= sizeof(failed)) used = sizeof(failed) - 1;
    } else {
      printf("%s\"%s\"", n++ ? "," : "", bpf_program__name(progs[i]));
    }
  }
  printf("],\"failed\":[%s]}\n", failed);
  fflush(stdout);

  struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
  if (!rb) fail("cannot open the ring buffer: %s", strerror(errno));
  static char out[1 << 20];
  setvbuf(stdout, out, _IOFBF, sizeof(out));
  int drops_fd = bpf_map__fd(skel->maps.drops);
  __u64 reported = 0;
  struct pollfd pfd[2] = {{.fd = ring_buffer__epoll_fd(rb), .events = POLLIN}, {.fd = 0, .events = POLLIN}};
  struct timespec last_drops = {0};
  for (;;) {
    // Woken by the kernel only when the buffer fills a quarter (probe.bpf.c); otherwise drained
    // every millisecond, which bounds the delay an event waits here.
    int r = poll(pfd, 2, 1);
    if (r < 0 && errno != EINTR) fail("poll: %s", strerror(errno));
    if (pfd[1].revents) {
      char buf[256];
      if (read(0, buf, sizeof(buf)) <= 0) break; // the control plane went away
    }
    if (ring_buffer__consume(rb) < 0 && errno != EINTR) fail("ring buffer: %s", strerror(errno));
    // The drop counter is read ten times a second (a map read per millisecond is waste).
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - last_drops.tv_sec) * 1000000000L + (now.tv_nsec - last_drops.tv_nsec) > 100000000L) {
      last_drops = now;
      __u64 d = total_drops(drops_fd);
      if (d != reported) {
        printf("{\"t\":\"drops\",\"total\":%llu}\n", (unsigned long long)d);
        reported = d;
      }
    }
    if (fflush(stdout) != 0) break;
  }
  ring_buffer__free(rb);
  for (int i = 0; i < PROGS; i++) bpf_link__destroy(links[i]);
  probe_bpf__destroy(skel);
  return 0;
}

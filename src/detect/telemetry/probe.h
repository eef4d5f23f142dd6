// The records the kernel programs (probe.bpf.c) put in the ring buffer and the loader (loader.c)
// reads: one header, then the kind's own fields. Both sides compile this file.

#ifndef RAMPART_PROBE_H
#define RAMPART_PROBE_H

#define PARENT_MAX 64
#define RINGBUF_BYTES (8 << 20)
#define ARGS_MAX 512
#define PATH_MAX_EV 256
/** The working directory, written backwards from CWD_END into a buffer of twice its size. */
#define CWD_END 255
#define CWD_BUF 512

enum kind { KIND_EXEC = 1, KIND_EXIT = 2, KIND_OPEN = 3, KIND_CONNECT = 4, KIND_DENIED = 5 };

struct header {
  __u32 kind;
  __u32 pid;
  __u32 ppid;
  __u32 uid;
  __u64 cgroup;
  __u64 time;
  char comm[16];
};

struct exec_event {
  struct header h;
  __u32 stdin_mode;
  __u32 args_len;
  __u32 cwd_off;
  char cwd[CWD_BUF];
  char pcomm[16];
  char filename[PATH_MAX_EV];
  char args[ARGS_MAX];
};

struct exit_event {
  struct header h;
  __s32 code;
};

struct open_event {
  struct header h;
  __u32 flags;
  __s32 dfd;
  __u32 cwd_off;
  char cwd[CWD_BUF];
  char path[PATH_MAX_EV];
};

struct connect_event {
  struct header h;
  __u16 family;
  __u16 port;
  __u8 addr[112];
};

struct denied_event {
  struct header h;
  __u32 nr;
  __s32 ret;
};

#endif

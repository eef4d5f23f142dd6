// rampart-bridge: a sandbox's way to the egress proxy, and a Swarm task's gate.
//
//   rampart-bridge [--gate FIFO] [PORT SOCKET] -- COMMAND [ARG...]
//
// --gate: the bridge first waits on FIFO (a named pipe Rampart binds in) and goes on only when
// Rampart writes "G" to it: a Swarm task starts the moment its service is created, and this is
// how it is held, as bwrap holds a run on --block-fd, until Rampart has checked the process from
// the host (its uid, no-new-privileges, seccomp, capabilities), moved it into the run's cgroup
// and put the run on record. Anything else on the pipe (or its end) is exit 125: COMMAND never
// starts.
//
// A sandbox has no network interface but loopback. Its programs are told HTTP(S)_PROXY is
// 127.0.0.1:PORT; the proxy itself is reached through SOCKET, the run's own unix socket, bound
// into the sandbox by `rampart run`, which is how the proxy knows which run is speaking.
//
// The bridge listens on 127.0.0.1:PORT first and only then becomes COMMAND (exec, same process),
// so the listener exists before the command's first instruction: a connection can never be
// refused for being early, and nothing has to poll for readiness. A relay process, detached so
// that it is a child of the sandbox's init and not of COMMAND (a program that waits for all of
// its children must not wait for it), accepts connections and joins each to SOCKET in a process
// of its own. It ends with the sandbox: when COMMAND exits, the sandbox's pid namespace is taken
// down with everything in it.
//
// Relaying is non-blocking, with a buffer per direction, so two peers that both write a lot at
// once cannot deadlock it; an end of stream on one side is passed on (half-close) and the
// connection is closed when both directions are done, or at the first error on either side.
//
// Exit status 125 when the bridge cannot be set up; COMMAND never starts then. Built by
// `npm run build` (scripts/bundle.mjs) into dist/rampart-bridge.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SETUP_FAILED 125
#define BUFFER_SIZE 65536

static void fail(const char *what) {
  fprintf(stderr, "rampart: the egress bridge cannot start: %s: %s\n", what, strerror(errno));
  _exit(SETUP_FAILED);
}

static void usage(void) {
  fputs("usage: rampart-bridge [--gate FIFO] [PORT SOCKET] -- COMMAND [ARG...]\n", stderr);
  _exit(SETUP_FAILED);
}

/** One direction of a connection: bytes read from `from`, not yet written to `to`. */
struct flow {
  int from, to;
  char buf[BUFFER_SIZE];
  size_t len, off;
  int eof;  // `from` has ended (and, once the buffer is empty, `to` has been told)
};

/** Moves what it can without blocking; returns -1 when the connection must close. */
static int step(struct flow *f) {
  if (f->off == f->len && !f->eof) {
    ssize_t n = read(f->from, f->buf, sizeof f->buf);
    if (n > 0) {
      f->len = (size_t)n;
      f->off = 0;
    } else if (n == 0) {
      f->eof = 1;
      shutdown(f->to, SHUT_WR);
      return 0;
    } else if (errno != EAGAIN && errno != EINTR) {
      return -1;
    }
  }
  while (f->off < f->len) {
    ssize_t n = write(f->to, f->buf + f->off, f->len - f->off);
    if (n < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
    f->off += (size_t)n;
  }
  return 0;
}

/** Relays between a and b until both directions have ended or either side fails. */
static void relay(int a, int b) {
  static struct flow up, down;
  up.from = a, up.to = b;
  down.from = b, down.to = a;
  for (;;) {
    struct flow *flows[2] = {&up, &down};
    struct pollfd p[2];
    int n = 0;
    for (int i = 0; i < 2; i++) {
      struct flow *f = flows[i];
      if (f->off < f->len) {
        p[n++] = (struct pollfd){.fd = f->to, .events = POLLOUT};
      } else if (!f->eof) {
        p[n++] = (struct pollfd){.fd = f->from, .events = POLLIN};
      }
    }
    if (n == 0) return;  // both directions done
    if (poll(p, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < n; i++)
      if (p[i].revents & POLLNVAL) return;
    if (step(&up) < 0 || step(&down) < 0) return;
  }
}

static void nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/** One accepted connection: join it to the channel socket, relay, exit. */
static void serve(int client, const struct sockaddr_un *channel) {
  // A peer that has gone away is an error from write(), not a signal. (Only here: an ignored
  // signal stays ignored across exec, and COMMAND must start with default dispositions.)
  signal(SIGPIPE, SIG_IGN);
  int upstream = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (upstream < 0 || connect(upstream, (const struct sockaddr *)channel, sizeof *channel) < 0) {
    // The channel is gone (the run is ending, or the proxy is down): the client sees its
    // connection close, never a way around the proxy.
    fprintf(stderr, "rampart: the egress bridge cannot reach the proxy: %s\n", strerror(errno));
    _exit(1);
  }
  int one = 1;
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  nonblocking(client);
  nonblocking(upstream);
  relay(client, upstream);
  _exit(0);
}

/** The relay: accepts forever, one process per connection (reaped by the kernel). */
static void accept_loop(int listener, const struct sockaddr_un *channel) {
  signal(SIGCHLD, SIG_IGN);
  for (;;) {
    int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // Out of descriptors or memory: back off instead of spinning, then keep serving.
      usleep(10000);
      continue;
    }
    pid_t pid = fork();
    if (pid == 0) {
      close(listener);
      serve(client, channel);
    }
    // In the relay (or when fork failed, at the pids limit: the client sees its connection close).
    close(client);
  }
}

/** Blocks until Rampart releases the run through `fifo`; exit 125 unless it does. */
static void await_gate(const char *fifo) {
  int fd;
  while ((fd = open(fifo, O_RDONLY | O_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (fd < 0) fail("open the gate");
  char c = 0;
  ssize_t n;
  while ((n = read(fd, &c, 1)) < 0 && errno == EINTR) {
  }
  close(fd);
  if (n != 1 || c != 'G') {
    fputs("rampart: the run was not released (the gate closed)\n", stderr);
    _exit(SETUP_FAILED);
  }
}

/** COMMAND, in place of this process. */
static void become(char **command) {
  execvp(command[0], command);
  fprintf(stderr, "rampart: cannot run %s: %s\n", command[0], strerror(errno));
  _exit(errno == ENOENT ? 127 : 126);
}

int main(int argc, char **argv) {
  int i = 1;
  if (i + 1 < argc && strcmp(argv[i], "--gate") == 0) {
    await_gate(argv[i + 1]);
    i += 2;
  }
  // Only a gate: no egress channel to bridge.
  if (i < argc && strcmp(argv[i], "--") == 0) {
    if (i + 1 >= argc) usage();
    become(argv + i + 1);
  }
  if (argc - i < 4 || strcmp(argv[i + 2], "--") != 0) usage();
  char *end;
  long port = strtol(argv[i], &end, 10);
  if (*argv[i] == '\0' || *end != '\0' || port < 1 || port > 65535) usage();
  struct sockaddr_un channel = {.sun_family = AF_UNIX};
  if (strlen(argv[i + 1]) >= sizeof channel.sun_path) usage();
  strcpy(channel.sun_path, argv[i + 1]);

  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) fail("socket");
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0) fail("bind 127.0.0.1");
  if (listen(listener, 128) < 0) fail("listen");

  // Detach the relay (fork twice): its parent becomes the sandbox's init, not COMMAND.
  pid_t child = fork();
  if (child < 0) fail("fork");
  if (child == 0) {
    pid_t relay_pid = fork();
    if (relay_pid < 0) _exit(SETUP_FAILED);
    if (relay_pid > 0) _exit(0);
    // The relay keeps stderr for its messages; the command's stdin and stdout are not its own.
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
    }
    accept_loop(listener, &channel);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    errno = EAGAIN;
    fail("fork the relay");
  }
  // SOCK_CLOEXEC: COMMAND does not inherit the listener; the relay already holds it.
  become(argv + i + 3);
}

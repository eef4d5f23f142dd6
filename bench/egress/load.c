// The load for bench/egress's tunnel rate: CONNECT clients and the origin they reach, in C.
//
//   load PROXY_PORT CONCURRENCY SECONDS [http|socks|socks-password] < credential
//
// http (the default): an HTTP CONNECT, the credential its Proxy-Authorization value. socks: a
// SOCKS5 CONNECT without authentication. socks-password: SOCKS5 with the username and password
// step, the credential the password. A SOCKS5 client waits for each reply before its next
// message, as curl does.
//
// Why C: on a machine with two cores, the proxy under test gets one and the load the other. A
// load written on Node's sockets costs more per tunnel than the faster proxies do, so it, not
// the proxy, set the rate, and every proxy measured about the same. This one costs a fraction
// of a proxy's work per tunnel: each of CONCURRENCY clients connects to the proxy, sends one
// CONNECT to this program's own origin (127.0.0.2, an ephemeral port), reads the answer head,
// checks that it is a 200 and closes, then starts again; the origin accepts and closes once the
// proxy has closed its side. Prints the tunnels completed within SECONDS; any other answer, or a connection
// that fails, ends the run with a message and exit code 1 (a refusing proxy is not fast).

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define ORIGIN_TAG (1ULL << 62)
#define LISTEN_TAG (1ULL << 63)

enum mode { HTTP, SOCKS, SOCKS_PASSWORD };

/** 0: connecting; then awaiting: 1 the HTTP answer, 2 the SOCKS method, 3 the password's verdict, 4 the SOCKS reply. */
struct slot {
  int fd;
  int state;
  size_t got;
  char buf[512];
};

static int die(const char *what) {
  fprintf(stderr, "load: %s: %s\n", what, strerror(errno));
  exit(1);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/** Where the proxy listens: a loopback TCP port, or a unix socket (a Rampart run's channel). */
struct proxy_addr {
  int family;
  struct sockaddr_in in;
  struct sockaddr_un un;
};

static void start(int ep, struct slot *s, size_t i, const struct proxy_addr *proxy) {
  s->fd = socket(proxy->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0) die("socket");
  int one = 1;
  if (proxy->family == AF_INET) setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const struct sockaddr *to =
      proxy->family == AF_INET ? (const struct sockaddr *)&proxy->in : (const struct sockaddr *)&proxy->un;
  socklen_t len = proxy->family == AF_INET ? sizeof proxy->in : sizeof proxy->un;
  if (connect(s->fd, to, len) < 0 && errno != EINPROGRESS && errno != EAGAIN) die("connect to the proxy");
  s->state = 0;
  s->got = 0;
  struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = i};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) die("epoll_ctl");
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: load PROXY_PORT|SOCKET_PATH CONCURRENCY SECONDS [http|socks|socks-password] < credential\n");
    return 2;
  }
  enum mode mode = argc < 5 || !strcmp(argv[4], "http") ? HTTP
                   : !strcmp(argv[4], "socks")          ? SOCKS
                                                        : SOCKS_PASSWORD;
  int proxyPort = atoi(argv[1]);
  size_t n = (size_t)atoi(argv[2]);
  double seconds = atof(argv[3]);
  char auth[256];
  if (!fgets(auth, sizeof auth, stdin)) die("reading the proxy-authorization value");
  auth[strcspn(auth, "\r\n")] = 0;

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");

  struct sockaddr_in origin = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.2", &origin.sin_addr);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&origin, sizeof origin) < 0 || listen(lfd, 4096) < 0)
    die("origin listener");
  socklen_t len = sizeof origin;
  getsockname(lfd, (struct sockaddr *)&origin, &len);
  struct epoll_event lev = {.events = EPOLLIN, .data.u64 = LISTEN_TAG};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);

  char head[512];
  int port = ntohs(origin.sin_port);
  int headLen = snprintf(head, sizeof head,
                         "CONNECT 127.0.0.2:%d HTTP/1.1\r\nhost: 127.0.0.2:%d\r\nproxy-authorization: %s\r\n\r\n",
                         port, port, auth);
  const char greeting[3] = {5, 1, mode == SOCKS_PASSWORD ? 2 : 0};
  char password[520];
  size_t plen = strlen(auth) > 255 ? 255 : strlen(auth);
  size_t passwordLen = 3 + 5 + plen;
  memcpy(password, "\x01\x05" "bench", 7);
  password[7] = (char)plen;
  memcpy(password + 8, auth, plen);
  const char request[10] = {5, 1, 0, 1, 127, 0, 0, 2, (char)(port >> 8), (char)(port & 255)};

  struct proxy_addr proxy = {.family = argv[1][0] == '/' ? AF_UNIX : AF_INET};
  if (proxy.family == AF_UNIX) {
    proxy.un.sun_family = AF_UNIX;
    if (strlen(argv[1]) >= sizeof proxy.un.sun_path) die("socket path too long");
    strcpy(proxy.un.sun_path, argv[1]);
  } else {
    proxy.in.sin_family = AF_INET;
    proxy.in.sin_port = htons((uint16_t)proxyPort);
    inet_pton(AF_INET, "127.0.0.1", &proxy.in.sin_addr);
  }
  struct slot *slots = calloc(n, sizeof *slots);
  for (size_t i = 0; i < n; i++) start(ep, &slots[i], i, &proxy);

  unsigned long done = 0;
  size_t active = n;
  double end = now() + seconds;
  struct epoll_event evs[256];
  char sink[4096];
  while (active > 0) {
    int k = epoll_wait(ep, evs, 256, 1000);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    int over = now() >= end;
    for (int e = 0; e < k; e++) {
      uint64_t tag = evs[e].data.u64;
      if (tag == LISTEN_TAG) {
        for (;;) {
          int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          if (mode != HTTP) {
            // Closed at once: the proxy's side of the origin connection then closes second and
            // keeps no TIME_WAIT. Dante binds its outgoing sockets before connecting, so those
            // would use up its address's ephemeral ports within seconds at these rates.
            close(c);
            continue;
          }
          struct epoll_event oev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = ORIGIN_TAG | (uint64_t)c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &oev);
        }
        continue;
      }
      if (tag & ORIGIN_TAG) {
        int c = (int)(tag & ~ORIGIN_TAG);
        ssize_t r;
        while ((r = recv(c, sink, sizeof sink, 0)) > 0);
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) close(c);
        continue;
      }
      struct slot *s = &slots[tag];
      if (s->state == 0) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
          errno = err;
          die("connect to the proxy");
        }
        int sent = mode == HTTP ? (int)send(s->fd, head, (size_t)headLen, MSG_NOSIGNAL)
                                : (int)send(s->fd, greeting, 3, MSG_NOSIGNAL);
        if (sent != (mode == HTTP ? headLen : 3)) die("send");
        s->state = mode == HTTP ? 1 : 2;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
        epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
        continue;
      }
      ssize_t r = recv(s->fd, s->buf + s->got, sizeof s->buf - 1 - s->got, 0);
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (r <= 0) {
        fprintf(stderr, "load: the proxy closed before answering\n");
        return 1;
      }
      s->got += (size_t)r;
      s->buf[s->got] = 0;
      if (s->state >= 2) {
        // SOCKS5: a method (2 bytes), the password's verdict (2), the reply (10, an IPv4 address).
        size_t want = s->state == 4 ? 10 : 2;
        if (s->got < want) continue;
        const unsigned char *b = (const unsigned char *)s->buf;
        int ok = b[0] == (s->state == 3 ? 1 : 5) && (b[1] == 0 || (s->state == 2 && b[1] == greeting[2]));
        if (!ok) {
          fprintf(stderr, "load: the SOCKS5 proxy answered %d %d at step %d\n", b[0], b[1], s->state);
          return 1;
        }
        s->got = 0;
        if (s->state == 2 && b[1] == 2) {
          if (send(s->fd, password, passwordLen, MSG_NOSIGNAL) != (ssize_t)passwordLen) die("send");
          s->state = 3;
          continue;
        }
        if (s->state != 4) {
          if (send(s->fd, request, sizeof request, MSG_NOSIGNAL) != (ssize_t)sizeof request) die("send");
          s->state = 4;
          continue;
        }
      } else if (!strstr(s->buf, "\r\n\r\n")) {
        if (s->got >= sizeof s->buf - 1) {
          fprintf(stderr, "load: the answer head is too long\n");
          return 1;
        }
        continue;
      }
      if (mode == HTTP && strncmp(s->buf, "HTTP/1.1 200", 12) != 0 && strncmp(s->buf, "HTTP/1.0 200", 12) != 0) {
        fprintf(stderr, "load: the proxy answered %.*s\n", (int)strcspn(s->buf, "\r\n"), s->buf);
        return 1;
      }
      close(s->fd);
      if (over) {
        active--;
      } else {
        done++;
        start(ep, s, tag, &proxy);
      }
    }
  }
  printf("%lu\n", done);
  return 0;
}

// rampart-relay: the egress proxy's connections and tunnels, in C (a Node-API addon).
//
// Why C: a tunnel is opened by the thousand per second and most carry one request. In Node each
// costs two Socket objects, their handles, streams and callbacks; measured with callgrind, that
// alone made new tunnels per second fall short of squid's before Rampart did any work of its own.
// A plain request's client connection is kept here for the same reason: adopting it as a Node
// Socket cost more than the proxy's own work on the request.
// Here a tunnel is two file descriptors and one struct, and its bytes go through one scratch
// buffer shared by every tunnel. (splice(2) through a pipe was tried first: on loopback it moved
// a single tunnel's bytes about 20% slower than this copy, and cost two pipes per tunnel.)
//
// What stays in TypeScript is everything that decides: the strict parser, identity, rules, the
// policy decision point, DNS and the address guard, records, and the plain exchange with an
// origin. This file only frames and moves:
//
//   accept ─▶ read the first bytes ─▶ not CONNECT, GET, HEAD or SOCKS5: hand the descriptor to
//                                  │  Node (HANDOFF), with the bytes read
//                                  ├▶ SOCKS5: answer the greeting and the password step, read
//                                  │  the request (SOCKS) and wait, as for a CONNECT's head
//                                  └▶ read to the end of the head (bounded in size and time);
//                                     a GET or HEAD with more after it: HANDOFF (pipelined);
//                                     else give the head to Node (HEAD) and wait.
//   Node answers with tunnel() (an address it checked), send() and end() (the answer to a GET
//   or HEAD, written here), reject() (bytes to write, then close) or handoff() (node:http's).
//   tunnel() ─▶ connect to that address, bounded in time (FAILED with errno when it cannot) ─▶
//               write the 200, relay both ways until both have ended (CLOSED, bytes each way).
//   send()   ─▶ written at once; what the client cannot take is held and Node waits (DRAIN).
//   end()    ─▶ the rest written, the client's side shut, closed when the client closes.
//   A connection Node holds that fails or is cut before its end: CLOSED.
//
// It runs on Node's own event loop, not a thread of its own: its epoll set is one descriptor
// that libuv polls (uv_poll), and a timer checks deadlines. A thread would move work off the
// JavaScript thread, but every request would then cross between threads twice, and on a VM a
// cross-thread wake-up costs more than what this code does per request. So events are plain
// calls into JavaScript, and commands are plain calls into C.
//
// Each socket is registered once, edge-triggered, for reading and writing, and never modified;
// readiness is remembered in the struct until a call says EAGAIN. Backpressure: what a read
// brought and the other end could not take at once is kept, and that direction reads nothing
// more until it has gone, so what is held per direction is at most one read (256 KiB).
// Half-close: an end of stream is passed on with shutdown(SHUT_WR) once nothing is held, and the
// other direction goes on; a tunnel ends when both directions have, at the first error on either
// side, when idle too long, or when cut.
//
// Re-entrancy: JavaScript may call back in (reject, cut, close) from inside an event, so code
// never touches a connection after announcing something about it, and a dropped connection is
// only marked dead and freed once the batch of epoll events that might still name it is done.
// Built by `npm run build` (scripts/bundle.mjs) into dist/rampart-relay.node; Linux only.

#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "framing.h"

enum kind { K_LISTENER = 1, K_END, K_KICK };
enum state { S_HEAD, S_DECIDE, S_CONNECT, S_RELAY, S_RESPOND, S_LINGER, S_DEAD };
enum event_type { EV_HEAD = 1, EV_HANDOFF, EV_FAILED, EV_CLOSED, EV_DRAIN, EV_SOCKS };
enum close_reason { R_END = 0, R_IDLE, R_CUT, R_ERROR };

#define SCRATCH (256 * 1024)
#define LINGER_MS 5000
#define NEVER INT64_MAX
#define TABLE_BITS 14
#define BATCH 256

struct conn;

struct listener {
  int kind;
  int fd;
  uint32_t id;
  int tcp;
  char *path;  // a unix socket's path, removed when it closes
  uint64_t paused_until;  // out of descriptors: accepting again at this time
  struct listener *next;
};

/** One side of a connection, as registered with epoll. */
struct end {
  int kind;
  int fd;
  struct conn *c;
  uint8_t readable, writable;
};

/** One direction: bytes from one end to the other. */
struct flow {
  const char *pre;  // written before anything else is read: the 200, bytes after a head, the
                    // rest of a read the other end could not take at once
  size_t pre_off, pre_len;
  char *pre_owned;  // freed with the connection
  uint8_t pre_counts;  // whether `pre` counts as relayed bytes
  uint8_t eof, shut;
  uint64_t bytes;
};

struct conn {
  uint32_t id, listener;
  enum state st;
  struct end client, origin;
  struct flow up, down;  // up: client to origin; down: origin to client
  char *buf;  // the request head as read, and whatever followed it
  size_t len, cap, head_end;
  enum socks_phase socks;
  size_t socks_auth;  // where its username and password message begins (0: none was sent)
  uint64_t deadline;
  struct conn *prev, *next, *hnext;
};

/** An event raised outside an epoll batch (by a command), delivered at the next one. */
struct event {
  int type;
  uint32_t id, x;
  double a, b;
  struct event *next;
};

struct relay {
  napi_env env;
  uv_loop_t *loop;
  uv_poll_t poll;  // the epoll set, as libuv sees it
  uv_timer_t timer;  // deadlines
  int ep;
  struct end kick;  // an eventfd in the epoll set: events queued by commands are delivered soon
  napi_ref cb;
  napi_async_context actx;
  int depth;  // inside a batch (events go straight to JavaScript)
  int closing, closed;
  int refs;  // the handle and libuv's two handles; the last to go frees the struct
  uint32_t next_id;
  struct event *evs, **evs_tail;
  struct conn *dead;  // dropped during a batch, freed after it

  struct listener *listeners;
  struct conn *conns;
  size_t nconns;
  struct conn *table[1 << TABLE_BITS];
  char scratch[SCRATCH];  // every read lands here first (one thread: one read at a time)
  uint64_t now;

  // Settings, fixed at open.
  size_t max_head;
  uint64_t head_ms, idle_ms, tick_ms;
  char *established, *too_large, *too_slow;
  size_t established_len, too_large_len, too_slow_len;
};

static uint32_t take_id(struct relay *r) { return ++r->next_id; }

/** The loop keeps running while the relay listens or holds connections, as a server would. */
static void update_ref(struct relay *r) {
  if (r->closed) return;
  if (r->listeners || r->conns) uv_ref((uv_handle_t *)&r->poll);
  else uv_unref((uv_handle_t *)&r->poll);
}

// ---- events to JavaScript ------------------------------------------------------------------

static void call_js(struct relay *r, int type, uint32_t id, uint32_t x, double a, double b, const char *data,
                    size_t len) {
  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value argv[6], cb, recv, undefined;
  napi_get_global(env, &recv);  // make_callback wants an object
  napi_get_undefined(env, &undefined);
  napi_create_int32(env, type, &argv[0]);
  napi_create_uint32(env, id, &argv[1]);
  napi_create_uint32(env, x, &argv[2]);
  napi_create_double(env, a, &argv[3]);
  napi_create_double(env, b, &argv[4]);
  if (data) napi_create_buffer_copy(env, len, data, NULL, &argv[5]);
  else argv[5] = undefined;
  napi_get_reference_value(env, r->cb, &cb);
  // make_callback, not call_function: it runs the microtasks (the proxy's promises) afterwards,
  // as any callback from the event loop does.
  if (napi_make_callback(env, r->actx, recv, cb, 6, argv, NULL) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

/**
 * Announces something about a connection. Inside a batch it is a call into JavaScript now (which
 * may call back in: the caller touches the connection no more); from a command, it waits for the
 * next batch, which the kick brings at once. HEAD and HANDOFF only happen inside batches.
 */
static void emit(struct relay *r, int type, uint32_t id, uint32_t x, double a, double b, const char *data,
                 size_t len) {
  if (r->closing) return;
  if (r->depth > 0) return call_js(r, type, id, x, a, b, data, len);
  struct event *e = calloc(1, sizeof *e);
  if (!e) return;  // out of memory: the record of this one is lost, the connection is closed
  *e = (struct event){type, id, x, a, b, NULL};
  *r->evs_tail = e;
  r->evs_tail = &e->next;
  uint64_t one = 1;
  if (write(r->kick.fd, &one, sizeof one) < 0) { /* already kicked */
  }
}

// ---- connections ---------------------------------------------------------------------------

static struct conn **slot(struct relay *r, uint32_t id) {
  struct conn **p = &r->table[id & ((1 << TABLE_BITS) - 1)];
  while (*p && (*p)->id != id) p = &(*p)->hnext;
  return p;
}

static struct conn *new_conn(struct relay *r, uint32_t id, uint32_t listener, int fd) {
  struct conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->id = id;
  c->listener = listener;
  c->client = (struct end){K_END, fd, c, 1, 1};
  c->origin = (struct end){K_END, -1, c, 0, 0};
  c->deadline = NEVER;
  c->next = r->conns;
  if (r->conns) r->conns->prev = c;
  r->conns = c;
  r->nconns++;
  *slot(r, id) = c;
  update_ref(r);
  return c;
}

static void free_conn(struct conn *c) {
  free(c->buf);
  free(c->up.pre_owned);
  free(c->down.pre_owned);
  free(c);
}

/**
 * Closes a connection's descriptors (the client's unless `keep_client`) and unlinks it. Its
 * memory waits for the end of the batch: a later event in the same batch may still name it.
 */
static void drop(struct relay *r, struct conn *c, int keep_client) {
  if (!keep_client && c->client.fd >= 0) close(c->client.fd);
  if (c->origin.fd >= 0) close(c->origin.fd);
  c->client.fd = c->origin.fd = -1;
  if (c->prev) c->prev->next = c->next;
  else r->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  *slot(r, c->id) = c->hnext;
  r->nconns--;
  c->st = S_DEAD;
  c->next = r->dead;
  r->dead = c;
  update_ref(r);
}

/**
 * Ends a connection. The end of one that Node holds (a tunnel, a plain answer under way or still
 * to come) is reported, with the bytes it carried each way.
 */
static void finish(struct relay *r, struct conn *c, int reason, int err) {
  int tunnel = c->st == S_CONNECT || c->st == S_RELAY || c->st == S_RESPOND || c->st == S_DECIDE;
  uint32_t id = c->id;
  double up = (double)c->up.bytes, down = (double)c->down.bytes;
  drop(r, c, 0);
  if (tunnel) emit(r, EV_CLOSED, id, (uint32_t)reason << 16 | (uint32_t)err, up, down, NULL, 0);
}

static int watch(struct relay *r, struct end *e) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = e};
  return epoll_ctl(r->ep, EPOLL_CTL_ADD, e->fd, &ev);
}

// ---- refusing: write an answer, then let the client go -------------------------------------

/** Sends what the client takes of `len` bytes now: how many it took, or -errno. */
static ssize_t send_now(struct conn *c, const char *p, size_t len) {
  size_t sent = 0;
  while (sent < len && c->client.writable) {
    ssize_t n = send(c->client.fd, p + sent, len - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) c->client.writable = 0;
    else if (n < 0) return -errno;
    else sent += (size_t)n;
  }
  return (ssize_t)sent;
}

static void linger_pump(struct relay *r, struct conn *c) {
  struct flow *f = &c->down;
  ssize_t n = f->pre_off < f->pre_len ? send_now(c, f->pre + f->pre_off, f->pre_len - f->pre_off) : 0;
  if (n < 0) return drop(r, c, 0);
  f->pre_off += (size_t)n;
  if (f->pre_off < f->pre_len) return;
  if (!f->shut) {
    shutdown(c->client.fd, SHUT_WR);
    f->shut = 1;
  }
  // Closing with unread bytes would send a reset, which can destroy the answer before the client
  // reads it: read and discard until the client closes, or the linger time is up.
  char sink[4096];
  while (c->client.readable) {
    ssize_t n = recv(c->client.fd, sink, sizeof sink, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) c->client.readable = 0;
    else if (n <= 0) return drop(r, c, 0);
  }
}

/** Answers with `bytes` (owned when `owned`), then closes; the origin side, if any, at once. */
static void refuse(struct relay *r, struct conn *c, const char *bytes, size_t len, char *owned) {
  if (c->origin.fd >= 0) {
    close(c->origin.fd);
    c->origin.fd = -1;
  }
  c->st = S_LINGER;
  c->deadline = r->now + LINGER_MS;
  free(c->down.pre_owned);
  c->down.pre = bytes;
  c->down.pre_off = 0;
  c->down.pre_len = len;
  c->down.pre_owned = owned;
  linger_pump(r, c);
}

// ---- the request head ----------------------------------------------------------------------

/** Lets go of a connection whose client Node takes over; returns the client's descriptor. */
static int release_client(struct relay *r, struct conn *c) {
  int fd = c->client.fd;
  epoll_ctl(r->ep, EPOLL_CTL_DEL, fd, NULL);
  drop(r, c, 1);  // freed after the batch (or the command): c->buf is still there until then
  return fd;
}

static void handoff(struct relay *r, struct conn *c) {
  int fd = release_client(r, c);
  emit(r, EV_HANDOFF, c->id, c->listener, (double)fd, 0, c->buf, c->len);
}

// ---- SOCKS5: the handshake is framed here, and the request parsed and decided in Node --------

/** A SOCKS5 reply with no bound address: 0x00 succeeded, anything else a refusal (RFC 1928, 6). */
static const char SOCKS_OK[10] = {5, 0, 0, 1, 0, 0, 0, 0, 0, 0};
static const char SOCKS_FAILED[10] = {5, 1, 0, 1, 0, 0, 0, 0, 0, 0};
static const char SOCKS_NO_METHOD[2] = {5, (char)0xff};
static const char SOCKS_AUTH_BAD[2] = {1, 1};

/** A reply of the handshake's own: it is tiny and the socket new, so it goes out whole or not at all. */
static int socks_say(struct conn *c, const char *bytes, size_t len) {
  return send(c->client.fd, bytes, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/**
 * Moves a SOCKS5 handshake on with what has been read (framing.h decides each step): the method
 * is username and password when the client offers it, else none (a run's channel knows its
 * caller). Once the request is in (CONNECT, with its address), Node gets the handshake's bytes
 * (EV_SOCKS) and decides.
 */
static void socks_read(struct relay *r, struct conn *c) {
  struct socks_state st = {c->socks, c->head_end, c->socks_auth};
  for (;;) {
    char reply[2];
    size_t at = 0;
    enum socks_action a = socks_step((const unsigned char *)c->buf, c->len, &st, reply, &at);
    c->socks = st.phase;
    c->head_end = st.head_end;
    c->socks_auth = st.auth_at;
    if (a == SOCKS_MORE) return;
    // refuse() keeps the bytes until they are sent: the static replies, never `reply` itself.
    if (a == SOCKS_REFUSE)
      return refuse(r, c, reply[0] == 5 ? SOCKS_NO_METHOD : SOCKS_AUTH_BAD, 2, NULL);
    if (a == SOCKS_REPLY) {
      if (socks_say(c, reply, 2) < 0) return drop(r, c, 0);
      continue;
    }
    c->st = S_DECIDE;
    c->deadline = NEVER;
    return emit(r, EV_SOCKS, c->id, c->listener, (double)at, (double)c->socks_auth, c->buf, c->head_end);
  }
}

static void head_read(struct relay *r, struct conn *c) {
  while (c->client.readable) {
    if (c->len == c->cap)
      return c->socks ? refuse(r, c, SOCKS_FAILED, sizeof SOCKS_FAILED, NULL)
                      : refuse(r, c, r->too_large, r->too_large_len, NULL);
    ssize_t n = recv(c->client.fd, c->buf + c->len, c->cap - c->len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      c->client.readable = 0;
      return;
    }
    if (n <= 0) return drop(r, c, 0);  // gone before it asked anything
    size_t old = c->len;
    c->len += (size_t)n;
    if (c->socks || (old == 0 && c->buf[0] == 5)) {
      if (!c->socks) c->socks = SOCKS_GREETING;
      socks_read(r, c);
      if (c->socks == SOCKS_DONE || c->st != S_HEAD) return;
      continue;
    }
    size_t at = 0;
    enum head_verdict v = frame_head(c->buf, c->len, old, r->max_head, &at);
    if (v == HEAD_MORE) continue;
    if (v == HEAD_HANDOFF) return handoff(r, c);
    if (v == HEAD_TOO_LARGE) return refuse(r, c, r->too_large, r->too_large_len, NULL);
    c->head_end = at + 4;
    c->st = S_DECIDE;
    c->deadline = NEVER;  // Node decides; its own steps are bounded
    return emit(r, EV_HEAD, c->id, c->listener, (double)at, 0, c->buf, at);
  }
}

// ---- tunnels -------------------------------------------------------------------------------

/** Moves what can move from `src` to `dst`: > 0 progress, 0 none, < 0 -errno. */
static ssize_t pump(struct relay *r, struct flow *f, struct end *src, struct end *dst) {
  ssize_t moved = 0;
  for (;;) {
    if (f->pre_off < f->pre_len) {
      if (!dst->writable) return moved;
      ssize_t n = send(dst->fd, f->pre + f->pre_off, f->pre_len - f->pre_off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return dst->writable = 0, moved;
        return -errno;
      }
      f->pre_off += (size_t)n;
      if (f->pre_counts) f->bytes += (uint64_t)n;
      moved += n;
      if (f->pre_off == f->pre_len && f->pre_owned) {
        free(f->pre_owned);
        f->pre_owned = NULL;
      }
      continue;
    }
    if (f->eof) {
      if (!f->shut) {
        shutdown(dst->fd, SHUT_WR);
        f->shut = 1;
        moved++;
      }
      return moved;
    }
    if (!src->readable) return moved;
    ssize_t n = recv(src->fd, r->scratch, SCRATCH, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return src->readable = 0, moved;
      return -errno;
    }
    if (n == 0) {
      f->eof = 1;
      continue;
    }
    moved += n;
    ssize_t m = dst->writable ? send(dst->fd, r->scratch, (size_t)n, MSG_NOSIGNAL) : 0;
    if (m < 0 && errno != EAGAIN && errno != EINTR) return -errno;
    if (m < 0) m = 0;
    f->bytes += (uint64_t)m;
    if (m == n) continue;
    // The rest waits in a buffer of this direction's own, and nothing more is read until it has
    // gone: what is in flight per direction is at most one read.
    dst->writable = 0;
    f->pre_owned = malloc((size_t)(n - m));
    if (!f->pre_owned) return -ENOMEM;
    memcpy(f->pre_owned, r->scratch + m, (size_t)(n - m));
    f->pre = f->pre_owned;
    f->pre_off = 0;
    f->pre_len = (size_t)(n - m);
    f->pre_counts = 1;
    return moved;
  }
}

static void relay_pump(struct relay *r, struct conn *c) {
  ssize_t a = pump(r, &c->up, &c->client, &c->origin);
  if (a < 0) return finish(r, c, R_ERROR, (int)-a);
  ssize_t b = pump(r, &c->down, &c->origin, &c->client);
  if (b < 0) return finish(r, c, R_ERROR, (int)-b);
  if (c->up.shut && c->down.shut) return finish(r, c, R_END, 0);
  if (a > 0 || b > 0) c->deadline = r->now + r->idle_ms;
}

static void connect_failed(struct relay *r, struct conn *c, int err) {
  close(c->origin.fd);
  c->origin.fd = -1;
  c->st = S_DECIDE;
  c->deadline = NEVER;
  emit(r, EV_FAILED, c->id, 0, (double)err, 0, NULL, 0);
}

static void connected(struct relay *r, struct conn *c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->origin.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err) return connect_failed(r, c, err);
  c->st = S_RELAY;
  c->deadline = r->now + r->idle_ms;
  c->down.pre = c->socks ? SOCKS_OK : r->established;
  c->down.pre_len = c->socks ? sizeof SOCKS_OK : r->established_len;
  c->up.pre = c->buf;  // whatever the client sent after its head goes first
  c->up.pre_off = c->head_end;
  c->up.pre_len = c->len;
  c->up.pre_counts = 1;
  relay_pump(r, c);
}

static void start_tunnel(struct relay *r, struct conn *c, const struct sockaddr_storage *addr, socklen_t alen,
                         uint64_t timeout) {
  int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return emit(r, EV_FAILED, c->id, 0, (double)errno, 0, NULL, 0);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->origin.fd = fd;
  c->origin.readable = c->origin.writable = 0;
  c->st = S_CONNECT;
  c->deadline = r->now + timeout;
  if (connect(fd, (const struct sockaddr *)addr, alen) < 0 && errno != EINPROGRESS)
    return connect_failed(r, c, errno);
  // Registered edge-triggered, the socket reports its state at once if it is already connected.
  if (watch(r, &c->origin) < 0) return connect_failed(r, c, errno);
}

// ---- plain answers: Node writes a GET's or HEAD's response through the relay ----------------

/** What is held for the client, then `data`, in one new buffer of `*out` bytes; NULL: no memory. */
static char *held_and(const struct flow *f, const char *data, size_t len, size_t *out) {
  size_t held = f->pre_len - f->pre_off;
  char *buf = malloc(held + len ? held + len : 1);
  if (!buf) return NULL;
  if (held) memcpy(buf, f->pre + f->pre_off, held);
  if (len) memcpy(buf + held, data, len);
  *out = held + len;
  return buf;
}

/** Holds `buf` (owned, `len` bytes) for the client in place of what was held. */
static void hold(struct flow *f, char *buf, size_t len) {
  free(f->pre_owned);
  f->pre = f->pre_owned = buf;
  f->pre_off = 0;
  f->pre_len = len;
}

/**
 * Sends what is held for the client, then `data`; what the client cannot take at once is held
 * (copied), and Node is told when it has gone (DRAIN). Returns 1 when nothing is held, 0 when
 * something is, -errno on failure.
 */
static int respond_send(struct conn *c, const char *data, size_t len) {
  struct flow *f = &c->down;
  if (len > 0 && (f->pre_off < f->pre_len || !c->client.writable)) {
    // Behind what is already held: appended (Node stops sending once told to wait).
    size_t n;
    char *more = held_and(f, data, len, &n);
    if (!more) return -ENOMEM;
    hold(f, more, n);
    len = 0;
  }
  if (f->pre_off < f->pre_len) {
    ssize_t n = send_now(c, f->pre + f->pre_off, f->pre_len - f->pre_off);
    if (n < 0) return (int)n;
    f->pre_off += (size_t)n;
    f->bytes += (uint64_t)n;
  } else if (len > 0) {
    ssize_t n = send_now(c, data, len);
    if (n < 0) return (int)n;
    f->bytes += (uint64_t)n;
    if ((size_t)n < len) {
      size_t rest;
      char *copy = held_and(f, data + n, len - (size_t)n, &rest);
      if (!copy) return -ENOMEM;
      hold(f, copy, rest);
    }
  }
  if (f->pre_off < f->pre_len) return 0;
  if (f->pre_owned) hold(f, NULL, 0);
  return 1;
}

/** The client can take more: what is held goes, and Node hears once it all has. */
static void respond_pump(struct relay *r, struct conn *c, uint32_t events) {
  // Node has not finished answering: a client that resets, or hangs up both ways, is gone.
  if (events & (EPOLLERR | EPOLLHUP)) return finish(r, c, R_ERROR, 0);
  if (c->down.pre_off == c->down.pre_len || !c->client.writable) return;
  int ok = respond_send(c, NULL, 0);
  if (ok < 0) return finish(r, c, R_ERROR, -ok);
  if (ok) emit(r, EV_DRAIN, c->id, 0, 0, 0, NULL, 0);
}

// ---- the loop ------------------------------------------------------------------------------

static void on_accept(struct relay *r, struct listener *l) {
  for (int i = 0; i < 64 && !r->closing; i++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop accepting for a moment rather than spin on the backlog.
        struct epoll_event ev = {.events = 0, .data.ptr = l};
        epoll_ctl(r->ep, EPOLL_CTL_MOD, l->fd, &ev);
        l->paused_until = r->now + 100;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    if (l->tcp) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    struct conn *c = new_conn(r, take_id(r), l->id, fd);
    if (!c) {
      close(fd);
      continue;
    }
    if (!(c->buf = malloc(r->max_head + 4)) || watch(r, &c->client) < 0) {
      drop(r, c, 0);
      continue;
    }
    c->cap = r->max_head + 4;
    c->st = S_HEAD;
    c->deadline = r->now + r->head_ms;
    head_read(r, c);  // the request is usually there already
  }
}

static void on_end(struct relay *r, struct end *e, uint32_t events) {
  struct conn *c = e->c;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) e->readable = 1;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) e->writable = 1;
  switch (c->st) {
    case S_HEAD:
      if (e == &c->client) head_read(r, c);
      break;
    case S_CONNECT:
      if (e == &c->origin && e->writable) connected(r, c);
      break;
    case S_RELAY:
      relay_pump(r, c);
      break;
    case S_RESPOND:
      respond_pump(r, c, events);
      break;
    case S_LINGER:
      linger_pump(r, c);
      break;
    case S_DECIDE:  // the readiness is remembered for when the tunnel starts
    case S_DEAD:  // dropped earlier in this batch
      break;
  }
}

static void sweep(struct relay *r) {
  for (struct listener *l = r->listeners; l; l = l->next)
    if (l->paused_until && l->paused_until <= r->now) {
      struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
      epoll_ctl(r->ep, EPOLL_CTL_MOD, l->fd, &ev);
      l->paused_until = 0;
    }
  for (struct conn *c = r->conns, *next; c && !r->closing; c = next) {
    next = c->next;  // only `c` can be dropped below: a drop of another waits for a batch
    if (c->deadline > r->now) continue;
    switch (c->st) {
      case S_HEAD:
        if (c->socks) refuse(r, c, SOCKS_FAILED, sizeof SOCKS_FAILED, NULL);
        else refuse(r, c, r->too_slow, r->too_slow_len, NULL);
        break;
      case S_CONNECT:
        connect_failed(r, c, ETIMEDOUT);
        break;
      case S_RELAY:
        finish(r, c, R_IDLE, 0);
        break;
      case S_LINGER:
        drop(r, c, 0);
        break;
      case S_DECIDE:
      case S_RESPOND:  // Node's exchange is bounded by Node's own deadlines
      case S_DEAD:
        break;
    }
  }
}

static void teardown(struct relay *r, int at_exit);

/** The start and end of a batch: queued events delivered, dead connections freed. */
static void enter(struct relay *r) {
  r->depth++;
  r->now = uv_now(r->loop);
}

static void leave(struct relay *r) {
  while (r->evs && !r->closing) {
    struct event *e = r->evs;
    r->evs = e->next;
    if (!r->evs) r->evs_tail = &r->evs;
    call_js(r, e->type, e->id, e->x, e->a, e->b, NULL, 0);
    free(e);
  }
  if (--r->depth > 0) return;
  while (r->dead) {
    struct conn *c = r->dead;
    r->dead = c->next;
    free_conn(c);
  }
  if (r->closing && !r->closed) teardown(r, 0);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)status, (void)events;
  struct relay *r = h->data;
  struct epoll_event evs[BATCH];
  enter(r);
  int n = epoll_wait(r->ep, evs, BATCH, 0);
  for (int i = 0; i < n && !r->closing; i++) {
    int kind = *(int *)evs[i].data.ptr;
    if (kind == K_LISTENER) on_accept(r, evs[i].data.ptr);
    else if (kind == K_END) on_end(r, evs[i].data.ptr, evs[i].events);
    else {
      uint64_t v;
      if (read(r->kick.fd, &v, sizeof v) < 0) { /* another batch took it */
      }
    }
  }
  leave(r);
}

static void on_tick(uv_timer_t *t) {
  struct relay *r = t->data;
  enter(r);
  sweep(r);
  leave(r);
}

static void close_listener(struct relay *r, struct listener *l) {
  epoll_ctl(r->ep, EPOLL_CTL_DEL, l->fd, NULL);
  close(l->fd);
  if (l->path) unlink(l->path);
  free(l->path);
  free(l);
}

static void release(struct relay *r) {
  if (--r->refs > 0) return;
  free(r->established), free(r->too_large), free(r->too_slow);
  free(r);
}

static void handle_closed(uv_handle_t *h) { release(h->data); }

static void env_done(void *data);

/**
 * Closes everything, without events: the proxy has stopped listening to them. At exit (Node's
 * environment going away) its JavaScript references go with it and are not touched.
 */
static void teardown(struct relay *r, int at_exit) {
  r->closing = r->closed = 1;
  while (r->conns) drop(r, r->conns, 0);
  while (r->dead) {
    struct conn *c = r->dead;
    r->dead = c->next;
    free_conn(c);
  }
  while (r->listeners) {
    struct listener *l = r->listeners;
    r->listeners = l->next;
    close_listener(r, l);
  }
  while (r->evs) {
    struct event *e = r->evs;
    r->evs = e->next;
    free(e);
  }
  r->evs_tail = &r->evs;
  uv_close((uv_handle_t *)&r->poll, handle_closed);
  uv_close((uv_handle_t *)&r->timer, handle_closed);
  close(r->ep);
  close(r->kick.fd);
  if (at_exit) return;
  napi_remove_env_cleanup_hook(r->env, env_done, r);
  napi_delete_reference(r->env, r->cb);
  napi_async_destroy(r->env, r->actx);
}

// ---- Node-API ------------------------------------------------------------------------------

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value m, e, code;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_create_int32(env, err, &code);
  napi_set_named_property(env, e, "errno", code);
  napi_throw(env, e);
  return NULL;
}

static napi_value usage(napi_env env, const char *how) {
  napi_throw_type_error(env, NULL, how);
  return NULL;
}

/** The arguments, the first of them the relay: NULL (with a TypeError thrown) when not. */
static struct relay *args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  struct relay *r = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < n ||
      napi_get_value_external(env, argv[0], (void **)&r) != napi_ok || !r) {
    usage(env, "relay: the first argument must be a relay, with every argument given");
    return NULL;
  }
  if (r->closed) {
    napi_throw_error(env, NULL, "relay: closed");
    return NULL;
  }
  return r;
}

/** The connection an id names, when it is in the state a command needs; else NULL. */
static struct conn *find(struct relay *r, napi_env env, napi_value v, int (*ok)(enum state)) {
  uint32_t id;
  if (napi_get_value_uint32(env, v, &id) != napi_ok) return usage(env, "relay: expected a connection id"), NULL;
  struct conn *c = *slot(r, id);
  return c && ok(c->st) ? c : NULL;
}

static int deciding(enum state s) { return s == S_DECIDE; }
static int answering(enum state s) { return s == S_DECIDE || s == S_RESPOND; }
static int held(enum state s) { return s == S_CONNECT || s == S_RELAY || s == S_DECIDE || s == S_RESPOND; }

/** A Buffer argument's bytes (not copied): -1, with a TypeError thrown, when it is not one. */
static int buffer_arg(napi_env env, napi_value v, void **data, size_t *len) {
  bool is;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is || napi_get_buffer_info(env, v, data, len) != napi_ok)
    return usage(env, "relay: expected a Buffer"), -1;
  return 0;
}

static char *copy_buffer(napi_env env, napi_value v, size_t *len) {
  void *data;
  if (buffer_arg(env, v, &data, len) < 0) return NULL;
  char *out = malloc(*len ? *len : 1);
  if (out) memcpy(out, data, *len);
  return out;
}

static int parse_address(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof *a4;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    *len = sizeof *a6;
    return 0;
  }
  return -1;
}

static void handle_done(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  struct relay *r = data;
  if (!r->closed) teardown(r, 1);  // collected without close(): only when Node is shutting down
  release(r);
}

static void env_done(void *data) {
  struct relay *r = data;
  if (!r->closed) teardown(r, 1);
}

static uint64_t get_ms(napi_env env, napi_value obj, const char *name, uint64_t fallback) {
  napi_value v;
  int64_t out;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_get_value_int64(env, v, &out) != napi_ok ||
      out <= 0)
    return fallback;
  return (uint64_t)out;
}

/** open(callback, {maxHeaderBytes, headersTimeoutMs, idleTimeoutMs, tickMs, established, tooLarge, tooSlow}) */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], b, handle;
  napi_valuetype t;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_typeof(env, argv[0], &t) != napi_ok || t != napi_function)
    return usage(env, "relay: open(callback, options)");
  struct relay *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, "relay", ENOMEM);
  r->env = env;
  r->max_head = (size_t)get_ms(env, argv[1], "maxHeaderBytes", 16384);
  r->head_ms = get_ms(env, argv[1], "headersTimeoutMs", 10000);
  r->idle_ms = get_ms(env, argv[1], "idleTimeoutMs", 300000);
  r->tick_ms = get_ms(env, argv[1], "tickMs", 1000);
  if (napi_get_named_property(env, argv[1], "established", &b) != napi_ok ||
      !(r->established = copy_buffer(env, b, &r->established_len)) ||
      napi_get_named_property(env, argv[1], "tooLarge", &b) != napi_ok ||
      !(r->too_large = copy_buffer(env, b, &r->too_large_len)) ||
      napi_get_named_property(env, argv[1], "tooSlow", &b) != napi_ok ||
      !(r->too_slow = copy_buffer(env, b, &r->too_slow_len))) {
    r->refs = 1;
    release(r);
    return NULL;
  }
  r->evs_tail = &r->evs;
  r->ep = epoll_create1(EPOLL_CLOEXEC);
  r->kick = (struct end){K_KICK, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), NULL, 0, 0};
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &r->kick};
  if (r->ep < 0 || r->kick.fd < 0 || epoll_ctl(r->ep, EPOLL_CTL_ADD, r->kick.fd, &ev) < 0 ||
      napi_get_uv_event_loop(env, &r->loop) != napi_ok) {
    int err = errno;
    if (r->ep >= 0) close(r->ep);
    if (r->kick.fd >= 0) close(r->kick.fd);
    r->refs = 1;
    release(r);
    return throw_errno(env, "relay: epoll", err);
  }
  napi_value name;
  napi_create_string_utf8(env, "rampart-relay", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, argv[0], 1, &r->cb);
  napi_async_init(env, NULL, name, &r->actx);
  uv_poll_init(r->loop, &r->poll, r->ep);
  uv_timer_init(r->loop, &r->timer);
  r->poll.data = r->timer.data = r;
  r->refs = 3;
  uv_poll_start(&r->poll, UV_READABLE, on_poll);
  uv_timer_start(&r->timer, on_tick, r->tick_ms, r->tick_ms);
  uv_unref((uv_handle_t *)&r->timer);
  update_ref(r);
  napi_add_env_cleanup_hook(env, env_done, r);
  napi_create_external(env, r, handle_done, NULL, &handle);
  return handle;
}

static struct listener *add_listener(struct relay *r, int fd, int tcp, char *path) {
  struct listener *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  *l = (struct listener){K_LISTENER, fd, take_id(r), tcp, path, 0, r->listeners};
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
  if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) < 0) return free(l), NULL;
  r->listeners = l;
  update_ref(r);
  return l;
}

/** listenTcp(relay, host, port, backlog) -> [listener id, port] */
static napi_value js_listen_tcp(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  struct relay *r = args(env, info, 4, argv);
  if (!r) return NULL;
  char host[64];
  size_t hl;
  int32_t port, backlog;
  struct sockaddr_storage ss;
  socklen_t sl;
  if (napi_get_value_string_utf8(env, argv[1], host, sizeof host, &hl) != napi_ok ||
      napi_get_value_int32(env, argv[2], &port) != napi_ok || napi_get_value_int32(env, argv[3], &backlog) != napi_ok ||
      port < 0 || port > 65535 || parse_address(host, port, &ss, &sl) < 0)
    return usage(env, "relay: listenTcp(relay, numeric address, port, backlog)");
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, backlog) < 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  // The kernel completes the accept only once the request's first bytes are in: one wake-up
  // less per connection, and a client that connects and says nothing never takes a descriptor
  // (the kernel gives up on it after the header deadline).
  int defer = (int)((r->head_ms + 999) / 1000);
  setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
  struct listener *l = add_listener(r, fd, 1, NULL);
  if (!l) return close(fd), throw_errno(env, "relay", ENOMEM);
  uint16_t bound = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                 : ((struct sockaddr_in6 *)&ss)->sin6_port);
  napi_value out, v;
  napi_create_array_with_length(env, 2, &out);
  napi_create_uint32(env, l->id, &v);
  napi_set_element(env, out, 0, v);
  napi_create_uint32(env, bound, &v);
  napi_set_element(env, out, 1, v);
  return out;
}

/** listenUnix(relay, path, backlog) -> listener id */
static napi_value js_listen_unix(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct relay *r = args(env, info, 3, argv);
  if (!r) return NULL;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t pl;
  int32_t backlog;
  if (napi_get_value_string_utf8(env, argv[1], sa.sun_path, sizeof sa.sun_path, &pl) != napi_ok ||
      napi_get_value_int32(env, argv[2], &backlog) != napi_ok || pl == 0 || pl >= sizeof sa.sun_path - 1)
    return usage(env, "relay: listenUnix(relay, path, backlog), the path at most 106 bytes");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, backlog) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  char *path = strdup(sa.sun_path);
  struct listener *l = path ? add_listener(r, fd, 0, path) : NULL;
  if (!l) return free(path), close(fd), unlink(sa.sun_path), throw_errno(env, "relay", ENOMEM);
  napi_value out;
  napi_create_uint32(env, l->id, &out);
  return out;
}

/** unlisten(relay, listener id): closes it (a unix socket's file removed). */
static napi_value js_unlisten(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct relay *r = args(env, info, 2, argv);
  uint32_t id;
  if (!r) return NULL;
  if (napi_get_value_uint32(env, argv[1], &id) != napi_ok) return usage(env, "relay: expected a listener id");
  for (struct listener **p = &r->listeners; *p; p = &(*p)->next)
    if ((*p)->id == id) {
      struct listener *l = *p;
      *p = l->next;
      close_listener(r, l);
      break;
    }
  update_ref(r);
  return NULL;
}

/** The end of a command: what it dropped is freed, unless a batch is under way. */
static void settle(struct relay *r) {
  if (r->depth > 0) return;
  while (r->dead) {
    struct conn *c = r->dead;
    r->dead = c->next;
    free_conn(c);
  }
}

/** tunnel(relay, id, address, port, connectTimeoutMs) */
static napi_value js_tunnel(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  struct relay *r = args(env, info, 5, argv);
  if (!r) return NULL;
  char host[64];
  size_t hl;
  int32_t port;
  int64_t timeout;
  struct sockaddr_storage ss;
  socklen_t sl;
  if (napi_get_value_string_utf8(env, argv[2], host, sizeof host, &hl) != napi_ok ||
      napi_get_value_int32(env, argv[3], &port) != napi_ok || napi_get_value_int64(env, argv[4], &timeout) != napi_ok ||
      port < 1 || port > 65535 || timeout <= 0 || parse_address(host, port, &ss, &sl) < 0)
    return usage(env, "relay: tunnel(relay, id, numeric address (the one checked), port, timeoutMs)");
  struct conn *c = find(r, env, argv[1], deciding);
  r->now = uv_now(r->loop);
  if (c) start_tunnel(r, c, &ss, sl, (uint64_t)timeout);
  settle(r);
  return NULL;
}

/** reject(relay, id, answer: Buffer): the answer written, then the connection closed. */
static napi_value js_reject(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct relay *r = args(env, info, 3, argv);
  if (!r) return NULL;
  struct conn *c = find(r, env, argv[1], deciding);
  if (!c) return NULL;
  size_t len;
  char *answer = copy_buffer(env, argv[2], &len);
  if (!answer) return NULL;
  r->now = uv_now(r->loop);
  refuse(r, c, answer, len, answer);
  settle(r);
  return NULL;
}

/** cut(relay, id): a tunnel, or a connection Node is answering, closed at once; CLOSED follows. */
static napi_value js_cut(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct relay *r = args(env, info, 2, argv);
  if (!r) return NULL;
  struct conn *c = find(r, env, argv[1], held);
  if (c) finish(r, c, R_CUT, 0);
  settle(r);
  return NULL;
}

/**
 * send(relay, id, bytes: Buffer) -> boolean: part of the answer to a GET or HEAD, written to
 * the client; false when some of it is held until the client reads (DRAIN follows), or when the
 * connection has failed (CLOSED follows).
 */
static napi_value js_send(napi_env env, napi_callback_info info) {
  napi_value argv[3], out;
  struct relay *r = args(env, info, 3, argv);
  if (!r) return NULL;
  struct conn *c = find(r, env, argv[1], answering);
  void *data;
  size_t len;
  if (buffer_arg(env, argv[2], &data, &len) < 0) return NULL;
  int ok = 0;
  if (c) {
    r->now = uv_now(r->loop);
    c->st = S_RESPOND;
    ok = respond_send(c, data, len);
    if (ok < 0) finish(r, c, R_ERROR, -ok);
  }
  settle(r);
  napi_get_boolean(env, ok > 0, &out);
  return out;
}

/**
 * end(relay, id, last: Buffer): the rest of the answer; once it has gone, the client's side is
 * shut and the connection closes when the client closes its own (at most 5 s later). Node hears
 * nothing more of it.
 */
static napi_value js_end(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct relay *r = args(env, info, 3, argv);
  if (!r) return NULL;
  struct conn *c = find(r, env, argv[1], answering);
  void *data;
  size_t len;
  if (buffer_arg(env, argv[2], &data, &len) < 0 || !c) return NULL;
  size_t n;
  char *rest = held_and(&c->down, data, len, &n);
  if (!rest) {
    finish(r, c, R_ERROR, ENOMEM);
    settle(r);
    return NULL;
  }
  r->now = uv_now(r->loop);
  refuse(r, c, rest, n, rest);
  settle(r);
  return NULL;
}

/**
 * handoff(relay, id) -> descriptor: a GET or HEAD head Node will not answer itself goes to
 * node:http; the connection is Node's from now on (the bytes read are the head Node has).
 * -1 when the connection is gone.
 */
static napi_value js_handoff(napi_env env, napi_callback_info info) {
  napi_value argv[2], out;
  struct relay *r = args(env, info, 2, argv);
  if (!r) return NULL;
  struct conn *c = find(r, env, argv[1], deciding);
  int fd = c ? release_client(r, c) : -1;
  settle(r);
  napi_create_int32(env, fd, &out);
  return out;
}

/**
 * take(relay, id) -> [descriptor, rest: Buffer] | null: a CONNECT being decided becomes Node's
 * (the egress proxy terminates TLS for an inspected host), with what the client sent after its
 * head (a ClientHello sent before the 200, say). null when the connection is gone.
 */
static napi_value js_take(napi_env env, napi_callback_info info) {
  napi_value argv[2], out, fdv, rest;
  struct relay *r = args(env, info, 2, argv);
  if (!r) return NULL;
  struct conn *c = find(r, env, argv[1], deciding);
  if (!c) {
    settle(r);
    napi_get_null(env, &out);
    return out;
  }
  size_t from = c->head_end <= c->len ? c->head_end : c->len;
  napi_create_buffer_copy(env, c->len - from, c->buf + from, NULL, &rest);
  int fd = release_client(r, c);
  settle(r);
  napi_create_array_with_length(env, 2, &out);
  napi_create_int32(env, fd, &fdv);
  napi_set_element(env, out, 0, fdv);
  napi_set_element(env, out, 1, rest);
  return out;
}

/** adopt(relay, fd, head: Buffer) -> id: a connection Node accepted, its descriptor duplicated. */
static napi_value js_adopt(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct relay *r = args(env, info, 3, argv);
  if (!r) return NULL;
  int32_t fd;
  if (napi_get_value_int32(env, argv[1], &fd) != napi_ok || fd < 0) return usage(env, "relay: expected a descriptor");
  size_t len;
  char *head = copy_buffer(env, argv[2], &len);
  if (!head) return NULL;
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) {
    int err = errno;
    free(head);
    return throw_errno(env, "dup", err);
  }
  fcntl(dup, F_SETFL, fcntl(dup, F_GETFL) | O_NONBLOCK);
  struct conn *c = new_conn(r, take_id(r), 0, dup);
  if (!c) return free(head), close(dup), throw_errno(env, "relay", ENOMEM);
  c->st = S_DECIDE;
  c->buf = head;
  c->len = c->cap = len;
  if (watch(r, &c->client) < 0) {
    int err = errno;
    drop(r, c, 0);
    settle(r);
    return throw_errno(env, "epoll", err);
  }
  napi_value out;
  napi_create_uint32(env, c->id, &out);
  return out;
}

/** close(relay): every connection and listener closed, without events. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct relay *r = args(env, info, 1, argv);
  if (!r) return NULL;
  r->closing = 1;
  if (r->depth == 0) teardown(r, 0);  // else at the end of the batch under way
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"listenTcp", NULL, js_listen_tcp, NULL, NULL, NULL, napi_default, NULL},
      {"listenUnix", NULL, js_listen_unix, NULL, NULL, NULL, napi_default, NULL},
      {"unlisten", NULL, js_unlisten, NULL, NULL, NULL, napi_default, NULL},
      {"tunnel", NULL, js_tunnel, NULL, NULL, NULL, napi_default, NULL},
      {"reject", NULL, js_reject, NULL, NULL, NULL, napi_default, NULL},
      {"cut", NULL, js_cut, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"end", NULL, js_end, NULL, NULL, NULL, napi_default, NULL},
      {"handoff", NULL, js_handoff, NULL, NULL, NULL, napi_default, NULL},
      {"take", NULL, js_take, NULL, NULL, NULL, napi_default, NULL},
      {"adopt", NULL, js_adopt, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(rampart_relay, init)

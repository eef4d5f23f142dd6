// libFuzzer harness for the relay's framing of hostile bytes (src/egress/framing.h): request heads
// and SOCKS5 handshakes. Built with clang -fsanitize=fuzzer,address by scripts/fuzz.sh.
//
// Besides memory safety (ASan), it checks that the framing does not depend on how the bytes
// arrive: the input is fed once whole and once split where its first byte says, as recv()
// would cut it, and both must reach the same verdict at the same offsets (a malformed SOCKS5
// request, which ends where reading stopped, excepted), with every offset inside what was read.
#define _GNU_SOURCE  // memmem, as in relay.c
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/egress/framing.h"

#define MAX_HEAD 16384

struct outcome {
  int kind;  // head verdict, or 100 + socks action at the end
  size_t a, b, c;
};

static void check(int ok) {
  if (!ok) abort();
}

static struct outcome head(const char *buf, size_t len, size_t step) {
  struct outcome o = {HEAD_MORE, 0, 0, 0};
  size_t old = 0;
  for (size_t have = step < len ? step : len; have > 0; have = have + step < len ? have + step : len) {
    size_t at = 0;
    enum head_verdict v = frame_head(buf, have, old, MAX_HEAD, &at);
    if (v != HEAD_MORE) {
      if (v == HEAD_DONE || v == HEAD_TOO_LARGE) check(at + 4 <= have);
      o.kind = v;
      o.a = v == HEAD_HANDOFF ? 0 : at;
      return o;
    }
    old = have;
    if (have == len) break;
  }
  return o;
}

static struct outcome socks(const unsigned char *buf, size_t len, size_t step) {
  struct socks_state st = {SOCKS_GREETING, 0, 0};
  struct outcome o = {100 + SOCKS_MORE, 0, 0, 0};
  for (size_t have = step < len ? step : len; have > 0; have = have + step < len ? have + step : len) {
    for (;;) {
      char reply[2];
      size_t at = 0;
      enum socks_action a = socks_step(buf, have, &st, reply, &at);
      check(st.head_end <= have);
      if (a == SOCKS_MORE) break;
      if (a == SOCKS_REPLY) continue;
      o.kind = 100 + a;
      o.a = st.head_end;
      o.b = a == SOCKS_REQUEST_IN ? at : 0;
      o.c = st.auth_at;
      if (a == SOCKS_REQUEST_IN) {
        check(at <= st.head_end && st.auth_at <= at);
        // A malformed request (not version 5, an unknown address type) ends where the reading
        // stopped, which depends on how the bytes arrived: Node refuses it either way.
        const unsigned char *q = buf + at;
        if (q[0] != 5 || (q[3] != 1 && q[3] != 3 && q[3] != 4)) o.a = 0;
      }
      return o;
    }
    if (have == len) break;
  }
  return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t step = 1 + data[0] % 17;
  // A copy of exactly the input's size, so ASan sees any read past what was received.
  size_t len = size - 1;
  char *buf = malloc(len);
  memcpy(buf, data + 1, len);
  if ((unsigned char)buf[0] == 5) {
    struct outcome whole = socks((unsigned char *)buf, len, len);
    struct outcome cut = socks((unsigned char *)buf, len, step);
    check(whole.kind == cut.kind && whole.a == cut.a && whole.b == cut.b && whole.c == cut.c);
  } else {
    struct outcome whole = head(buf, len, len);
    struct outcome cut = head(buf, len, step);
    // A pipelined GET seen whole is handed off; seen in pieces, its head may end first: both are
    // right for what was read at the time, so only heads that end at the same place compare.
    if (!(whole.kind == HEAD_HANDOFF && cut.kind == HEAD_DONE))
      check(whole.kind == cut.kind && whole.a == cut.a);
  }
  free(buf);
  return 0;
}

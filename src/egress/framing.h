// The relay's reading of hostile bytes, as pure functions: where a request head ends, and how a
// SOCKS5 handshake moves on. They touch nothing but the bytes given, so the same code is built
// into the relay (relay.c) and into a libFuzzer harness (test/fuzz/relay_framing.c) that runs
// them under AddressSanitizer on every input it can find.
#ifndef RAMPART_FRAMING_H
#define RAMPART_FRAMING_H

#include <stddef.h>
#include <string.h>

/** The requests whose head the relay reads: a CONNECT, and a GET or HEAD that Node may answer here. */
static const char *const FRAMED[] = {"CONNECT ", "GET ", "HEAD "};

/** Whether the bytes so far begin (or could still begin) a framed request. */
static inline int framed(const char *buf, size_t len) {
  for (size_t i = 0; i < sizeof FRAMED / sizeof FRAMED[0]; i++) {
    size_t w = strlen(FRAMED[i]);
    if (memcmp(buf, FRAMED[i], len < w ? len : w) == 0) return 1;
  }
  return 0;
}

enum head_verdict {
  HEAD_MORE,       // the head has not ended yet: read more
  HEAD_HANDOFF,    // not a framed request (or a pipelined GET/HEAD): Node takes the connection
  HEAD_TOO_LARGE,  // the head ends past max_head
  HEAD_DONE,       // the head ends at *at (its CRLF CRLF starts there)
};

/**
 * Where a request head in buf[0, len) ends. `old` bytes had been looked at before (the search
 * resumes three bytes back, where a CRLF CRLF could have begun). len >= 1.
 */
static inline enum head_verdict frame_head(const char *buf, size_t len, size_t old, size_t max_head, size_t *at) {
  if (!framed(buf, len)) return HEAD_HANDOFF;
  size_t from = old > 3 ? old - 3 : 0;
  if (from >= len) return HEAD_MORE;
  const char *end = memmem(buf + from, len - from, "\r\n\r\n", 4);
  if (!end) return HEAD_MORE;
  *at = (size_t)(end - buf);
  if (*at > max_head) return HEAD_TOO_LARGE;
  // A GET or HEAD followed by more bytes is a pipelined pair: node:http answers those in turn.
  if (buf[0] != 'C' && len > *at + 4) return HEAD_HANDOFF;
  return HEAD_DONE;
}

/** Where a SOCKS5 client is in its handshake (RFC 1928, and RFC 1929's username and password). */
enum socks_phase { SOCKS_NONE, SOCKS_GREETING, SOCKS_AUTH, SOCKS_REQUEST, SOCKS_DONE };

struct socks_state {
  enum socks_phase phase;
  /** Where the next message begins. */
  size_t head_end;
  /** Where the username and password message began (0: none was sent). */
  size_t auth_at;
};

enum socks_action {
  SOCKS_MORE,      // the message is not complete: read more
  SOCKS_REPLY,     // send reply[0..2) and step again
  SOCKS_REFUSE,    // send reply[0..2) and close
  SOCKS_REQUEST_IN // the request is in: buf[*request_at, head_end) for Node to parse and decide
};

/**
 * Moves a handshake on by one message of buf[head_end, len). The method chosen is username and
 * password when offered, else none; the password is not checked here (Node decides). A
 * malformed request (not version 5, an unknown address type) is Node's to refuse, with a reason
 * in the record: its length is then what was read.
 */
static inline enum socks_action socks_step(const unsigned char *buf, size_t len, struct socks_state *st,
                                           char reply[2], size_t *request_at) {
  const unsigned char *b = buf + st->head_end;
  size_t n = len - st->head_end;
  if (st->phase == SOCKS_GREETING) {
    if (n < 2 || n < 2u + b[1]) return SOCKS_MORE;
    int user = 0, none = 0;
    for (size_t i = 0; i < b[1]; i++) user |= b[2 + i] == 2, none |= b[2 + i] == 0;
    reply[0] = 5;
    if (!user && !none) {
      reply[1] = (char)0xff;
      return SOCKS_REFUSE;
    }
    reply[1] = user ? 2 : 0;
    st->head_end += 2u + b[1];
    st->phase = user ? SOCKS_AUTH : SOCKS_REQUEST;
    return SOCKS_REPLY;
  }
  if (st->phase == SOCKS_AUTH) {
    if (n < 2) return SOCKS_MORE;
    reply[0] = 1;
    if (b[0] != 1) {
      reply[1] = 1;
      return SOCKS_REFUSE;
    }
    if (n < 3u + b[1] || n < 3u + b[1] + b[2 + b[1]]) return SOCKS_MORE;
    reply[1] = 0;
    st->auth_at = st->head_end;
    st->head_end += 3u + b[1] + b[2 + b[1]];
    st->phase = SOCKS_REQUEST;
    return SOCKS_REPLY;
  }
  if (n < 5) return SOCKS_MORE;
  size_t alen = b[3] == 1 ? 4 : b[3] == 4 ? 16 : b[3] == 3 ? 1u + b[4] : 0;
  if (b[0] == 5 && alen > 0 && n < 4 + alen + 2) return SOCKS_MORE;
  *request_at = st->head_end;
  st->head_end = b[0] == 5 && alen > 0 ? st->head_end + 4 + alen + 2 : len;
  st->phase = SOCKS_DONE;
  return SOCKS_REQUEST_IN;
}

#endif

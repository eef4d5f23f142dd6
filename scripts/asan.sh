#!/usr/bin/env bash
# The native relay (src/egress/relay.c) under AddressSanitizer: the egress tests, run against a
# build of the relay with ASan, the sanitizer's runtime preloaded into Node. Any out-of-bounds
# access, use after free or double free in the relay fails the run, naming the line.
#
#   npm run build && bash scripts/asan.sh
#
# Why: the relay is C that reads hostile bytes and frees connections while JavaScript may call
# back in; the tests exercise those paths, and ASan makes a mistake in them loud instead of
# silent. Leaks are not checked (Node itself keeps memory until exit). The normal build of the
# relay is put back afterwards, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

cc=${CC:-cc}
runtime=$("$cc" -print-file-name=libasan.so)
if [ ! -f "$runtime" ]; then
  echo "asan: the AddressSanitizer runtime ($runtime) is not installed (Debian: libasan8)" >&2
  exit 1
fi
include="${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}/include/node"
addon=dist/rampart-relay.node
[ -f "$addon" ] || { echo "asan: $addon is missing: run npm run build first" >&2; exit 1; }

saved=$(mktemp)
cp "$addon" "$saved"
trap 'cp "$saved" "$addon"; rm -f "$saved"' EXIT
"$cc" -shared -fPIC -O1 -g -fsanitize=address -fno-omit-frame-pointer -std=gnu11 -Wall -Wextra -Werror \
  -I"$include" -o "$addon" src/egress/relay.c

LD_PRELOAD="$runtime" ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=86 \
  node --test build/test/egress/relay.test.js build/test/egress/tunnel.test.js \
  build/test/egress/plain.test.js build/test/egress/proxy.test.js build/test/egress/server.test.js \
  build/test/egress/standalone.test.js build/test/egress/socks.test.js

#!/usr/bin/env bash
# Fuzzes the native relay's framing of hostile bytes (src/egress/framing.h: request heads and
# SOCKS5 handshakes) with libFuzzer under AddressSanitizer, from the seed corpus in
# test/fuzz/corpus/relay-framing, for a bounded time. Exit 0 when nothing was found; a crash
# leaves its input in test/fuzz/crash-* and fails.
#
#   bash scripts/fuzz.sh [SECONDS]     (default 60; CI runs it on every change)
#
# Needs clang with libFuzzer (Debian: clang and libclang-rt-dev, or clang-14 and libclang-rt-14-dev).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
clang=${CLANG:-$(command -v clang || command -v clang-14 || true)}
if [ -z "$clang" ]; then
  echo "fuzz: clang is not installed (Debian: clang)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$clang" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -std=gnu11 -Wall -Wextra -Werror \
  -o "$work/relay_framing" test/fuzz/relay_framing.c
# The seed corpus stays as committed; what the fuzzer finds is kept only for this run.
cp test/fuzz/corpus/relay-framing/* "$work/" 2>/dev/null || true
mkdir -p "$work/corpus"
cp test/fuzz/corpus/relay-framing/* "$work/corpus/"
"$work/relay_framing" -max_total_time="$seconds" -max_len=20000 -artifact_prefix=test/fuzz/ \
  -print_final_stats=1 "$work/corpus" 2>&1 | tail -n 25

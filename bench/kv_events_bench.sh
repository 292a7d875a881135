#!/usr/bin/env bash
# Precise prefix-cache benchmark (bench/kv_events_bench.c): KV-event ingest rate per core (decode
# alone and decode + index apply), a 32k-token lookup over 256 endpoints, memory per block entry.
#   bash bench/kv_events_bench.sh [ROUNDS]   (BUILD=dir selects the build directory, default build)
# Not a test: prints numbers, never fails on a time.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/libswitchyard.a"
PKGS="libuv libcjson yaml-0.1 libxxhash libzmq msgpack libpcre2-8"
# shellcheck disable=SC2046
gcc -std=c17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Isrc -o "$BUILD/kv_events_bench" \
    bench/kv_events_bench.c "$BUILD/libswitchyard.a" $(pkg-config --cflags --libs $PKGS) -lm -pthread
"$BUILD/kv_events_bench" "${1:-${ROUNDS:-8}}"

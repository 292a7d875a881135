#!/usr/bin/env bash
# Scheduler decision-time benchmark (bench/sched_bench.c): p50/p99 of one scheduling decision for
# 8/64/256 endpoints x 1k/32k/128k-token prompts, llm-d's default config beside round-robin.
#   bash bench/sched_bench.sh [ITERS]        (BUILD=dir selects the build directory, default build)
# Not a test: prints numbers, never fails on a time.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/libswitchyard.a"
PKGS="libuv libcjson yaml-0.1 libxxhash libzmq msgpack libpcre2-8"
# shellcheck disable=SC2046
gcc -std=c17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Isrc -o "$BUILD/sched_bench" bench/sched_bench.c \
    "$BUILD/libswitchyard.a" $(pkg-config --cflags --libs $PKGS) -lm -pthread
"$BUILD/sched_bench" "${1:-${ITERS:-2000}}"

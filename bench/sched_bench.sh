#!/usr/bin/env bash
# Scheduler decision-time benchmark (bench/sched_bench.c): p50/p99 of one scheduling decision for
# 8/64/256 endpoints x 1k/32k/128k-token prompts, llm-d's default config beside round-robin.
#   bash bench/sched_bench.sh [ITERS]        (BUILD=dir selects the build directory, default build)
# Not a test: prints numbers, never fails on a time.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/sched_bench"
"$BUILD/sched_bench" "${1:-${ITERS:-2000}}"

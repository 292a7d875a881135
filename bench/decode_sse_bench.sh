#!/usr/bin/env bash
# Per-event cost of counting streamed tokens (bench/decode_sse_bench.c): the proxy's existing
# "usage" scan, the counter as first merged (baseline) and sy_decode_sse_tokens, in one run.
#   bash bench/decode_sse_bench.sh    (BUILD=dir selects the build directory, default build)
# Not a test: prints numbers, never fails on a time.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/decode_sse_bench"
"$BUILD/decode_sse_bench"

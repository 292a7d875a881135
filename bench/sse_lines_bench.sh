#!/usr/bin/env bash
# Per-byte cost of the SSE event splitter (bench/sse_lines_bench.c): a vLLM-like stream and an
# endless truncated event of short data lines.
#   bash bench/sse_lines_bench.sh    (BUILD=dir selects the build directory, default build)
# Not a test: prints numbers, never fails on a time.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/sse_lines_bench"
"$BUILD/sse_lines_bench"

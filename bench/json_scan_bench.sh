#!/usr/bin/env bash
# Request-body validation benchmark (bench/json_scan_bench.c): the gateway's validating scan
# against a memchr floor and cJSON on 2 KB, 32 KB and 220 KB chat bodies: plain, escape-dense, and
# code (this repository's C sources as the prompt).
#   bash bench/json_scan_bench.sh [ITERS]    (BUILD=dir selects the build directory, default build)
# Not a test: prints numbers, never fails on a time.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/json_scan_bench"
CODE=$(mktemp)
trap 'rm -f "$CODE"' EXIT
cat src/*/*.c >"$CODE"
"$BUILD/json_scan_bench" "${1:-${ITERS:-2000}}" "$CODE"

#!/usr/bin/env bash
# Flow-control overhead per request at 10,000 queued requests (bench/flow_bench.c), gate off
# beside gate on, in one run.   bash bench/flow_bench.sh [STEPS]
# Not a test: prints numbers, never fails on a time.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/flow_bench"
"$BUILD/flow_bench" "${1:-${STEPS:-20000}}"

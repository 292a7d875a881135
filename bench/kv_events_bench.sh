#!/usr/bin/env bash
# Precise prefix-cache benchmark (bench/kv_events_bench.c): KV-event ingest rate per core (decode
# alone and decode + index apply), a 32k-token lookup over 256 endpoints, memory per block entry.
#   bash bench/kv_events_bench.sh [ROUNDS]   (BUILD=dir selects the build directory, default build)
# Not a test: prints numbers, never fails on a time.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/kv_events_bench"
"$BUILD/kv_events_bench" "${1:-${ROUNDS:-8}}"

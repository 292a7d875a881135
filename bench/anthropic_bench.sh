#!/usr/bin/env bash
# Anthropic Messages body benchmark (bench/anthropic_bench.c): the gateway's Messages parse beside
# the chat parse of the same conversation, cJSON, and the conversion to a chat request.
#   bash bench/anthropic_bench.sh [ITERS]    (BUILD=dir selects the build directory, default build)
# Not a test: prints numbers, never fails on a time.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/anthropic_bench"
"$BUILD/anthropic_bench" "${1:-${ITERS:-1000}}"

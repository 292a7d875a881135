#!/usr/bin/env bash
# SLO routing benchmark (docs/slo-scheduling.md): llm-d's default weights, other heuristic
# weightings and predicted-latency scheduling on a virtual-time heterogeneous simulated fleet with
# the real scheduler (bench/slo_routing_bench.c).
#   bash bench/slo_routing.sh [RATE] [SECONDS] [capacity|queued|prefix|heavy]   (BUILD=dir selects the build dir)
# Not a test: prints numbers, never fails on them.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/slo_routing_bench"
"$BUILD/slo_routing_bench" "${1:-100}" "${2:-60}" "${3:-capacity}"
